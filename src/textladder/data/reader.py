"""Read CSV and Parquet files record by record, remembering where each came from.

CSV goes through Python's C ``csv`` module in strict mode, so CRLF endings and
quoted line breaks are handled as a real CSV parser should, and every record
keeps the physical line it starts on. Problems become a :class:`DataError`
that names the file, the line (CSV) or row (Parquet) and the problem.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_bytes(b'text,label\\r\\n"two\\r\\nlines",a\\r\\nb,c\\r\\n')
    >>> frame = read_table(p)
    >>> frame["_line"].tolist(), frame["text"].tolist()
    ([2, 4], ['two\\r\\nlines', 'b'])
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from textladder.errors import DataError

LINE = "_line"  # column added to every chunk: CSV line or Parquet row of the record
CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
_PARQUET_MAGIC = b"PAR1"

csv.field_size_limit(64 * 1024 * 1024)


def file_kind(path: str | Path) -> str:
    """Check that ``path`` is a readable, non-empty data file; return ``"csv"`` or ``"parquet"``.

    Example:
        >>> file_kind("does/not/exist.csv")
        Traceback (most recent call last):
        ...
        textladder.errors.DataError: does/not/exist.csv: file not found
    """
    p = Path(path)
    if not p.exists():
        raise DataError(p, "file not found")
    if p.is_dir():
        raise DataError(p, "is a folder, not a data file")
    size = p.stat().st_size
    if size == 0:
        raise DataError(p, "file is empty")
    with open(p, "rb") as fh:
        head = fh.read(8192)
    if head.startswith(_PARQUET_MAGIC) or p.suffix.lower() in PARQUET_SUFFIXES:
        if not head.startswith(_PARQUET_MAGIC):
            raise DataError(p, "not a Parquet file (it does not start with the PAR1 magic bytes)")
        return "parquet"
    nul = head.find(b"\x00")
    if nul >= 0:
        line = head.count(b"\n", 0, nul) + 1
        raise DataError(p, f"binary data (a NUL byte at offset {nul}); expected CSV text or Parquet", line=line)
    return "csv"


def _delimiter(path: Path) -> str:
    return "\t" if path.suffix.lower() == ".tsv" else ","


class _CountingReader(io.RawIOBase):
    """Binary reader that reports how many bytes have been consumed (for progress bars)."""

    def __init__(self, raw, on_bytes: Callable[[int], None] | None):
        self._raw = raw
        self._on_bytes = on_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self._raw.readinto(b)
        if n and self._on_bytes is not None:
            self._on_bytes(n)
        return n


def _locate_bad_utf8(path: Path) -> DataError:
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                byte = raw[exc.start]
                return DataError(
                    path,
                    f"not valid UTF-8 (byte 0x{byte:02x} at column {exc.start + 1}); save the file as UTF-8",
                    line=number,
                )
    return DataError(path, "not valid UTF-8; save the file as UTF-8")


def _header(path: Path, names: list[str], line: int = 1) -> list[str]:
    cols = [c.strip() for c in names]
    if not any(cols):
        raise DataError(path, "the header row is empty", line=line)
    seen: set[str] = set()
    for c in cols:
        if c in seen:
            raise DataError(path, f"column '{c}' appears twice in the header", line=line)
        seen.add(c)
    return cols


class _Lines:
    """Split text on ``\\n`` only and count the lines, so line numbers match what
    editors, ``grep -n`` and ``sed`` show (a lone ``\\r`` inside a quoted field is data)."""

    def __init__(self, text: io.TextIOBase):
        self._text = text
        self.count = 0

    def __iter__(self) -> Iterator[str]:
        rest = ""
        while block := self._text.read(1 << 20):
            parts = (rest + block).split("\n")
            rest = parts.pop()
            for part in parts:
                self.count += 1
                yield part + "\n"
        if rest:
            self.count += 1
            yield rest


def _iter_csv(path: Path, chunk_size: int, on_bytes) -> Iterator[pd.DataFrame]:
    with open(path, "rb", buffering=0) as raw:
        buffered = io.BufferedReader(_CountingReader(raw, on_bytes), buffer_size=1 << 20)
        text = io.TextIOWrapper(buffered, encoding="utf-8-sig", errors="strict", newline="")
        lines_in = _Lines(text)
        reader = csv.reader(lines_in, delimiter=_delimiter(path), strict=True)
        last_line = 0
        try:
            try:
                header = next(reader)
            except StopIteration:
                raise DataError(path, "file is empty") from None
            columns = _header(path, header)
            last_line = lines_in.count
            width = len(columns)
            rows: list[list[str]] = []
            lines: list[int] = []
            for record in reader:
                start = last_line + 1
                last_line = lines_in.count
                if not record or (len(record) == 1 and not record[0].strip() and width > 1):
                    continue  # blank line
                if len(record) != width:
                    raise DataError(path, f"{len(record)} fields, but the header has {width}", line=start)
                rows.append(record)
                lines.append(start)
                if len(rows) >= chunk_size:
                    yield _frame(columns, rows, lines)
                    rows, lines = [], []
            if rows:
                yield _frame(columns, rows, lines)
        except UnicodeDecodeError:
            raise _locate_bad_utf8(path) from None
        except csv.Error as exc:
            msg = str(exc)
            if "unexpected end of data" in msg or "field larger" in msg:
                msg = "unterminated quoted field: a '\"' opens here and never closes"
            else:
                msg = f"malformed CSV: {msg}"
            raise DataError(path, msg, line=last_line + 1) from None


def _frame(columns: list[str], rows: list[list[str]], lines: list[int]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    frame[LINE] = lines
    return frame


def _iter_parquet(path: Path, chunk_size: int, on_rows) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DataError(path, f"unreadable Parquet file ({exc})") from None
    columns = _header(path, list(pf.schema_arrow.names), line=None)
    start = 1
    for batch in pf.iter_batches(batch_size=chunk_size):
        frame = batch.to_pandas()
        frame.columns = columns
        frame = frame.astype(object).where(frame.notna(), None)
        frame[LINE] = range(start, start + len(frame))
        start += len(frame)
        if on_rows is not None:
            on_rows(len(frame))
        yield frame


def columns_of(path: str | Path) -> list[str]:
    """The header of a CSV or Parquet file, checked.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = p.write_text("id,text\\n1,hi\\n")
        >>> columns_of(p)
        ['id', 'text']
    """
    p = Path(path)
    kind = file_kind(p)
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            return _header(p, list(pq.ParquetFile(p).schema_arrow.names))
        except DataError:
            raise
        except Exception as exc:
            raise DataError(p, f"unreadable Parquet file ({exc})") from None
    try:
        with open(p, encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh, delimiter=_delimiter(p), strict=True), None)
    except UnicodeDecodeError:
        raise _locate_bad_utf8(p) from None
    except csv.Error as exc:
        raise DataError(p, f"malformed CSV header: {exc}", line=1) from None
    if header is None:
        raise DataError(p, "file is empty")
    return _header(p, header)


def total_units(path: str | Path) -> tuple[int, str]:
    """Progress total for :func:`iter_chunks`: ``(bytes, "bytes")`` for CSV, ``(rows, "rows")`` for Parquet."""
    p = Path(path)
    if file_kind(p) == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(p).metadata.num_rows, "rows"
    return p.stat().st_size, "bytes"


def iter_chunks(
    path: str | Path,
    chunk_size: int = 10_000,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield the records of a CSV or Parquet file as DataFrames of at most ``chunk_size`` rows.

    Every value is a ``str`` (CSV) or the Parquet value; column ``_line`` holds the
    CSV line a record starts on, or the 1-based Parquet row. ``on_progress`` is
    called with the bytes (CSV) or rows (Parquet) consumed, for progress bars.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = p.write_text("text,label\\nhi,a\\nyo,b\\nok,a\\n")
        >>> [len(c) for c in iter_chunks(p, chunk_size=2)]
        [2, 1]
    """
    p = Path(path)
    kind = file_kind(p)
    if kind == "parquet":
        yield from _iter_parquet(p, chunk_size, on_progress)
    else:
        yield from _iter_csv(p, chunk_size, on_progress)


def read_table(path: str | Path, on_progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Read a whole CSV or Parquet file into one DataFrame (with the ``_line`` column).

    Raises :class:`DataError` for a file with a header and no data rows.
    """
    p = Path(path)
    chunks = list(iter_chunks(p, chunk_size=50_000, on_progress=on_progress))
    if not chunks:  # header problems were raised while reading
        raise DataError(p, "has a header but no data rows")
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
