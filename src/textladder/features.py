"""Extra inputs beside the text: any categorical column of the data (``--features COL[,COL...]``).

Each column is one-hot encoded over the values seen in the train split plus an explicit
``unknown`` bucket: an empty value, or one the train split never had, lands there (and is counted
in a warning) instead of failing a whole prediction file. A model trained with extra inputs needs
those columns at prediction time; without them, it is an error. ``period`` (HappyDB's reflection
period, ``24h`` / ``3m``) is one such column: the data layer maps the name to the file's detected
period column; nothing here knows what a column means.

Example:
    >>> extra = ExtraInputs.fit(pd.DataFrame({"period": ["24h", "3m", "24h"], "country": ["fr", "fr", "de"]}),
    ...                         ["period", "country"])
    >>> extra.categories
    {'period': ['24h', '3m', 'unknown'], 'country': ['de', 'fr', 'unknown']}
    >>> extra.transform(pd.DataFrame({"period": ["3m"], "country": ["us"]})).tolist()
    [[0.0, 1.0, 0.0, 0.0, 0.0, 1.0]]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from textladder.errors import TextladderError

log = logging.getLogger("textladder")

UNKNOWN = "unknown"


class CategoryEncoder:
    """One-hot of one column over the train split's values + ``unknown``.

    Example:
        >>> enc = CategoryEncoder.fit(["24h", "3m", "24h"])
        >>> enc.categories
        ['24h', '3m', 'unknown']
        >>> enc.transform(["3m", "", "1w"]).tolist()
        [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
    """

    def __init__(self, categories: Sequence[str], name: str = "period"):
        self.categories = list(categories)
        self.name = name
        self.index = {c: i for i, c in enumerate(self.categories)}

    @classmethod
    def fit(cls, values, name: str = "period") -> CategoryEncoder:
        known = sorted({str(v).strip() for v in values if str(v).strip() and str(v).strip() != UNKNOWN})
        return cls([*known, UNKNOWN], name)

    def clean(self, values) -> np.ndarray:
        """Each value as a known category or ``unknown``; warns with the count of unknowns."""
        out = np.array([v if v in self.index else UNKNOWN for v in (str(x).strip() for x in values)], dtype=object)
        unknown = int((out == UNKNOWN).sum())
        if unknown:
            log.warning("%d of %d %s values are empty or unseen in training: encoded as '%s'",
                        unknown, len(out), self.name, UNKNOWN)
        return out

    def transform(self, values) -> np.ndarray:
        cleaned = self.clean(values)
        onehot = np.zeros((len(cleaned), len(self.categories)), dtype=np.float32)
        onehot[np.arange(len(cleaned)), [self.index[v] for v in cleaned]] = 1.0
        return onehot



def require_columns(X: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """A clear error when ``X`` lacks an extra input column the model reads."""
    missing = [c for c in columns if c not in X.columns]
    if missing:
        raise TextladderError(f"{what} uses the extra input '{missing[0]}': the input needs a {missing[0]} column")


class ExtraInputs:
    """The extra input columns of a model, each a :class:`CategoryEncoder`, joined in order."""

    def __init__(self, categories: dict[str, list[str]]):
        self.categories = {name: list(cats) for name, cats in categories.items()}
        self.encoders = {name: CategoryEncoder(cats, name) for name, cats in self.categories.items()}

    @classmethod
    def fit(cls, X: pd.DataFrame, columns: Sequence[str], what: str = "this model") -> ExtraInputs | None:
        """Encoders of ``columns`` fitted on ``X``; None when there are none."""
        if not columns:
            return None
        require_columns(X, columns, what)
        return cls({c: CategoryEncoder.fit(X[c], c).categories for c in columns})

    @classmethod
    def from_meta(cls, meta: dict) -> ExtraInputs | None:
        """From a saved model description: ``features`` ({column: categories}), or the ``period`` list of
        models saved before extra inputs were generic."""
        if meta.get("features"):
            return cls(meta["features"])
        if meta.get("period"):
            return cls({"period": meta["period"]})
        return None

    @property
    def columns(self) -> list[str]:
        return list(self.categories)

    @property
    def width(self) -> int:
        return sum(len(c) for c in self.categories.values())

    def clean(self, X: pd.DataFrame, what: str = "this model") -> dict[str, np.ndarray]:
        """Each column's values as known categories or ``unknown``."""
        require_columns(X, self.columns, what)
        return {name: enc.clean(X[name]) for name, enc in self.encoders.items()}

    def transform(self, X: pd.DataFrame, what: str = "this model") -> np.ndarray:
        """The one-hots of every column, side by side."""
        require_columns(X, self.columns, what)
        return np.hstack([enc.transform(X[name]) for name, enc in self.encoders.items()])
