"""Seeded, stratified train / validation / test splits.

The reference protocol of HappyDB (see ``../shared/data/happydb/README.md``) is
two calls of scikit-learn's ``train_test_split``: hold out 6,000 rows for test,
then 15% of the rest for validation, both stratified, seed 42. On
``hm_train.csv`` that gives 46,172 / 8,149 / 6,000 rows.

Example:
    >>> import numpy as np
    >>> labels = np.array(["a"] * 60 + ["b"] * 40)
    >>> s = stratified_split(labels, test_size=0.2, val_size=0.25, seed=0)
    >>> len(s.train), len(s.val), len(s.test)
    (60, 20, 20)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict
from sklearn.model_selection import train_test_split

from textladder.choices import SplitMethod
from textladder.errors import TextladderError, option

REFERENCE = {"test_size": 6000, "val_size": 0.15, "seed": 42}
REFERENCE_FORMATS = ("hackerearth", "blog")
MIN_CLASS_ROWS = 3  # one row of each class in each of train, validation and test


class SplitConfig(BaseModel):
    """How to split. ``auto`` means the split the data gives (a split column or a test file: ``given``),
    else the reference protocol for the HackerEarth / blog files (when they have over 12,000 rows, so
    6,000 can be held out), else a stratified 10% test, 15% validation split. A given split without
    validation rows has ``val_size`` (default 15%) of its train rows held out for validation, stratified."""

    model_config = ConfigDict(extra="forbid")

    method: SplitMethod = "auto"
    test_size: float | int | None = None
    val_size: float | int | None = None
    seed: int = 42

    def resolve(self, data_format: str, rows: int | None = None, given: bool = False) -> SplitConfig:
        """Fill in method and sizes for a dataset of ``data_format`` with ``rows`` rows; ``given``: the data
        says which rows are test (a split column or a test file).

        Example:
            >>> SplitConfig().resolve("generic", 1000, given=True)
            SplitConfig(method='given', test_size=None, val_size=0.15, seed=42)
        """
        method = self.method
        if given or method == "given":
            if not given:
                raise TextladderError(f"split 'given' needs a split column ({option('split_col', 'COL')}) or a "
                                      f"test file ({option('test_data', 'FILE')})")
            if method not in ("auto", "given") or self.test_size is not None:
                asked = f"split '{method}'" if method not in ("auto", "given") else option("test_size")
                raise TextladderError(f"the data gives its split ({option('split_col')} or {option('test_data')}): "
                                      f"{asked} cannot apply to it")
            return SplitConfig(method="given", val_size=0.15 if self.val_size is None else self.val_size,
                               seed=self.seed)
        if method == "auto":
            big = rows is None or rows > 2 * REFERENCE["test_size"]
            reference = data_format in REFERENCE_FORMATS and self.test_size is None and big
            method = "reference" if reference else "stratified"
        if method == "reference":
            return SplitConfig(method="reference", **REFERENCE)
        return SplitConfig(
            method="stratified",
            test_size=0.1 if self.test_size is None else self.test_size,
            val_size=0.15 if self.val_size is None else self.val_size,
            seed=self.seed,
        )


    def train_rows(self, rows: int) -> int:
        """About how many of ``rows`` this resolved split trains on (for estimates).

        Example:
            >>> SplitConfig(method="stratified", test_size=0.1, val_size=0.15).train_rows(240)
            183
        """
        if self.method == "given":  # the test rows are not known here: about a tenth, as the default split
            rest = rows * 0.9
        else:
            test = self.test_size if self.test_size >= 1 else self.test_size * rows
            rest = rows - test
        return int(rest - (self.val_size if self.val_size >= 1 else self.val_size * rest))


@dataclass
class Split:
    """Row positions of each part."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def _as_size(x: float | int) -> float | int:
    return int(x) if float(x).is_integer() and x >= 1 else float(x)


def stratified_split(labels: np.ndarray, test_size: float | int, val_size: float | int, seed: int) -> Split:
    """Hold out ``test_size`` rows (a fraction or a count), then ``val_size`` of the rest.

    Both cuts are stratified on ``labels`` and seeded, exactly as two
    ``train_test_split`` calls.
    """
    index = np.arange(len(labels))
    values, n = np.unique(labels, return_counts=True)
    counts = {str(v): int(c) for v, c in zip(values, n)}
    small = sorted((c for c in counts if counts[c] < MIN_CLASS_ROWS), key=counts.get)
    if small:
        more = f" (and {len(small) - 1} more classes that small)" if len(small) > 1 else ""
        raise TextladderError(
            f"class '{small[0]}' has only {counts[small[0]]} row{'s' if counts[small[0]] != 1 else ''}{more}: a "
            f"stratified train / validation / test split needs at least {MIN_CLASS_ROWS} rows of every class. "
            f"Add rows, remove the class from the file, or pass {option('min_class_rows', MIN_CLASS_ROWS)} (or more) to "
            "drop classes that small, with a warning")
    try:
        rest, test = train_test_split(
            index, test_size=_as_size(test_size), random_state=seed, stratify=labels
        )
        train, val = train_test_split(
            rest, test_size=_as_size(val_size), random_state=seed, stratify=labels[rest]
        )
    except ValueError:
        smallest = min(counts, key=counts.get)
        raise TextladderError(
            f"cannot split {len(labels)} rows into train, validation ({val_size}) and test ({test_size}) with "
            f"every one of the {len(counts)} classes in each part (the smallest, '{smallest}', has "
            f"{counts[smallest]} rows). Use a larger {option('test_size')} / {option('val_size')}, add rows, or pass "
            f"{option('min_class_rows', 'N')} to drop the smallest classes"
        ) from None
    return Split(train=np.sort(train), val=np.sort(val), test=np.sort(test))


def make_split(labels: np.ndarray, config: SplitConfig, parts: np.ndarray | None = None) -> Split:
    """Split by a resolved :class:`SplitConfig`; a ``given`` one by ``parts`` (each row's ``train``, ``val``
    or ``test``)."""
    if config.method == "given":
        if parts is None:
            raise TextladderError("this run's split is given by its data, but the data gives no split")
        return given_split(labels, parts, config.val_size, config.seed)
    return stratified_split(labels, config.test_size, config.val_size, config.seed)


def given_split(labels: np.ndarray, parts: np.ndarray, val_size: float | int, seed: int) -> Split:
    """The rows of each part as the data gives them; without validation rows, ``val_size`` of the train
    rows (a fraction or a count) are held out for validation, stratified and seeded. Test rows are never
    moved. A class found in validation or test but not in train is an error.

    Example:
        >>> labels = np.array(["a", "b"] * 10)
        >>> s = given_split(labels, np.array(["train"] * 16 + ["test"] * 4), 0.25, seed=0)
        >>> len(s.train), len(s.val), s.test.tolist()
        (12, 4, [16, 17, 18, 19])
    """
    parts = np.asarray(parts, dtype=object)
    train, val, test = (np.flatnonzero(parts == p) for p in ("train", "val", "test"))
    for part, rows in (("train", train), ("test", test)):
        if not len(rows):
            raise TextladderError(f"the given split has no {part} rows")
    known = set(labels[train].tolist())
    for part, rows in (("validation", val), ("test", test)):
        unseen = sorted(set(labels[rows].tolist()) - known)
        if unseen:
            raise TextladderError(f"class '{unseen[0]}' is in the {part} part of the given split but not in train"
                                  f"{f' (and {len(unseen) - 1} more classes)' if len(unseen) > 1 else ''}; a model "
                                  "cannot learn it")
    if not len(val):
        values, counts = np.unique(labels[train], return_counts=True)
        stratify = labels[train] if counts.min() >= 2 else None
        try:
            train, val = train_test_split(train, test_size=_as_size(val_size), random_state=seed, stratify=stratify)
        except ValueError:
            raise TextladderError(f"cannot hold out {val_size} of the {len(train)} train rows for validation "
                                  f"with every class in both; use another {option('val_size')}") from None
    return Split(train=np.sort(train), val=np.sort(val), test=np.sort(test))


def split_dataset(ds, config: SplitConfig) -> tuple[SplitConfig, Split]:
    """``config`` resolved for the dataset ``ds`` (a :class:`~textladder.data.Dataset`), and its split: the
    one step every command that splits takes."""
    resolved = config.resolve(ds.format, len(ds), given=ds.parts is not None)
    return resolved, make_split(ds.labels, resolved, ds.parts)
