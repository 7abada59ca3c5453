"""The contract every rung follows, in the manner of scikit-learn.

Hyper-parameters live in a pydantic ``Params`` class (validated once, at
construction); learned state lives in attributes ending in ``_``. Inputs are a
DataFrame with a ``text`` column (and ``period`` where the data has one);
labels are integers ``0..n_classes-1``. Every model saves itself into a folder
with safe formats only (skops, safetensors, JSON) and loads back from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from textladder.errors import RunError


class Params(BaseModel):
    """Base of every model's hyper-parameters: unknown keys are an error."""

    model_config = ConfigDict(extra="forbid")


class TextClassifier:
    """Base class of every rung. Subclasses set ``name``, ``Params`` and implement
    ``fit``, ``predict_proba``, ``save`` and ``load``."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[Params]] = Params
    supports_smote: ClassVar[bool] = False  # True where the rung resamples its fixed-length features
    has_word_vectors: ClassVar[bool] = False  # True where ``word_vectors()`` gives (words, vectors)

    def __init__(self, params: Params | None = None, **overrides):
        self.params = params if params is not None else self.Params(**overrides)
        self.smote = False  # --balance smote: resample the train features inside fit
        self.features: list[str] = []  # --features: extra inputs joined before the head ("period")

    def fit(self, X: pd.DataFrame, y: np.ndarray, X_val: pd.DataFrame | None = None,
            y_val: np.ndarray | None = None) -> TextClassifier:
        raise NotImplementedError

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Index of the most probable class of each row."""
        return self.predict_proba(X).argmax(axis=1)

    def save(self, folder: Path) -> None:
        raise NotImplementedError

    def prepare_to_serve(self) -> None:
        """Called once before a server answers requests with this model: a rung that keeps growing state
        while it predicts (a cache of every text seen) turns it off here, so that serving stays bounded."""

    @classmethod
    def load(cls, folder: Path, params: Params) -> TextClassifier:
        raise NotImplementedError


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
