"""``ensemble``: soft or hard voting, or stacking, over finished runs (the blog's last rung, and the next).

Soft voting averages the members' class probabilities (weighted; greedy selection's weights are
how often each member was picked); hard voting counts each member's argmax as a (weighted) vote,
breaks ties by the summed probabilities, and reports the vote shares as its probabilities.
Stacking feeds the members' log-probabilities to a multinomial logistic regression (the
meta-learner, :class:`Stacker`), fitted by :func:`textladder.ensembles.build` on out-of-fold or
validation predictions, never on test. An ensemble is built from finished runs by
:func:`textladder.ensembles.build` (``textladder ensemble``), never trained; its ``model/`` folder
holds every member's model folder (``members/RUN_NAME/``, each describing itself; its files hard
links to the member run's, so they take no more disk, and still there when the member run is
deleted), so it loads, predicts and serves on its own. This module reads model folders only, never run folders.

Example:
    >>> import numpy as np
    >>> a = np.array([[0.6, 0.4], [0.2, 0.8]]); b = np.array([[0.3, 0.7], [0.1, 0.9]])
    >>> combine([a, b], "soft").round(2).tolist()
    [[0.45, 0.55], [0.15, 0.85]]
    >>> combine([a, b], "hard").argmax(axis=1).tolist()  # row 0: one vote each, the probabilities decide
    [1, 1]
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, model_validator

from textladder.choices import TRAINER_KEYS, VOTES, Vote, check
from textladder.errors import RunError, TextladderError
from textladder.files import verify_checksums
from textladder.layout import CONFIG, LABELS, MODEL_DIR
from textladder.models.base import RUNG_FILE, Params, TextClassifier, checked_proba, params_error
from textladder.models.registry import get, load_folder, register

MEMBERS = "members"  # model/members/RUN_NAME/: a copy of the member's model folder


class EnsembleParams(Params):
    members: list[str] = Field(default_factory=list, description="run names of the members, in order")
    vote: Vote = Field("soft", description="soft: mean probability; hard: majority of argmaxes; stack: a logistic "
                                           "regression on the members' log-probabilities")
    weights: list[float] | None = Field(None, description="one positive weight per member (default: equal)")
    calibrated_members: bool = Field(True, description="combine the members' calibrated probabilities (false: "
                                                       "their own, as built with --no-calibration)")

    @model_validator(mode="after")
    def _check(self):
        for name in self.members:  # each is a folder inside the ensemble's own model/members/
            if not name or name in (".", "..") or name.startswith(".") or "/" in name or "\\" in name \
                    or "\x00" in name:
                raise ValueError(f"member '{name}' is not a plain run name (members are folders inside the "
                                 "ensemble's own model/members/)")
        if self.weights is not None:
            if len(self.weights) != len(self.members):
                raise ValueError(f"{len(self.weights)} weights for {len(self.members)} members")
            if any(w <= 0 for w in self.weights):
                raise ValueError("weights must be positive")
        return self


STACK_FILE = "stack.json"  # model/stack.json: the meta-learner's coefficients (vote "stack")


def stack_features(probas: list[np.ndarray]) -> np.ndarray:
    """The meta-learner's input: each member's log-probabilities (clipped at 1e-6), side by side."""
    return np.hstack([np.log(np.clip(p.astype(np.float64), 1e-6, 1.0)) for p in probas])


@dataclass
class Stacker:
    """The stacking meta-learner: a multinomial logistic regression over :func:`stack_features` with one
    weight per member (shared by every class) and one intercept per class, i.e. a weighted log-linear pool
    ``p(c) ∝ exp(b_c + Σ_m w_m log p_m(c))``, fitted by L-BFGS on the cross-entropy (a small L2 on the
    intercepts). A full multinomial regression (a coefficient per member, class and output class) has
    classes² x members coefficients: on 40 classes and 2,000 validation rows it overfits and scores
    below plain soft voting (docs/BENCHMARKS.md "The auto ladder"). Kept as plain numbers (JSON), as
    the equivalent full coefficient matrix.

    Example:
        >>> a = np.array([[0.9, 0.1], [0.2, 0.8]] * 10); b = np.array([[0.6, 0.4], [0.4, 0.6]] * 10)
        >>> s = Stacker.fit([a, b], np.array([0, 1] * 10))
        >>> s.predict_proba([a[:2], b[:2]]).argmax(axis=1).tolist()
        [0, 1]
    """

    coef: np.ndarray  # classes x (members * classes)
    intercept: np.ndarray  # classes

    L2: ClassVar[float] = 1e-3

    @classmethod
    def fit(cls, probas: list[np.ndarray], y: np.ndarray, n_classes: int | None = None) -> Stacker:
        from scipy.optimize import minimize
        from scipy.special import logsumexp

        n_classes = n_classes or probas[0].shape[1]
        F = np.stack([np.log(np.clip(p.astype(np.float64), 1e-6, 1.0)) for p in probas])  # members x rows x classes
        M, n, _ = F.shape
        Y = np.eye(n_classes)[y]

        def loss(theta):
            w, b = theta[:M], theta[M:]
            z = np.einsum("m,mnc->nc", w, F) + b
            lse = logsumexp(z, axis=1, keepdims=True)
            d = (np.exp(z - lse) - Y) / n
            value = -(Y * (z - lse)).sum() / n + cls.L2 * (b @ b)
            return value, np.concatenate([np.einsum("nc,mnc->m", d, F), d.sum(axis=0) + 2 * cls.L2 * b])

        start = np.concatenate([np.full(M, 1.0 / M), np.zeros(n_classes)])
        theta = minimize(loss, start, jac=True, method="L-BFGS-B").x
        coef = np.zeros((n_classes, M * n_classes))
        for m in range(M):
            coef[np.arange(n_classes), m * n_classes + np.arange(n_classes)] = theta[m]
        return cls(coef, theta[M:])

    def predict_proba(self, probas: list[np.ndarray]) -> np.ndarray:
        z = stack_features(probas) @ self.coef.T + self.intercept
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def to_json(self) -> dict:
        return {"kind": "multinomial logistic regression on log-probabilities (one weight per member)", "l2": self.L2,
                "coef": self.coef.tolist(), "intercept": self.intercept.tolist()}

    @classmethod
    def from_json(cls, data: dict, n_features: int, n_classes: int) -> Stacker:
        coef = np.asarray(data["coef"], dtype=np.float64)
        intercept = np.asarray(data["intercept"], dtype=np.float64)
        if coef.shape != (n_classes, n_features) or intercept.shape != (n_classes,) \
                or not (np.isfinite(coef).all() and np.isfinite(intercept).all()):
            raise ValueError(f"coefficients of shape {coef.shape} for {n_classes} classes of {n_features} inputs")
        return cls(coef, intercept)


def combine(probas: list[np.ndarray], vote: str = "soft", weights: list[float] | None = None,
            stacker: Stacker | None = None) -> np.ndarray:
    """Combine the members' probabilities (each rows x classes) into the ensemble's."""
    check(vote, VOTES, "vote")
    if vote == "stack":
        if stacker is None:
            raise TextladderError("stacking needs a fitted meta-learner")
        return stacker.predict_proba(probas)
    w = np.ones(len(probas)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    soft = sum(wi * p.astype(np.float64) for wi, p in zip(w, probas))
    if vote == "soft":
        return soft
    votes = np.zeros_like(soft)
    rows = np.arange(len(soft))
    for wi, p in zip(w, probas):
        np.add.at(votes, (rows, p.argmax(axis=1)), wi)
    top = votes >= votes.max(axis=1, keepdims=True) - 1e-12
    winner = np.where(top, soft, -np.inf).argmax(axis=1)  # ties: the larger summed probability
    tied = votes.argmax(axis=1) != winner
    votes[rows[tied], winner[tied]] += 1e-9  # so that argmax of the shares is the winner
    return votes / votes.sum(axis=1, keepdims=True)


@register("ensemble")
class Ensemble(TextClassifier):
    """Soft or hard voting, or stacking, over trained models; built with ``textladder ensemble``."""

    family = "ensemble"
    train_cost = (3.0, 0.1, 0.0)  # scoring the members on validation and test: the quick ladder's, 8 s each

    Params: ClassVar = EnsembleParams
    supports_features = True  # the members read what they were trained with

    def __init__(self, params: EnsembleParams | None = None, **overrides):
        super().__init__(params, **overrides)
        self.members_: list[TextClassifier] = []
        self.sources_: list[Path] = []  # the members' model folders, copied into model/members when saved
        self.stacker_: Stacker | None = None  # vote "stack": the meta-learner

    @classmethod
    def of(cls, models: list[TextClassifier], folders: list[Path], names: list[str], vote: str = "soft",
           weights: list[float] | None = None, stacker: Stacker | None = None,
           calibrated_members: bool = True) -> Ensemble:
        """An ensemble of fitted ``models`` saved in ``folders`` (copied when the ensemble is saved),
        called ``names``; they must share their classes. ``vote="stack"`` takes a fitted ``stacker``;
        ``calibrated_members=False`` combines the members' own probabilities, their temperatures left out."""
        model = cls(EnsembleParams(members=list(names), vote=vote, weights=weights,
                                   calibrated_members=calibrated_members))
        for m in models:
            m.calibration = calibrated_members
        model.members_, model.sources_ = list(models), [Path(f) for f in folders]
        model.stacker_ = stacker
        model.classes_ = np.asarray(models[0].classes_, dtype=object)
        return model

    def _fit(self, X, y, X_val=None, y_val=None):
        raise TextladderError("an ensemble is not trained: build one from finished runs "
                              "(textladder.ensembles.build, or the 'ensemble' command)")

    def member_probas(self, X: pd.DataFrame) -> list[np.ndarray]:
        """Each member's probabilities of ``X``, in member order (each checked: finite, summing to 1)."""
        return [checked_proba(m, X, len(self.classes_)) for m in self.members_]

    def prepare_to_serve(self) -> None:
        for m in self.members_:
            m.prepare_to_serve()

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return combine(self.member_probas(X), self.params.vote, self.params.weights, self.stacker_)

    def _save(self, folder: Path) -> None:
        for name, source, member in zip(self.params.members, self.sources_, self.members_):
            dest = Path(folder) / MEMBERS / name
            shutil.copytree(source, dest, copy_function=_link_or_copy)
            if not (dest / RUNG_FILE).is_file():  # a member from before model folders described themselves
                member.describe(dest)
        if self.params.vote == "stack":
            (Path(folder) / STACK_FILE).write_text(json.dumps(self.stacker_.to_json()), encoding="utf-8")

    def _load(self, folder: Path) -> None:
        root = (Path(folder) / MEMBERS).resolve()
        self.sources_ = []
        for name in self.params.members:
            path = (root / name).resolve()
            if path.parent != root or not path.is_dir():
                raise RunError(f"{Path(folder) / MEMBERS / name}: ensemble member missing (members must be "
                               "folders inside the ensemble's own model/members/)")
            self.sources_.append(path)
        self.members_ = [load_folder(p, self.runtime) if (p / RUNG_FILE).is_file() else _legacy_member(p, self.runtime)
                         for p in self.sources_]
        for m in self.members_:
            m.calibration = self.params.calibrated_members
        if not len(self.classes_) and self.members_:
            self.classes_ = np.asarray(self.members_[0].classes_, dtype=object)
        if self.params.vote == "stack":
            path = Path(folder) / STACK_FILE
            n = len(self.classes_)
            try:
                self.stacker_ = Stacker.from_json(json.loads(path.read_text(encoding="utf-8")), n * len(self.members_), n)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise RunError(f"{path}: unreadable meta-learner ({exc})") from None


def _link_or_copy(source: str, dest: str) -> None:
    """A member's file, stored once: a hard link to the member run's own file where the file system allows
    (the same runs folder), else a copy. Run files are never changed in place (every write replaces a
    file whole), so a link is as safe as a copy, and deleting the member run leaves the ensemble's link."""
    import os

    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)


def _legacy_member(folder: Path, runtime: str) -> TextClassifier:
    """A member copied by textladder before model folders described themselves: the run's ``config.json``
    and ``labels.json`` beside its ``model/`` (read as plain JSON; checked like any model folder)."""
    import json

    try:
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
        classes = json.loads((folder / LABELS).read_text(encoding="utf-8"))["classes"]
        cls = get(config["model"])
    except Exception as exc:  # noqa: BLE001 - any damage is the same problem for the user
        raise RunError(f"{folder}: unreadable ensemble member ({exc})") from None
    verify_checksums(folder / MODEL_DIR)
    try:
        params = cls.Params(**{k: v for k, v in dict(config.get("params") or {}).items() if k not in TRAINER_KEYS})
    except ValidationError as exc:
        raise RunError(f"{folder / CONFIG}: {params_error(cls, exc)}") from None
    except (TypeError, ValueError) as exc:
        raise RunError(f"{folder / CONFIG}: unreadable parameters ({exc})") from None
    return cls.load(folder / MODEL_DIR, params, classes=classes, features=config.get("features") or (), runtime=runtime)
