"""Class-imbalance remedies, applied to the train split only.

- ``none``: train on the split as it is.
- ``oversample``: replicate rows of every class but the largest, at random, up to the largest
  (imbalanced-learn's ``RandomOverSampler``; the blog's own replication does the same).
- ``undersample``: drop rows of every class but the smallest, at random, down to the smallest
  (``RandomUnderSampler``).
- ``smote``: synthetic rows interpolated between neighbours of the same class (``SMOTE``). It
  needs fixed-length vectors, so it runs inside the rungs that have them (TF-IDF, sentence
  vectors), after their features are computed; sequence rungs refuse it.
- ``class-weight``: no resampling; the loss (neural rungs) or ``class_weight`` (linear rungs)
  weighs each class by ``n / (k * count)``, scikit-learn's "balanced".

Validation and test rows are never touched: :func:`resample_indices` only ever sees the train
labels.

Example:
    >>> y = np.array([0, 0, 0, 0, 1])
    >>> np.bincount(y[resample_indices(y, "oversample")]).tolist()
    [4, 4]
    >>> np.bincount(y[resample_indices(y, "undersample")]).tolist()
    [1, 1]
"""

from __future__ import annotations

import numpy as np

from textladder.choices import RESAMPLING
from textladder.errors import TextladderError, option


def resample_indices(y: np.ndarray, method: str, seed: int = 42) -> np.ndarray:
    """Row indices of the resampled train split (sorted; repeated rows repeat) for ``oversample`` /
    ``undersample``; every row for the other methods."""
    if method not in RESAMPLING:
        return np.arange(len(y))
    from imblearn.under_sampling import RandomUnderSampler

    from imblearn.over_sampling import RandomOverSampler

    sampler = (RandomOverSampler if method == "oversample" else RandomUnderSampler)(random_state=seed)
    idx, _ = sampler.fit_resample(np.arange(len(y)).reshape(-1, 1), y)
    return np.sort(idx.ravel())


def smote(X, y: np.ndarray, seed: int = 42):
    """SMOTE on fixed-length features (dense or sparse); ``k_neighbors`` shrinks for tiny classes."""
    from imblearn.over_sampling import SMOTE

    smallest = int(np.bincount(y)[np.bincount(y) > 0].min())
    if smallest < 2:
        raise TextladderError(f"{option('balance', 'smote')} needs at least 2 train rows in every class")
    return SMOTE(random_state=seed, k_neighbors=min(5, smallest - 1)).fit_resample(X, y)


def counts(y: np.ndarray, classes: list[str]) -> dict[str, int]:
    """Rows per class name."""
    c = np.bincount(y, minlength=len(classes))
    return {name: int(c[i]) for i, name in enumerate(classes)}


def balanced_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """scikit-learn's "balanced" class weights, ``n / (k * count)``; absent classes get 1.

    Example:
        >>> balanced_weights(np.array([0, 0, 0, 1]), 2).tolist()
        [0.6666666666666666, 2.0]
    """
    c = np.bincount(y, minlength=n_classes).astype(np.float64)
    return np.where(c > 0, len(y) / (n_classes * np.maximum(c, 1)), 1.0)


def smote_refusal(model: str) -> str:
    return (f"{option('balance', 'smote')} needs fixed-length feature vectors, and '{model}' reads token sequences: "
            "a point between two sequences of word ids is not a text. Use it with tfidf-linear, w2v-dense, "
            f"w2v-dense2 or contextual; for this rung use {option('balance', 'oversample')} or "
            f"{option('balance', 'class-weight')}")
