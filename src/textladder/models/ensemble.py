"""``ensemble``: soft or hard voting over finished runs (the blog's last rung).

Soft voting averages the members' class probabilities (weighted); hard voting counts each
member's argmax as a (weighted) vote, breaks ties by the summed probabilities, and reports the
vote shares as its probabilities. An ensemble is built from finished runs by
:func:`textladder.ensemble.build` (``textladder ensemble``), never trained; its run folder holds a
copy of every member (config, labels and model), so it loads, predicts and serves on its own.

Example:
    >>> import numpy as np
    >>> a = np.array([[0.6, 0.4], [0.2, 0.8]]); b = np.array([[0.3, 0.7], [0.1, 0.9]])
    >>> combine([a, b], "soft").round(2).tolist()
    [[0.45, 0.55], [0.15, 0.85]]
    >>> combine([a, b], "hard").argmax(axis=1).tolist()  # row 0: one vote each, the probabilities decide
    [1, 1]
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from textladder.errors import RunError, TextladderError
from textladder.models.base import Params, TextClassifier, checked_proba
from textladder.models.registry import register

VOTES = ("soft", "hard")
MEMBERS = "members"  # model/members/RUN_NAME/{config.json, labels.json, model/}


class EnsembleParams(Params):
    members: list[str] = Field(default_factory=list, description="run names of the members, in order")
    vote: Literal["soft", "hard"] = Field("soft", description="soft: mean probability; hard: majority of argmaxes")
    weights: list[float] | None = Field(None, description="one positive weight per member (default: equal)")

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


def combine(probas: list[np.ndarray], vote: str = "soft", weights: list[float] | None = None) -> np.ndarray:
    """Combine the members' probabilities (each rows x classes) into the ensemble's."""
    if vote not in VOTES:
        raise TextladderError(f"--vote must be one of {', '.join(VOTES)}, not '{vote}'")
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
    """Soft or hard voting over the models of finished runs; built with ``textladder ensemble``."""

    Params: ClassVar = EnsembleParams

    def __init__(self, params: EnsembleParams | None = None, **overrides):
        super().__init__(params, **overrides)
        self.members_: list[TextClassifier] = []
        self.sources_: list[Path] = []  # run folders to copy into model/members when saved
        self.classes_: list[str] = []  # the members' shared class names

    @classmethod
    def from_runs(cls, runs, vote: str = "soft", weights: list[float] | None = None) -> Ensemble:
        """An ensemble of finished :class:`~textladder.runs.Run` objects (their models are loaded)."""
        model = cls(EnsembleParams(members=[r.name for r in runs], vote=vote, weights=weights))
        model.members_ = [r.load_model() for r in runs]
        model.sources_ = [r.path for r in runs]
        model.classes_ = runs[0].classes if runs else []
        return model

    def fit(self, X, y, X_val=None, y_val=None):
        raise TextladderError("an ensemble is not trained: build one from finished runs with "
                              "'textladder ensemble RUN RUN ... --out RUNS_DIR'")

    def member_probas(self, X: pd.DataFrame) -> list[np.ndarray]:
        """Each member's probabilities of ``X``, in member order (each checked: finite, summing to 1)."""
        return [checked_proba(m, X, len(self.classes_)) for m in self.members_]

    def prepare_to_serve(self) -> None:
        for m in self.members_:
            m.prepare_to_serve()

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return combine(self.member_probas(X), self.params.vote, self.params.weights)

    def save(self, folder: Path) -> None:
        from textladder.runs import CONFIG, LABELS, MODEL_DIR

        for name, source in zip(self.params.members, self.sources_):
            dest = Path(folder) / MEMBERS / name
            dest.mkdir(parents=True)
            for f in (CONFIG, LABELS):
                shutil.copy2(source / f, dest / f)
            shutil.copytree(source / MODEL_DIR, dest / MODEL_DIR)

    @classmethod
    def load(cls, folder: Path, params: EnsembleParams) -> Ensemble:
        from textladder.runs import Run

        model = cls(params)
        root = (Path(folder) / MEMBERS).resolve()
        model.sources_ = []
        for name in params.members:
            path = (root / name).resolve()
            if path.parent != root or not path.is_dir():
                raise RunError(f"{Path(folder) / MEMBERS / name}: ensemble member missing (members must be "
                               "folders inside the ensemble's own model/members/)")
            model.sources_.append(path)
        runs = [Run.open(p) for p in model.sources_]
        model.members_ = [r.load_model() for r in runs]
        model.classes_ = runs[0].classes if runs else []
        return model
