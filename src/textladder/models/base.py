"""The contract every rung follows, in the manner of scikit-learn.

Every rung is a scikit-learn estimator. Hyper-parameters live in a pydantic ``Params`` class
(validated once, at construction, and exposed through ``get_params`` / ``set_params``, so
``sklearn.base.clone``, ``cross_val_score``, ``Pipeline`` and ``GridSearchCV`` work); learned
state lives in attributes ending in ``_``. ``fit(X, y)`` takes texts (a list, a Series, or a
DataFrame with a ``text`` column and the extra input columns) and labels of any kind (strings or
integers); ``predict`` returns labels, ``predict_proba`` one column per ``classes_`` entry.

A rung subclasses :class:`TextClassifier`, sets ``Params`` and its capability flags, and writes
four methods on the inside of that contract: ``_fit(X, y, X_val, y_val)`` (X a DataFrame, y the
label indices ``0..k-1``), ``_predict_proba(X)``, ``_save(folder)`` and ``_load(folder)``. The base
class does the rest once: input checks, label mapping, a validation slice for rungs that need
one, and a self-describing ``model/`` folder (``rung.json``: the rung, its parameters, extra
inputs and class names) that :func:`textladder.models.load_folder` reads back.

Example:
    >>> from textladder.models import build
    >>> m = build("tfidf-linear", {"min_df": 1}).fit(["my dog", "the gym", "a dog", "gym day"] * 3,
    ...                                               ["pets", "sport", "pets", "sport"] * 3)
    >>> m.predict(["dog"]).tolist(), m.classes_.tolist()
    (['pets'], ['pets', 'sport'])
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError
from threadpoolctl import threadpool_limits

from textladder.errors import RunError, TextladderError
from textladder.layout import RUNG_FILE
from textladder.explain import EXPLAIN_SAMPLES, probe_words, shap_explanation

log = logging.getLogger("textladder")

VALIDATION_SLICE = 0.1  # rungs that pick their best epoch hold out this much when given no validation rows


class Params(BaseModel):
    """Base of every model's hyper-parameters: unknown keys are an error."""

    model_config = ConfigDict(extra="forbid")

    def inert(self) -> set[str]:
        """The parameters that change nothing, given the others (a search still sets them); the
        leaderboard leaves them out of a run's options."""
        return set()


@dataclass
class TrainingContext:
    """How a fit runs, not what it learns: where a checkpointed rung keeps its epochs (``work_dir``),
    whether to go on from them (``resume``), a progress bar, the trainer settings of the neural
    rungs (Lightning's accelerator, devices, strategy, precision), and a ``deadline`` past which no
    epoch may end (a time budget's)."""

    work_dir: Path | None = None
    resume: bool = False
    progress: bool = False
    accelerator: str | None = None
    devices: int | str | None = None
    strategy: str | None = None
    precision: str | None = None
    on_epoch: Callable[[dict], None] | None = None  # called with each epoch's history row
    deadline: float | None = None  # time.time() by which a neural rung stops starting epochs (a time budget)


def params_error(cls: type, exc: ValidationError) -> TextladderError:
    """A one-line error for bad parameters of rung ``cls``."""
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'params'}: {e['msg']}" for e in exc.errors())
    return TextladderError(f"bad parameters for model '{cls.name}': {problems} "
                           f"(parameters: {', '.join(cls.Params.model_fields)})")


def as_frame(X, features: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """Texts as the DataFrame the rungs read: a list, tuple, array or Series of strings becomes the
    ``text`` column; a DataFrame must have ``text`` (and every extra input column in ``features``).

    Example:
        >>> as_frame(["a", "b"]).columns.tolist()
        ['text']
    """
    if isinstance(X, pd.DataFrame):
        if "text" not in X.columns:
            if X.shape[1] == 1 and not features:
                return pd.DataFrame({"text": X.iloc[:, 0].astype(str).to_numpy(dtype=object)})
            raise TextladderError(f"the input DataFrame has no 'text' column (columns: {', '.join(map(str, X.columns))})")
        missing = [f for f in features if f not in X.columns]
        if missing:
            raise TextladderError(f"the input needs a {missing[0]} column: this model was trained with it as an "
                                  "extra input")
        return X.reset_index(drop=True)
    if isinstance(X, str):
        raise TextladderError("give a list of texts, not one string (wrap it: [text])")
    if features:
        raise TextladderError(f"this model also reads {', '.join(features)}: give a DataFrame with a 'text' column "
                              "and those columns")
    values = X.to_numpy() if isinstance(X, pd.Series) else np.asarray(X, dtype=object)
    if values.ndim != 1:
        raise TextladderError(f"texts must be one-dimensional, not of shape {values.shape}")
    return pd.DataFrame({"text": [v if isinstance(v, str) else ("" if v is None else str(v)) for v in values]})


class TextClassifier:
    """Base class of every rung: a scikit-learn estimator over texts (see the module docstring)."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = "other"  # what kind of model, for `textladder models`
    Params: ClassVar[type[Params]] = Params
    # What a rung can do, declared once here and read by everything that needs to know:
    supports_smote: ClassVar[bool] = False  # resamples its fixed-length features inside fit (--balance smote)
    supports_features: ClassVar[bool] = True  # takes extra categorical inputs beside the text (--features)
    needs_validation: ClassVar[bool] = False  # picks its best epoch on validation rows
    checkpointed: ClassVar[bool] = False  # trains epoch by epoch in a work folder it can resume from
    has_word_vectors: ClassVar[bool] = False  # ``word_vectors()`` gives (words, vectors)
    # How ``explain(text)`` finds each token's weight (textladder.explain): "linear" (exact contributions),
    # "attention" (the attention weights), "shap" (model-agnostic, the default)
    explanation: ClassVar[str] = "shap"
    exports_onnx: ClassVar[bool] = False  # ``export_onnx(folder)`` and ``use_onnx(path)``
    # The most BLAS threads ``fit`` uses (None: as many as the process has). A rung whose solver sums in
    # BLAS gives results that depend on the thread count (lbfgs: probabilities 0.009 apart on HappyDB
    # between 1 and 2 threads); 1 makes them the same here, on a Ray worker (one thread a task) and anywhere.
    blas_threads: ClassVar[int | None] = None
    # Its per-text features are cached across fits of the same texts (the frozen encoder's sentence
    # embeddings): cross-fitting (label issues) pays them once, not once a fold.
    caches_features: ClassVar[bool] = False
    # What training costs on a 2-core machine, for the ladder's overall estimate (measured by
    # benchmarks/rung_costs.py): fixed seconds (reading, scoring, plots), seconds per 1,000 train
    # rows once (features, encoding), and seconds per 1,000 train rows per epoch.
    train_cost: ClassVar[tuple[float, float, float]] = (3.0, 0.5, 0.0)
    # The mean words per text of the data ``train_cost`` was measured on (HappyDB: 21), for rungs whose cost
    # grows with the words they read (None: it does not); :meth:`words_read` caps what they read.
    cost_words: ClassVar[float | None] = None

    @staticmethod
    def search_space(trial) -> dict:
        """The parameters a search tries, suggested through an Optuna ``trial``; empty: not searchable.
        Declared next to ``Params`` by each rung that can be searched."""
        return {}

    # Configurations a search tries right after the defaults (a small portfolio, as AutoGluon's presets):
    # ones that won earlier searches. On other data each is one more trial; the search goes on from there.
    search_portfolio: ClassVar[list[dict]] = []

    @classmethod
    def search_start(cls, params: Params) -> dict:
        """The first trial of a search: these parameters (the defaults, as a search space names them)."""
        return params.model_dump(mode="json")

    @classmethod
    def first_trials(cls, params: Params, train_rows: int, words: float) -> list[dict]:
        """The trials a search starts with on data of ``train_rows`` train rows of ``words`` words on average:
        the defaults (:meth:`search_start`), then :attr:`search_portfolio`. A rung whose defaults were tuned
        on data of another size adds versions of them scaled to this data."""
        return [cls.search_start(params), *cls.search_portfolio]

    @classmethod
    def data_space(cls, trial, train_rows: int, words: float) -> dict:
        """:meth:`search_space` for data of ``train_rows`` rows of ``words`` words (a rung whose good ranges
        depend on the data's size widens them here)."""
        return cls.search_space(trial)

    @classmethod
    def search_refuses(cls, params: Params, fixed: set[str]) -> str | None:
        """Why a search should not train these parameters (a combination known to cost far more than it can
        give), or None. The search records the trial as pruned, untrained, so the sampler learns to avoid
        it. ``fixed``: the parameters the user fixed; a combination the user chose whole is not refused."""
        return None

    @classmethod
    def words_read(cls, params: Params) -> float | None:
        """The most words of a text this rung reads with ``params`` (its truncation), or None: all of them."""
        return None

    @classmethod
    def estimate_seconds(cls, params: Params, train_rows: int, words: float | None = None) -> float:
        """About how long training takes with ``params`` on ``train_rows`` rows (:attr:`train_cost`;
        every epoch counted, so early stopping makes it an upper bound). ``words``: the mean words per text
        of the data, for rungs whose cost grows with them (:attr:`cost_words`): a rung that reads 100
        words of each text costs about five times what it costs on HappyDB's 21.

        Example:
            >>> from textladder.models import get
            >>> t = get("transformer")
            >>> round(t.estimate_seconds(t.Params(epochs=1), 1000)), round(t.estimate_seconds(t.Params(epochs=1), 1000, 300))
            (23, 89)
        """
        fixed, once, per_epoch = cls.train_cost
        return fixed + train_rows / 1000 * cls.length_scale(params, words) * (
            once + per_epoch * getattr(params, "epochs", 1))

    @classmethod
    def length_scale(cls, params: Params, words: float | None) -> float:
        """How much longer (or shorter) the texts this rung reads are than those its cost was measured on."""
        if words is None or not cls.cost_words:
            return 1.0
        cap = cls.words_read(params)
        return max(0.5, min(words, cap or words) / cls.cost_words)

    def __init__(self, params: Params | None = None, *, features: list[str] | tuple[str, ...] = (),
                 smote: bool = False, **overrides):
        if params is None:
            try:
                params = self.Params(**overrides)
            except ValidationError as exc:
                raise params_error(type(self), exc) from None
            self._raw = dict(overrides)  # what the caller passed, returned as is by get_params (clone checks)
        else:
            self._raw = {}
        self.params = params
        self.features = features if isinstance(features, list) else list(features)  # as given (clone checks)
        self.smote = smote
        if self.smote and not self.supports_smote:
            from textladder.balance import smote_refusal

            raise TextladderError(smote_refusal(self.name))
        if self.features and not self.supports_features:
            raise TextladderError(f"model '{self.name}' takes no extra inputs beside the text "
                                  f"(asked for: {', '.join(self.features)})")
        self.report_: dict[str, Any] = {}  # facts of the last fit, saved in the run's metrics.json
        self.history_: list[dict] | None = None  # one row per epoch, for the rungs that train in epochs
        self.global_rank_ = 0  # in the extra processes of a multi-process (DDP) fit: their rank (they save nothing)
        self.temperature_ = 1.0  # fitted on held-out rows when a run is written (textladder.calibration)
        self.calibration = True  # False: predict_proba gives the model's own, uncalibrated probabilities

    # -- scikit-learn's estimator API -------------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Every hyper-parameter (the ``Params`` fields), plus ``features`` and ``smote``."""
        out = {k: self._raw.get(k, getattr(self.params, k)) for k in self.Params.model_fields}
        out.update(features=self.features, smote=self.smote)
        return out

    def set_params(self, **values) -> TextClassifier:
        """Change hyper-parameters (validated); returns the model, as scikit-learn expects."""
        features = values.pop("features", self.features)
        smote = values.pop("smote", self.smote)
        merged = {**{k: getattr(self.params, k) for k in self.Params.model_fields}, **values}
        try:
            params = self.Params(**merged)
        except ValidationError as exc:
            raise params_error(type(self), exc) from None
        raw = {**self._raw, **values}
        self.__init__(params, features=features, smote=smote)  # the same checks as at construction
        self._raw = raw
        return self

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.params.model_dump().items() if self.Params.model_fields[k].default != v}
        shown = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        return f"{type(self).__name__}({shown})"

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags(), input_tags=_input_tags())

    _estimator_type = "classifier"

    def fit(self, X, y, X_val=None, y_val=None, context: TrainingContext | None = None) -> TextClassifier:
        """Learn from texts ``X`` and their labels ``y`` (any hashable labels). ``X_val, y_val`` are
        validation rows for the rungs that pick their best epoch; without them such a rung holds out a
        stratified 10% of ``X`` (and says so). ``context`` says how to run (checkpoints, progress)."""
        frame = as_frame(X, self.features)
        labels = np.asarray(y.to_numpy() if isinstance(y, pd.Series) else y)
        if labels.ndim != 1 or len(labels) != len(frame):
            raise TextladderError(f"{len(frame)} texts but {len(labels)} labels")
        self.classes_, y_index = np.unique(labels, return_inverse=True)
        if len(self.classes_) < 2:
            raise TextladderError(f"only one class ({self.classes_[0]!r}) in y; a classifier needs at least two")
        frame_val, y_val_index = None, None
        if X_val is not None and y_val is not None:
            frame_val, y_val_index = as_frame(X_val, self.features), self._encode(y_val)
        elif self.needs_validation:
            frame, y_index, frame_val, y_val_index = _hold_out(frame, y_index, self.name)
        self.context = context or TrainingContext()
        self.temperature_ = 1.0  # a new fit is not calibrated until held-out rows say how
        try:
            with threadpool_limits(self.blas_threads, user_api="blas") if self.blas_threads else nullcontext():
                self._fit(frame, y_index, frame_val, y_val_index)
        finally:
            del self.context
        return self

    def _encode(self, labels) -> np.ndarray:
        labels = np.asarray(labels.to_numpy() if isinstance(labels, pd.Series) else labels)
        index = {c: i for i, c in enumerate(self.classes_.tolist())}
        unknown = [v for v in labels.tolist() if v not in index]
        if unknown:
            raise TextladderError(f"label {unknown[0]!r} is not one of the classes seen in training "
                                  f"({', '.join(map(str, self.classes_))})")
        return np.fromiter((index[v] for v in labels.tolist()), dtype=np.int64, count=len(labels))

    def predict_proba(self, X) -> np.ndarray:
        """One row per text, one column per class of ``classes_``, each row summing to 1; calibrated by the
        run's temperature (``temperature_``) unless ``calibration`` is False."""
        proba = self._predict_proba(as_frame(X, self.features))
        if self.calibration and self.temperature_ != 1.0:
            from textladder.calibration import apply_temperature

            return apply_temperature(proba, self.temperature_)
        return proba

    def predict(self, X) -> np.ndarray:
        """The most probable label of each text (an element of ``classes_``)."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def score(self, X, y) -> float:
        """Accuracy on ``(X, y)``, as scikit-learn classifiers score."""
        return float(np.mean(self.predict(X) == np.asarray(y)))

    # -- saving and loading ------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Write the model into ``folder`` (safe formats only) with ``rung.json`` describing it."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self._save(folder)
        self.describe(folder)

    def describe(self, folder: Path) -> None:
        """Write ``folder/rung.json``: the rung, its parameters, extra inputs and class names."""
        from textladder.files import write_json

        write_json(Path(folder) / RUNG_FILE, {"rung": self.name, "params": self.params.model_dump(mode="json"),
                                              "features": self.features, "smote": self.smote,
                                              "classes": [_plain(c) for c in self.classes_.tolist()],
                                              "temperature": self.temperature_})

    runtime: str = "auto"  # how an exported neural model predicts: auto, torch, onnx, onnx-int8

    @classmethod
    def load(cls, folder: Path, params: Params, classes: list | None = None,
             features: list[str] | tuple[str, ...] = (), runtime: str = "auto") -> TextClassifier:
        """The model saved in ``folder`` with ``params``, ``classes`` and ``features`` (as its ``rung.json``
        or, for folders written before it existed, its run's config say). ``runtime`` picks how a model
        exported to ONNX predicts: ``auto`` (int8, else fp32 ONNX, else torch), ``torch``, ``onnx``,
        ``onnx-int8``."""
        from textladder.choices import RUNTIMES, check

        model = cls(params, features=features)
        model.classes_ = np.asarray(classes if classes is not None else [], dtype=object)
        model.runtime = check(runtime, RUNTIMES, "runtime")
        try:
            model._load(Path(folder))
        except TextladderError:
            raise
        except (OSError, ValueError, KeyError, TypeError, RuntimeError, EOFError) as exc:  # a damaged file, in a
            # library's own words (Hugging Face, safetensors, torch, skops): one line, naming the folder
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RunError(f"{folder}: model file damaged or unreadable ({type(exc).__name__}: {first})") from None
        return model

    # -- explaining ----------------------------------------------------------------------------------
    def explain(self, text: str, label=None, samples: int = EXPLAIN_SAMPLES, features: dict | None = None):
        """Why ``text`` gets its prediction: an :class:`~textladder.explain.Explanation`, each token's weight
        toward ``label`` (default: the predicted class), found as the rung's ``explanation`` says (here:
        SHAP's partition explainer over ``predict_proba``, in at most ``samples`` model evaluations).
        ``features``: the values of the extra inputs the model was trained with (``{"period": "24h"}``)."""
        return shap_explanation(self, text, label, samples, features)

    def class_words(self, vocabulary: list[str], top: int = 10) -> dict[str, list[tuple[str, float]]]:
        """The words of ``vocabulary`` that weigh most toward each class, with a weight (here: how much each
        word read alone raises the class's probability, a log-ratio; rungs with exact weights override)."""
        return probe_words(self, vocabulary, top)

    def prepare_to_serve(self) -> None:
        """Called once before a server answers requests with this model: a rung that keeps growing state
        while it predicts (a cache of every text seen) turns it off here, so that serving stays bounded."""

    # -- what a rung writes ------------------------------------------------------------------------
    def _fit(self, X: pd.DataFrame, y: np.ndarray, X_val: pd.DataFrame | None, y_val: np.ndarray | None) -> None:
        raise NotImplementedError

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def _save(self, folder: Path) -> None:
        raise NotImplementedError

    def _load(self, folder: Path) -> None:
        raise NotImplementedError


def _plain(value):
    """A class label as JSON keeps it (numpy scalars become Python ones)."""
    return value.item() if hasattr(value, "item") else value


def _input_tags():
    from sklearn.utils import InputTags

    return InputTags(one_d_array=True, two_d_array=False, string=True, categorical=True)


def _hold_out(frame: pd.DataFrame, y: np.ndarray, name: str):
    """A stratified validation slice of the train rows (every class keeps at least one row in train)."""
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y)
    index = np.arange(len(y))
    n_val = max(int(round(VALIDATION_SLICE * len(y))), len(counts))
    stratify = y if counts.min() >= 2 and n_val < len(y) - len(counts) else None
    try:
        train, val = train_test_split(index, test_size=n_val, random_state=0, stratify=stratify)
    except ValueError:
        train, val = train_test_split(index, test_size=n_val, random_state=0)
    log.info("%s: no validation rows given; holding out %d of %d train rows (stratified) to pick the best epoch",
             name, len(val), len(y))
    train, val = np.sort(train), np.sort(val)
    return (frame.iloc[train].reset_index(drop=True), y[train], frame.iloc[val].reset_index(drop=True), y[val])


def checked_proba(model: TextClassifier, X: pd.DataFrame, n_classes: int) -> np.ndarray:
    """``model.predict_proba(X)``, refused unless it is one row of ``n_classes`` finite probabilities per
    input row, each row summing to 1: a damaged model file must not pass as a working model.

    Example:
        >>> class Broken(TextClassifier):
        ...     def predict_proba(self, X):
        ...         return np.zeros((len(X), 2))
        >>> checked_proba(Broken(), pd.DataFrame({"text": ["hi"]}), 2)
        Traceback (most recent call last):
        ...
        textladder.errors.RunError: model '' gave probabilities that do not sum to 1 (row 0 sums to 0); ...
    """
    proba = np.asarray(model.predict_proba(X))
    who = f"model '{model.name}'"
    if proba.shape != (len(X), n_classes):
        raise RunError(f"{who} gave probabilities of shape {proba.shape} for {len(X)} rows and {n_classes} "
                       "classes; the model files do not match the run")
    if len(proba) == 0:
        return proba
    bad = ~np.isfinite(proba).all(axis=1)
    if bad.any():
        raise RunError(f"{who} gave probabilities that are not finite (row {int(np.flatnonzero(bad)[0])}); "
                       "the model files may be damaged: re-train the run")
    sums = proba.sum(axis=1)
    off = np.abs(sums - 1) > 1e-3
    if off.any() or (proba < -1e-6).any():
        i = int(np.flatnonzero(off)[0]) if off.any() else int(np.flatnonzero((proba < -1e-6).any(axis=1))[0])
        raise RunError(f"{who} gave probabilities that do not sum to 1 (row {i} sums to {sums[i]:.4g}); "
                       "the model files may be damaged: re-train the run")
    return proba
