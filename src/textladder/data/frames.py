"""DataFrames given to the Python API, saved as the files every run records.

A run names its data file and that file's sha256, so it can be traced, cached and scored again. A
DataFrame given to :func:`textladder.train` (or ``search``, ``climb``, ``find_label_issues``) is
therefore written once as CSV (every field quoted) in the runs folder's ``data/`` folder, named by the
sha256 of its bytes: the same frame again is the same file, so a ladder reads back rungs it already
trained on it. A named index (``df.set_index("id")``) is kept as a column; an unnamed one is dropped
and rows are numbered in order, from 1: the reader numbers a saved frame's rows, not its lines (its
texts may span lines). A problem found in the data later names the saved file and its row.

CSV rather than Parquet, so that the core install needs no pyarrow (Parquet is the ``[parquet]``
extra); the reader reads every field as text whichever the format, so nothing is lost.

Example:
    >>> import tempfile, pandas as pd
    >>> frame = pd.DataFrame({"text": ["my dog", "the gym"], "label": ["pets", "sport"]})
    >>> folder = tempfile.mkdtemp()
    >>> path = saved_frame(frame, folder)
    >>> path == saved_frame(frame.copy(), folder), path.parent.name, path.suffix, is_saved_frame(path)
    (True, 'data', '.csv', True)
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd

from textladder.errors import TextladderError
from textladder.files import write_by_content

FOLDER = "data"
_NAME = re.compile(r"frame-[0-9a-f]{16}\.csv")


def is_saved_frame(path: str | Path) -> bool:
    """Whether ``path`` is a DataFrame saved by :func:`saved_frame` (its rows are numbered, not its lines)."""
    p = Path(path)
    return p.parent.name == FOLDER and _NAME.fullmatch(p.name) is not None


def saved_frame(frame: pd.DataFrame, runs: str | Path) -> Path:
    """The CSV file under ``runs/data/`` holding ``frame`` (written now unless the same bytes are
    there already; atomically, so commands running at once never see half a file)."""
    if not isinstance(frame, pd.DataFrame):
        raise TextladderError(f"expected a pandas DataFrame, not {type(frame).__name__}")
    if frame.empty:
        raise TextladderError("the DataFrame given has no rows")
    if any(name is not None for name in frame.index.names) and not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    bad = [repr(c) for c in frame.columns if not isinstance(c, str)]
    if bad:
        raise TextladderError(f"the DataFrame's column names must be text, not {', '.join(bad[:3])} "
                              "(rename them, e.g. frame.columns = frame.columns.map(str))")
    dupes = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if dupes:
        raise TextladderError(f"the DataFrame has two columns named {dupes[0]!r}")

    def holds_collections(column: pd.Series) -> bool:
        return column.dtype == object and column.map(lambda v: isinstance(v, list | tuple | dict | set)).any()

    nested = [c for c in frame.columns if holds_collections(frame[c])]
    if nested:
        raise TextladderError(f"the DataFrame's column {nested[0]!r} holds lists or dicts, not one value per row "
                              "(flatten or join the column first)")

    def write(tmp: Path) -> None:
        # every field quoted: an empty text is a row of its own, never a blank line the reader skips
        frame.to_csv(tmp, index=False, quoting=csv.QUOTE_ALL, lineterminator="\n", encoding="utf-8")

    return write_by_content(Path(runs) / FOLDER, "frame", ".csv", write)


def data_path(data, runs: str | Path) -> str | Path:
    """``data`` as the API passes it on: a path as it is, a DataFrame as :func:`saved_frame`'s file."""
    if isinstance(data, pd.DataFrame):
        return saved_frame(data, runs)
    if isinstance(data, (str, Path)):
        return data
    raise TextladderError(f"data is a file path or a pandas DataFrame, not {type(data).__name__}")
