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

    @classmethod
    def load(cls, folder: Path, params: Params) -> TextClassifier:
        raise NotImplementedError
