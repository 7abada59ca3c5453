"""Extra inputs beside the text. Today: the reflection period (HappyDB's ``24h`` / ``3m``).

The period is one-hot encoded over the values seen in the train split plus an explicit
``unknown`` bucket: an empty value, or one the train split never had (``1w``), lands there
(and is counted in a warning) instead of failing a whole prediction file. A model trained with
the period needs the column at prediction time; without it, it is an error.

Example:
    >>> enc = PeriodEncoder.fit(["24h", "3m", "24h"])
    >>> enc.categories
    ['24h', '3m', 'unknown']
    >>> enc.transform(["3m", "", "1w"]).tolist()
    [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from textladder.errors import TextladderError

log = logging.getLogger("textladder")

UNKNOWN = "unknown"


class PeriodEncoder:
    """One-hot of the period over the train split's values + ``unknown``."""

    def __init__(self, categories: Sequence[str]):
        self.categories = list(categories)
        self.index = {c: i for i, c in enumerate(self.categories)}

    @classmethod
    def fit(cls, values) -> PeriodEncoder:
        known = sorted({str(v).strip() for v in values if str(v).strip() and str(v).strip() != UNKNOWN})
        return cls([*known, UNKNOWN])

    def clean(self, values) -> np.ndarray:
        """Each value as a known category or ``unknown``; warns with the count of unknowns."""
        out = np.array([v if v in self.index else UNKNOWN for v in (str(x).strip() for x in values)], dtype=object)
        unknown = int((out == UNKNOWN).sum())
        if unknown:
            log.warning("%d of %d period values are empty or unseen in training: encoded as '%s'",
                        unknown, len(out), UNKNOWN)
        return out

    def transform(self, values) -> np.ndarray:
        cleaned = self.clean(values)
        onehot = np.zeros((len(cleaned), len(self.categories)), dtype=np.float32)
        onehot[np.arange(len(cleaned)), [self.index[v] for v in cleaned]] = 1.0
        return onehot


def require_period(X, what: str):
    """``X["period"]``, or a clear error saying the model needs it."""
    if "period" not in X.columns:
        raise TextladderError(f"{what} uses the period feature (--features period): the input needs a period "
                              "column (name it with --period-col)")
    return X["period"]
