"""Load a labelled text dataset from any supported file, validated once, at the boundary.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
    >>> _ = p.write_text("id,text,label\\n1,good day,joy\\n2,bad day,sad\\n3,fine,joy\\n")
    >>> ds = load_dataset(p)
    >>> ds.format, len(ds), ds.classes
    ('generic', 3, ['joy', 'sad'])
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from textladder.data.formats import Format, detect
from textladder.data.reader import (LINE, Receipt, columns_of, file_kind, numbering, read_id_labels, read_table,
                                    refuse_nested)
from textladder.files import sha256_file
from textladder.errors import DataError, option

log = logging.getLogger("textladder")

DEFAULT_MAX_DROP = 0.05
# A label spelled like one of these (any case, surrounding spaces ignored) is a missing label: the row is
# counted and dropped like an empty one. They are what pandas, R, SQL and spreadsheets write for "no value".
MISSING_LABELS = frozenset({"", "nan", "na", "n/a", "<na>", "#n/a", "none", "null", "nil"})
# Class names that are probably a missing-value marker too, but may be meant: kept, with a warning.
LOOKS_MISSING = frozenset({"missing", "unknown", "unlabeled", "unlabelled", "undefined", "n.a.", "-", "--",
                           "?", "tbd", "#value!", "#ref!", "empty", "blank", "nat"})


@dataclass(frozen=True)
class Columns:
    """Which column plays which role."""

    text: str
    label: str | None = None
    id: str | None = None
    period: str | None = None


@dataclass
class Dataset:
    """Validated rows: parallel arrays of ids, texts, labels (or None) and periods (or None)."""

    path: str
    format: str
    columns: Columns
    ids: np.ndarray
    texts: np.ndarray
    labels: np.ndarray | None
    period: np.ndarray | None
    lines: np.ndarray
    line_kind: str  # "line" (CSV) or "row" (Parquet)
    dropped: dict[str, int] = field(default_factory=dict)
    sha256: str | None = None  # of the bytes that were read
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # extra input columns, by feature name
    parts: np.ndarray | None = None  # a given split: "train", "val" or "test" per row (None: textladder splits)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def classes(self) -> list[str]:
        """Sorted class names."""
        if self.labels is None:
            return []
        return sorted(set(self.labels.tolist()))

    def class_counts(self) -> dict[str, int]:
        """Class name -> rows, largest first."""
        if self.labels is None:
            return {}
        counts = pd.Series(self.labels).value_counts()
        return {str(k): int(v) for k, v in counts.items()}

    def subset(self, index: np.ndarray) -> Dataset:
        """The rows at ``index``, as a new Dataset."""
        return Dataset(
            self.path, self.format, self.columns, self.ids[index], self.texts[index],
            None if self.labels is None else self.labels[index],
            None if self.period is None else self.period[index],
            self.lines[index], self.line_kind, dict(self.dropped), self.sha256,
            {name: values[index] for name, values in self.extra.items()},
            None if self.parts is None else self.parts[index],
        )

    def frame(self) -> pd.DataFrame:
        """Model input: a DataFrame with ``text``, ``period`` when the data has one, and every extra input."""
        data = {"text": self.texts}
        if self.period is not None:
            data["period"] = self.period
        data.update(self.extra)
        return pd.DataFrame(data)


file_sha256 = sha256_file  # hex sha256 of a file, read in 1 MiB blocks


def resolve_columns(
    path: str | Path,
    columns: list[str],
    text_col: str | None = None,
    label_col: str | None = None,
    id_col: str | None = None,
    period_col: str | None = None,
    require_label: bool = True,
    kind: str | None = None,
) -> tuple[str, Columns]:
    """Detect the format and decide each column's role; options override the format's defaults.

    ``kind`` is :func:`file_kind` of ``path`` when the caller already knows it.
    Returns ``(format_name, Columns)``; raises :class:`DataError` naming what is missing.
    """
    fmt: Format | None = detect(columns)
    where = {"line": 1} if (kind or file_kind(path)) == "csv" else {}
    if fmt is None and text_col is None:
        raise DataError(
            path, f"unknown format (columns: {', '.join(columns)}); name the text and label columns "
                  f"({option('text_col', 'COL')}, {option('label_col', 'COL')})", **where)
    name = fmt.name if fmt and not text_col else ("generic" if fmt is None else fmt.name)
    text = text_col or fmt.text
    label = label_col or (fmt.label if fmt else None)
    ident = id_col or (fmt.id if fmt else None)
    period = period_col or (fmt.period if fmt else None)
    for role, col, needed in (("text", text, True), ("label", label, require_label), ("id", ident, bool(id_col)),
                              ("period", period, bool(period_col))):
        if needed and (col is None or col not in columns):
            shown = f"'{col}'" if col else "(none given)"
            hint = f"; pass --{role}-col" if role in ("text", "label", "id") else ""
            raise DataError(path, f"missing {role} column {shown}; columns are: {', '.join(columns)}{hint}", **where)
    if label is not None and label not in columns:
        label = None
    if ident is not None and ident not in columns:
        ident = None
    if period is not None and period not in columns:
        period = None
    roles = {"text": text, "label": label, "id": ident, "period": period}
    named = [(r, c) for r, c in roles.items() if c is not None]
    for i, (role, col) in enumerate(named):
        for other, col2 in named[i + 1:]:
            if col == col2:
                raise DataError(path, f"column '{col}' is given as both the {role} and the {other} column; "
                                      "each role needs its own column", **where)
    refuse_nested(path, roles)
    return name, Columns(text=text, label=label, id=ident, period=period)


def _blank(values: pd.Series) -> np.ndarray:
    return values.isna().to_numpy() | values.astype(str).str.strip().eq("").to_numpy()


def _missing_label(values: pd.Series) -> np.ndarray:
    """True where a label is absent or spelled as a missing value (:data:`MISSING_LABELS`)."""
    return values.isna().to_numpy() | values.astype(str).str.strip().str.lower().isin(MISSING_LABELS).to_numpy()


def load_dataset(
    path: str | Path,
    text_col: str | None = None,
    label_col: str | None = None,
    id_col: str | None = None,
    period_col: str | None = None,
    require_label: bool = True,
    max_drop: float = DEFAULT_MAX_DROP,
    on_progress=None,
    min_class_rows: int = 0,
    features: list[str] | tuple[str, ...] = (),
    split_col: str | None = None,
    min_classes: int = 2,
) -> Dataset:
    """Read, detect, validate and clean a dataset file.

    Rows with an empty text or (when labels are required) a missing label are
    dropped, with a warning, when they are at most ``max_drop`` of the file;
    more than that is an error at the first such line. A label is missing when it
    is empty or spelled as a missing value (``NaN``, ``None``, ``null``, ``N/A``...:
    :data:`MISSING_LABELS`, any case). Duplicate ids with the same label keep their
    first row; with different labels they are an error. Classes with fewer than
    ``min_class_rows`` rows are dropped with a warning. Fewer than ``min_classes`` classes is an error (two:
    a classifier needs them; one for a file of a split's test or validation rows).
    ``features`` names extra input columns to keep (``period`` means the file's period column).
    ``split_col`` names a column that gives each row's part of a given split (``train``, ``val``, ``test``;
    ``dev`` and ``validation`` mean ``val``): any other value is an error that names the values found.
    """
    p = Path(path)
    kind = file_kind(p)
    columns = columns_of(p)
    fmt, cols = resolve_columns(p, columns, text_col, label_col, id_col, period_col, require_label, kind=kind)
    sources = {f: feature_column(f, cols, columns, p, kind) for f in features}
    if split_col is not None and split_col not in columns:
        raise DataError(p, f"no split column '{split_col}'; columns are: {', '.join(columns)}",
                        **({"line": 1} if kind == "csv" else {}))
    if split_col is not None and split_col in (cols.text, cols.label):
        raise DataError(p, f"column '{split_col}' is the {'text' if split_col == cols.text else 'label'} column; "
                           "it cannot also be the split column")
    receipt = Receipt()
    table = read_table(p, on_progress=on_progress, receipt=receipt)
    line_kind = numbering(p, kind)
    n = len(table)
    where = lambda i: {line_kind: int(table[LINE].iat[i])}  # noqa: E731

    bad_masks = {"empty text": _blank(table[cols.text])}
    if cols.label is not None:
        missing = _missing_label(table[cols.label])
        table[cols.label] = table[cols.label].where(~missing, "")
        if require_label:
            bad_masks["missing label"] = missing
    keep = np.ones(n, dtype=bool)
    dropped: dict[str, int] = {}
    for reason, mask in bad_masks.items():
        mask = mask & keep
        count = int(mask.sum())
        if not count:
            continue
        first = int(np.flatnonzero(mask)[0])
        if count == n or count > max_drop * n:
            raise DataError(
                p,
                f"{reason} ({count} of {n} rows, {count / n:.0%}; textladder drops at most "
                f"{max_drop:.0%} of a file, set by {option('max_drop')})",
                **where(first),
            )
        lines = ", ".join(str(int(x)) for x in table[LINE].to_numpy()[mask][:5])
        more = "" if count <= 5 else ", ..."
        log.warning("%s: dropped %d of %d rows with %s (%ss %s%s)", p, count, n, reason, line_kind, lines, more)
        dropped[reason] = count
        keep &= ~mask
    table = table[keep].reset_index(drop=True)

    if cols.id is not None:
        ids = table[cols.id].astype(str).str.strip()
    else:
        ids = table[LINE].astype(str)
    if cols.id is not None and ids.duplicated().any():
        table, ids, dup_count = _dedupe(p, table, ids, cols, line_kind)
        if dup_count:
            log.warning("%s: dropped %d rows whose id repeats an earlier row with the same label", p, dup_count)
            dropped["duplicate id"] = dup_count

    labels = None
    if cols.label is not None and cols.label in table:
        raw = table[cols.label]
        labels = raw.where(raw.notna(), "").astype(str).str.strip().to_numpy(dtype=object)
        if min_class_rows > 1 and require_label:
            table, labels, ids = _drop_rare(p, table, labels, ids, min_class_rows, dropped)
        classes = sorted(set(labels.tolist()))
        odd = [c for c in classes if c.lower() in LOOKS_MISSING]
        if odd:
            log.warning("%s: class '%s' (%d rows) looks like a missing-value marker; if it means 'no label', "
                        "remove those rows or leave the label empty", p, odd[0], int((labels == odd[0]).sum()))
        if require_label and len(classes) < min_classes:
            only = f"'{classes[0]}'" if classes else "none"
            raise DataError(p, f"only one class ({only}) in column '{cols.label}'; a classifier needs at least two")
    period = None
    if cols.period is not None:
        period = table[cols.period].astype(object).where(table[cols.period].notna(), "")
        period = period.astype(str).str.strip().to_numpy(dtype=object)
    return Dataset(
        path=str(p), format=fmt, columns=cols,
        ids=ids.to_numpy(dtype=object), texts=table[cols.text].astype(str).to_numpy(dtype=object),
        labels=labels, period=period, lines=table[LINE].to_numpy(dtype=np.int64), line_kind=line_kind,
        dropped=dropped, sha256=receipt.sha256,
        extra={f: table[c].astype(object).where(table[c].notna(), "").astype(str).str.strip().to_numpy(dtype=object)
               for f, c in sources.items()},
        parts=None if split_col is None else split_parts(p, table[split_col], table[LINE], line_kind),
    )


SPLIT_PARTS = ("train", "val", "test")
_PART_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
               "dev": "val", "test": "test"}


def split_parts(path: Path, values: pd.Series, lines: pd.Series, line_kind: str) -> np.ndarray:
    """Each row's part of a given split (``train``, ``val`` or ``test``), from a split column's values (any
    case; ``dev``, ``valid`` and ``validation`` mean ``val``, ``training`` means ``train``). Any other
    value, an empty one included, is a :class:`DataError` at its first row naming every value found.

    Example:
        >>> split_parts(Path("d.csv"), pd.Series(["train", "Dev", "test"]), pd.Series([2, 3, 4]), "line").tolist()
        ['train', 'val', 'test']
    """
    raw = values.astype(object).where(values.notna(), "").astype(str).str.strip()
    parts = raw.str.lower().map(_PART_NAMES)
    bad = parts.isna().to_numpy()
    if bad.any():
        found = raw.value_counts()
        shown = ", ".join(f"'{v}' ({n:,})" for v, n in found.items() if v.lower() not in _PART_NAMES)
        known = ", ".join(f"'{v}' ({n:,})" for v, n in found.items() if v.lower() in _PART_NAMES)
        raise DataError(path, f"split column '{values.name}' has values other than train, val, test: {shown}"
                              f"{'; the others are ' + known if known else ''}",
                        **{line_kind: int(lines.iat[int(np.flatnonzero(bad)[0])])})
    return parts.to_numpy(dtype=object)


def join_parts(parts: dict[str, Dataset]) -> Dataset:
    """One dataset of a given split from a file per part (``train``, ``test``, and ``val`` when given):
    rows keep their file's order, train first. Rows of a file without ids are numbered by line, so the
    ids of the test and validation files are prefixed with their part (``test:2``) to stay apart; ids
    that two files share are an error naming both files.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "a.csv").write_text("text,label\\ngood,joy\\nbad,sad\\n")
        >>> _ = (d / "b.csv").write_text("text,label\\nfine,joy\\n")
        >>> both = join_parts({"train": load_dataset(d / "a.csv"), "test": load_dataset(d / "b.csv", min_classes=1)})
        >>> both.ids.tolist(), both.parts.tolist()
        (['2', '3', 'test:2'], ['train', 'train', 'test'])
    """
    first = parts["train"]
    seen: dict[str, str] = {}
    ids = []
    for part, ds in parts.items():
        own = ds.ids if ds.columns.id is not None or part == "train" else np.array(
            [f"{part}:{i}" for i in ds.ids], dtype=object)
        clash = [i for i in own.tolist() if i in seen]
        if clash:
            raise DataError(ds.path, f"id '{clash[0]}' is in {seen[clash[0]]} too ({len(clash):,} ids are in both "
                                     "files); the parts of a split must not share rows")
        seen.update(dict.fromkeys(own.tolist(), ds.path))
        ids.append(own)
    values = list(parts.values())
    dropped: dict[str, int] = {}
    for ds in values:
        for reason, n in ds.dropped.items():
            dropped[reason] = dropped.get(reason, 0) + n
    return Dataset(
        path=first.path, format=first.format, columns=first.columns, ids=np.concatenate(ids),
        texts=np.concatenate([ds.texts for ds in values]),
        labels=None if first.labels is None else np.concatenate([ds.labels for ds in values]),
        period=None if first.period is None else np.concatenate([ds.period for ds in values]),
        lines=np.concatenate([ds.lines for ds in values]), line_kind=first.line_kind, dropped=dropped,
        sha256=combined_sha256([ds.sha256 for ds in values]),
        extra={name: np.concatenate([ds.extra[name] for ds in values]) for name in first.extra},
        parts=np.concatenate([np.full(len(ds), part, dtype=object) for part, ds in parts.items()]),
    )


def combined_sha256(hashes: list[str | None]) -> str | None:
    """One sha256 for data read from several files: the file's own when there is one, else the hash of
    theirs in order (a change to any file changes it)."""
    if len(hashes) == 1 or any(h is None for h in hashes):
        return hashes[0]
    return hashlib.sha256(" ".join(hashes).encode("ascii")).hexdigest()


def feature_column(feature: str, cols: Columns, columns: list[str], path: Path, kind: str) -> str:
    """The file's column of an extra input: ``period`` is the detected period column, any other name a
    column of that name; a clear error when the file has none."""
    if feature == "period" and cols.period is not None:
        return cols.period
    if feature not in columns:
        hint = f" (name the period column with {option('period_col', 'COL')})" if feature == "period" else ""
        raise DataError(path, f"no column '{feature}' for the extra input '{feature}'{hint}; columns are: "
                              f"{', '.join(columns)}", **({"line": 1} if kind == "csv" else {}))
    if feature in (cols.text, cols.label):
        raise DataError(path, f"column '{feature}' is the {'text' if feature == cols.text else 'label'} column; "
                              "it cannot also be an extra input")
    refuse_nested(path, {"extra input": feature})
    return feature


def _drop_rare(path: Path, table: pd.DataFrame, labels: np.ndarray, ids: pd.Series, min_rows: int,
               dropped: dict[str, int]):
    """Drop the rows of classes with fewer than ``min_rows`` rows (``--min-class-rows``), with a warning."""
    values, counts = np.unique(labels, return_counts=True)
    rare = {str(v): int(c) for v, c in zip(values, counts) if c < min_rows}
    if not rare:
        return table, labels, ids
    keep = ~np.isin(labels, list(rare))
    shown = ", ".join(f"'{c}' ({n})" for c, n in sorted(rare.items(), key=lambda x: x[1])[:5])
    log.warning("%s: dropped %d classes with fewer than %d rows (--min-class-rows): %s%s", path, len(rare),
                min_rows, shown, ", ..." if len(rare) > 5 else "")
    dropped["rare class"] = int((~keep).sum())
    return table[keep].reset_index(drop=True), labels[keep], ids[keep].reset_index(drop=True)


def _dedupe(path: Path, table: pd.DataFrame, ids: pd.Series, cols: Columns, line_kind: str):
    dup = ids.duplicated(keep=False)
    if cols.label is not None:
        labels = table[cols.label].astype(str).str.strip()
        first_label: dict[str, tuple[str, int]] = {}
        for i in np.flatnonzero(dup.to_numpy()):
            key, lab, line = ids.iat[i], labels.iat[i], int(table[LINE].iat[i])
            if key not in first_label:
                first_label[key] = (lab, line)
            elif first_label[key][0] != lab:
                lab0, line0 = first_label[key]
                raise DataError(
                    path,
                    f"id '{key}' appears again with a different label ('{lab}'; {line_kind} {line0} has '{lab0}')",
                    **{line_kind: line},
                )
    later = ids.duplicated(keep="first").to_numpy()
    return table[~later].reset_index(drop=True), ids[~later].reset_index(drop=True), int(later.sum())


def encode(labels: np.ndarray, classes: list[str]) -> np.ndarray:
    """Class names -> indices into the sorted ``classes``."""
    index = {c: i for i, c in enumerate(classes)}
    return np.fromiter((index[label] for label in labels), dtype=np.int64, count=len(labels))


def corrected(ds: Dataset, source: str | Path) -> Dataset:
    """``ds`` with the labels people corrected in place of the given ones, before any split: ``source`` is a
    CSV or Parquet file of id and label (what the label-issues review page saves) or a column of the data
    (:func:`textladder.data.reader.read_id_labels`). An id that is not in the data, or a label that is not
    one of its classes, is one error naming the file and its line. The dataset's sha256 then covers the
    corrections too.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "d.csv").write_text("id,text,label\\n1,my dog,pets\\n2,the gym,pets\\n3,a run,sport\\n")
        >>> _ = (folder / "fixes.csv").write_text("id,label\\n2,sport\\n")
        >>> corrected(load_dataset(folder / "d.csv"), folder / "fixes.csv").labels.tolist()
        ['pets', 'sport', 'sport']
    """
    frame, path = read_id_labels(source, ds.path, ds.columns.id)
    position = {str(k): i for i, k in enumerate(ds.ids.tolist())}
    classes = set(ds.classes)
    kind = numbering(path)
    labels = np.asarray(ds.labels, dtype=object).copy()
    changed = 0
    for row in frame.to_dict("records"):
        where = {kind: int(row[LINE])}
        i = position.get(str(row["id"]))
        if i is None:
            raise DataError(path, f"id {row['id']} is not a row of {Path(ds.path).name}", **where)
        if row["label"] not in classes:
            raise DataError(path, f"label '{row['label']}' (id {row['id']}) is not one of the classes "
                                  f"({', '.join(sorted(classes))})", **where)
        changed += labels[i] != row["label"]
        labels[i] = row["label"]
    log.info("%s: %d labels corrected (%d changed)", path, len(frame), changed)
    return replace(ds, labels=labels, sha256=combined_sha256([ds.sha256, sha256_file(path)]))
