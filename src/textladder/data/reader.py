"""Read CSV and Parquet files record by record, remembering where each came from.

CSV goes through Python's C ``csv`` module in strict mode, so CRLF endings and
quoted line breaks are handled as a real CSV parser should, and every record
keeps the physical line it starts on. CSV compressed with gzip, bzip2, xz or
zstd is read as it is, recognised by its first bytes (not its name). Problems
become a :class:`DataError` that names the file, the line (CSV) or row
(Parquet) and the problem. Only regular files are read (a FIFO would hang).

What was read is what is hashed: pass a :class:`Receipt` and it gets the sha256
of the bytes the reader consumed; a file that changes while it is read (its
size or modification time moves) is refused.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_bytes(b'text,label\\r\\n"two\\r\\nlines",a\\r\\nb,c\\r\\n')
    >>> frame = read_table(p)
    >>> frame["_line"].tolist(), frame["text"].tolist()
    ([2, 4], ['two\\r\\nlines', 'b'])
"""

from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import io
import lzma
import os
import zlib
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from textladder.data.frames import is_saved_frame
from textladder.errors import DataError, MissingExtra, TextladderError
from textladder.files import sha256_file

LINE = "_line"  # column added to every chunk: CSV line, or Parquet (or saved DataFrame) row, of the record
CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
COMPRESSED_SUFFIXES = {".gz", ".zst", ".bz2", ".xz"}
_PARQUET_MAGIC = b"PAR1"
_MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}
FIELD_LIMIT = 64 * 1024 * 1024  # the longest CSV field (one text), in characters

csv.field_size_limit(FIELD_LIMIT)


@dataclass
class Receipt:
    """What a read consumed: the sha256 and size of the file's bytes (filled in when the read ends)."""

    sha256: str | None = None
    bytes: int = 0


def compression(head: bytes) -> str | None:
    """The compression recognised from a file's first bytes: gzip, zstd, bzip2, xz, or None.

    Example:
        >>> compression(bytes([0x1F, 0x8B, 8, 0])), compression(b"text,label")
        ('gzip', None)
    """
    return next((name for magic, name in _MAGIC.items() if head.startswith(magic)), None)


def _decompressed(raw, kind: str | None):
    """A binary reader of ``raw``'s decompressed bytes."""
    if kind is None:
        return raw
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if kind == "bzip2":
        return bz2.BZ2File(raw, mode="rb")
    if kind == "xz":
        return lzma.LZMAFile(raw, mode="rb")
    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)


def _plain_name(path: Path) -> Path:
    """``data.tsv.gz`` -> ``data.tsv`` (for the delimiter and messages)."""
    return path.with_suffix("") if path.suffix.lower() in COMPRESSED_SUFFIXES else path


def file_kind(path: str | Path) -> str:
    """Check that ``path`` is a readable, non-empty data file; return ``"csv"`` or ``"parquet"``.

    Example:
        >>> file_kind("does/not/exist.csv")
        Traceback (most recent call last):
        ...
        textladder.errors.DataError: does/not/exist.csv: file not found
    """
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        raise DataError(p, "file not found") from None
    except OSError as exc:
        raise DataError(p, f"cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise DataError(p, "is a folder, not a data file")
    if not stat.S_ISREG(mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "not a regular file (a device or socket)"
        raise DataError(p, f"is {kind}; textladder reads regular files only: save the data to a file first")
    size = p.stat().st_size
    if size == 0:
        raise DataError(p, "file is empty")
    try:
        with open(p, "rb") as fh:
            head = fh.read(8192)
            packed = compression(head)
            if packed is not None:
                fh.seek(0)
                try:
                    head = _decompressed(fh, packed).read(8192)
                except Exception as exc:  # noqa: BLE001 - each decompressor has its own errors
                    raise DataError(p, f"damaged {packed} data ({exc})") from None
    except PermissionError:
        raise DataError(p, "permission denied") from None
    if head.startswith(_PARQUET_MAGIC) or p.suffix.lower() in PARQUET_SUFFIXES:
        if packed is not None:
            raise DataError(p, f"a Parquet file inside {packed}: decompress it first (Parquet compresses itself)")
        if not head.startswith(_PARQUET_MAGIC):
            raise DataError(p, "not a Parquet file (it does not start with the PAR1 magic bytes)")
        return "parquet"
    if not head:
        raise DataError(p, f"file is empty (after {packed} decompression)")
    nul = head.find(b"\x00")
    if nul >= 0:
        line = head.count(b"\n", 0, nul) + 1
        raise DataError(p, f"binary data (a NUL byte at offset {nul}); expected CSV text or Parquet", line=line)
    return "csv"


def _delimiter(path: Path) -> str:
    return "\t" if _plain_name(path).suffix.lower() == ".tsv" else ","


class _CountingReader(io.RawIOBase):
    """Binary reader that hashes the bytes it passes on and reports how many (for progress bars)."""

    def __init__(self, raw, on_bytes: Callable[[int], None] | None):
        self._raw = raw
        self._on_bytes = on_bytes
        self.digest = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self._raw.readinto(b)
        if n:
            self.digest.update(memoryview(b)[:n])
            self.count += n
            if self._on_bytes is not None:
                self._on_bytes(n)
        return n


def _signature(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def _changed(path: Path) -> DataError:
    return DataError(path, "changed while it was being read (its size or modification time moved); run again "
                           "once nothing is writing to it")


def _open_text(path: Path):
    """A text reader (UTF-8, BOM dropped, newlines kept) of a plain or compressed file."""
    raw = open(path, "rb")
    head = raw.read(8)
    raw.seek(0)
    return io.TextIOWrapper(_decompressed(raw, compression(head)), encoding="utf-8-sig", errors="strict",
                            newline="")


def _locate_bad_utf8(path: Path) -> DataError:
    with open(path, "rb") as packed:
        head = packed.read(8)
        packed.seek(0)
        fh = io.BufferedReader(_decompressed(packed, compression(head))) if compression(head) else packed
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


def _iter_csv(path: Path, chunk_size: int, on_bytes, receipt: Receipt | None) -> Iterator[pd.DataFrame]:
    before = _signature(path)
    with open(path, "rb", buffering=0) as raw:
        counting = _CountingReader(raw, on_bytes)
        buffered = io.BufferedReader(counting, buffer_size=1 << 20)
        packed = compression(buffered.peek(8)[:8])
        if packed is not None:
            buffered = io.BufferedReader(_decompressed(buffered, packed), buffer_size=1 << 20)
        text = io.TextIOWrapper(buffered, encoding="utf-8-sig", errors="strict", newline="")
        lines_in = _Lines(text)
        reader = csv.reader(lines_in, delimiter=_delimiter(path), strict=True)
        last_line = 0
        damaged = _decompress_errors(packed)
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
            by_row, number = is_saved_frame(path), 0  # a saved DataFrame: its rows are numbered, not its lines
            for record in reader:
                start = last_line + 1
                last_line = lines_in.count
                if not record or (len(record) == 1 and not record[0].strip() and width > 1):
                    continue  # blank line
                if len(record) != width:
                    raise DataError(path, f"{len(record)} fields, but the header has {width}", line=start)
                rows.append(record)
                number += 1
                lines.append(number if by_row else start)
                if len(rows) >= chunk_size:
                    yield _frame(columns, rows, lines)
                    rows, lines = [], []
            last = _frame(columns, rows, lines) if rows else None
            while counting.readinto(bytearray(1 << 16)):  # bytes after the last record are read (and hashed) too
                pass
            if _signature(path) != before or counting.count != before[0]:
                raise _changed(path)
            if receipt is not None:
                receipt.sha256, receipt.bytes = counting.digest.hexdigest(), counting.count
            if last is not None:
                yield last
        except UnicodeDecodeError:
            raise _locate_bad_utf8(path) from None
        except damaged as exc:
            raise DataError(path, f"damaged {packed} data ({exc})", line=last_line + 1) from None
        except csv.Error as exc:
            msg = str(exc)
            if "field larger" in msg:
                msg = (f"a field is longer than textladder's limit of {FIELD_LIMIT:,} characters "
                       "(one text that large is likely a missing closing quote, or not text)")
            elif "unexpected end of data" in msg:
                msg = "unterminated quoted field: a '\"' opens here and never closes"
            else:
                msg = f"malformed CSV: {msg}"
            raise DataError(path, msg, line=last_line + 1) from None


def _decompress_errors(packed: str | None) -> tuple[type[BaseException], ...]:
    """What each decompressor raises for damaged or cut-short data (nothing for plain files)."""
    if packed is None:
        return ()
    if packed == "zstd":
        import zstandard

        return (zstandard.ZstdError, EOFError)
    return {"gzip": (gzip.BadGzipFile, zlib.error, EOFError), "xz": (lzma.LZMAError, EOFError),
            "bzip2": (OSError, EOFError)}[packed]  # bz2 raises a plain OSError("Invalid data stream")


def _frame(columns: list[str], rows: list[list[str]], lines: list[int]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    frame[LINE] = lines
    return frame


def parquet_module(what: str):
    """pyarrow's Parquet module; without it, :class:`~textladder.errors.MissingExtra` saying that ``what``
    (``"reading data.parquet"``) needs the ``[parquet]`` extra."""
    try:
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        raise MissingExtra(what, "pyarrow") from None
    return pq


def _parquet_file(path: Path):
    pq = parquet_module(f"reading {path}")
    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DataError(path, f"unreadable Parquet file ({exc})") from None


def _iter_parquet(path: Path, chunk_size: int, on_rows, receipt: Receipt | None) -> Iterator[pd.DataFrame]:
    before = _signature(path)
    if receipt is not None:  # Parquet is read by seeking, so it is hashed whole first; a change is caught below
        receipt.sha256, receipt.bytes = sha256_file(path), before[0]
    pf = _parquet_file(path)
    columns = _header(path, list(pf.schema_arrow.names), line=None)
    start = 1
    batches = pf.iter_batches(batch_size=chunk_size)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            break
        except Exception as exc:  # noqa: BLE001 - a damaged row group
            raise DataError(path, f"unreadable Parquet data ({exc})", row=start) from None
        frame = batch.to_pandas()
        frame.columns = columns
        frame = frame.astype(object).where(frame.notna(), None)
        frame[LINE] = range(start, start + len(frame))
        start += len(frame)
        if on_rows is not None:
            on_rows(len(frame))
        if _signature(path) != before:
            raise _changed(path)
        yield frame


def refuse_nested(path: str | Path, roles: dict[str, str]) -> None:
    """Refuse Parquet columns (``roles``: role -> column) that hold lists, structs, maps or raw bytes
    rather than one text or label per row; CSV columns are always text.

    Example:
        >>> import tempfile, pathlib, pyarrow as pa, pyarrow.parquet as pq
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
        >>> pq.write_table(pa.table({"text": ["hi"], "label": [["a"]]}), p)
        >>> refuse_nested(p, {"text": "text", "label": "label"})
        Traceback (most recent call last):
        ...
        textladder.errors.DataError: ...t.parquet: label column 'label' holds list<element: string> values, not one value per row; ...
    """
    p = Path(path)
    if file_kind(p) != "parquet":
        return
    schema = _parquet_file(p).schema_arrow
    import pyarrow as pa

    for role, col in roles.items():
        if col is None or col not in schema.names:
            continue
        t = schema.field(col).type
        nested = pa.types.is_nested(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t) \
            or pa.types.is_fixed_size_binary(t)
        if nested:
            raise DataError(p, f"{role} column '{col}' holds {t} values, not one value per row; textladder needs "
                               "one text and one label per row (flatten or join the column first)")


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
        return _header(p, list(_parquet_file(p).schema_arrow.names))
    try:
        with _open_text(p) as fh:
            header = next(csv.reader(fh, delimiter=_delimiter(p), strict=True), None)
    except UnicodeDecodeError:
        raise _locate_bad_utf8(p) from None
    except csv.Error as exc:
        msg = "a field is too long" if "field larger" in str(exc) else str(exc)
        raise DataError(p, f"malformed CSV header: {msg}", line=1) from None
    except Exception as exc:  # noqa: BLE001 - damaged compressed data
        if isinstance(exc, DataError):
            raise
        raise DataError(p, f"unreadable ({exc})", line=1) from None
    if header is None:
        raise DataError(p, "file is empty")
    return _header(p, header)


def total_units(path: str | Path) -> tuple[int, str]:
    """Progress total for :func:`iter_chunks`: ``(bytes, "bytes")`` for CSV, ``(rows, "rows")`` for Parquet."""
    p = Path(path)
    if file_kind(p) == "parquet":
        return _parquet_file(p).metadata.num_rows, "rows"
    return p.stat().st_size, "bytes"  # compressed bytes for a compressed file: the progress counts those


def estimated_rows(path: str | Path, sample: int = 200_000) -> int:
    """Rows of a data file, quickly, for time estimates: Parquet's metadata, or the records of a
    CSV (quoted line breaks handled; nothing checked). Past ``sample`` records the rest is
    extrapolated from the share of the file's bytes read so far.

    Example:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
        >>> _ = f.write_text('text,label\\n"two\\nlines",a\\none,b\\n')
        >>> estimated_rows(f), estimated_rows(f, sample=1) >= 1
        (2, True)
    """
    p = Path(path)
    if file_kind(p) == "parquet":
        return _parquet_file(p).metadata.num_rows
    size = p.stat().st_size
    with open(p, "rb") as raw:
        head = raw.read(8)
        raw.seek(0)
        text = io.TextIOWrapper(_decompressed(raw, compression(head)), encoding="utf-8-sig", errors="replace",
                                newline="")
        records = 0
        for records, _ in enumerate(csv.reader(text, delimiter=_delimiter(p)), 1):
            if records > sample:
                return int(records * size / max(raw.tell(), 1)) - 1
    return max(records - 1, 0)


def numbering(path: str | Path, kind: str | None = None) -> str:
    """How messages and ids count a file's records: ``"row"`` for Parquet and for a DataFrame the API saved
    (:func:`textladder.data.frames.is_saved_frame`), ``"line"`` for CSV (the line a record starts on).
    ``kind``: :func:`file_kind` of ``path`` when the caller has it already (else the file's head is read)."""
    return "row" if (kind or file_kind(path)) == "parquet" or is_saved_frame(path) else "line"


def iter_chunks(
    path: str | Path,
    chunk_size: int = 10_000,
    on_progress: Callable[[int], None] | None = None,
    receipt: Receipt | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield the records of a CSV or Parquet file as DataFrames of at most ``chunk_size`` rows.

    Every value is a ``str`` (CSV) or the Parquet value; column ``_line`` holds the
    CSV line a record starts on, or the 1-based row of a Parquet file or of a saved DataFrame
    (:func:`numbering`). ``on_progress`` is
    called with the bytes (CSV) or rows (Parquet) consumed, for progress bars.
    ``receipt`` gets the sha256 of what was read once the last chunk is out; a file
    that changed meanwhile raises :class:`DataError` instead.

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
        yield from _iter_parquet(p, chunk_size, on_progress, receipt)
    else:
        yield from _iter_csv(p, chunk_size, on_progress, receipt)


def read_table(path: str | Path, on_progress: Callable[[int], None] | None = None,
               receipt: Receipt | None = None) -> pd.DataFrame:
    """Read a whole CSV or Parquet file into one DataFrame (with the ``_line`` column); ``receipt`` gets
    the sha256 of the bytes read.

    Raises :class:`DataError` for a file with a header and no data rows, or one that changed while read.
    """
    p = Path(path)
    chunks = list(iter_chunks(p, chunk_size=50_000, on_progress=on_progress, receipt=receipt))
    if not chunks:  # header problems were raised while reading
        raise DataError(p, "has a header but no data rows")
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]


def read_id_labels(source: str | Path, data: str | Path, id_col: str | None) -> tuple[pd.DataFrame, Path]:
    """Labels given to rows somewhere other than the label column (people's labels, a second opinion):
    a column of ``data`` named ``source`` (rows left empty there have none; with ``id_col`` None rows are
    known by their line, as in training), else a CSV or Parquet file whose first column is the row id and
    whose second is the label (HappyDB's ``ground_truth_train.csv``). Returns a frame of ``id``,
    ``label`` and ``_line`` (where each was read) and the file read.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "data.csv").write_text("id,text,label,checked\\n1,a,x,y\\n2,b,x,\\n")
        >>> frame, path = read_id_labels("checked", d / "data.csv", "id")
        >>> frame.to_dict("records"), path.name
        ([{'id': '1', 'label': 'y', '_line': 2}], 'data.csv')
    """
    data = Path(data)
    if data.is_file() and str(source) in columns_of(data):
        table = read_table(data)
        ids = table[id_col] if id_col else table[LINE]  # without an id column a row's id is its line, as in training
        frame = pd.DataFrame({"id": ids, "label": table[str(source)], LINE: table[LINE]})
        path = data
    else:
        path = Path(source)
        if not path.is_file():
            raise TextladderError(f"{source}: neither a column of {data.name} nor a file")
        table = read_table(path)
        if table.shape[1] < 3:  # the id, the label and _line
            raise DataError(path, "a label file has two columns, the row id and the label", line=1)
        frame = pd.DataFrame({"id": table.iloc[:, 0], "label": table.iloc[:, 1], LINE: table[LINE]})
    frame = frame[frame["label"].notna() & frame["id"].notna()].astype({"id": str, "label": str})
    frame["id"] = frame["id"].str.strip()  # as the dataset reads ids
    frame = frame[frame["label"].str.strip() != ""]
    return frame.reset_index(drop=True), path
