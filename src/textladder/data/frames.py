"""DataFrames given to the Python API, saved as the files every run records.

A run names its data file and that file's sha256, so it can be traced, cached and scored again. A
DataFrame given to :func:`textladder.train` (or ``search``, ``climb``, ``find_label_issues``) is
therefore written once as Parquet in the runs folder's ``data/`` folder, named by the sha256 of its
bytes: the same frame again is the same file, so a ladder reads back rungs it already trained on it.
A named index (``df.set_index("id")``) is kept as a column; an unnamed one is dropped and rows are
numbered in order, as the lines of a file are. A problem found in the data later names the saved file
and its row (row 1 is the frame's first row).

Example:
    >>> import tempfile, pandas as pd
    >>> frame = pd.DataFrame({"text": ["my dog", "the gym"], "label": ["pets", "sport"]})
    >>> folder = tempfile.mkdtemp()
    >>> path = saved_frame(frame, folder)
    >>> path == saved_frame(frame.copy(), folder), path.parent.name, path.suffix
    (True, 'data', '.parquet')
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from textladder.errors import TextladderError
from textladder.files import write_by_content

FOLDER = "data"


def saved_frame(frame: pd.DataFrame, runs: str | Path) -> Path:
    """The Parquet file under ``runs/data/`` holding ``frame`` (written now unless the same bytes are
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

    def write(tmp: Path) -> None:
        try:
            frame.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")
        except (TypeError, ValueError, ImportError) as exc:  # pyarrow's ArrowInvalid/ArrowTypeError are these
            raise TextladderError(f"the DataFrame given cannot be saved as Parquet: {exc}") from None

    return write_by_content(Path(runs) / FOLDER, "frame", ".parquet", write)


def data_path(data, runs: str | Path) -> str | Path:
    """``data`` as the API passes it on: a path as it is, a DataFrame as :func:`saved_frame`'s file."""
    if isinstance(data, pd.DataFrame):
        return saved_frame(data, runs)
    if isinstance(data, (str, Path)):
        return data
    raise TextladderError(f"data is a file path or a pandas DataFrame, not {type(data).__name__}")
