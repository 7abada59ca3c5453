"""Download a public dataset into the user cache: verified, atomic, with progress.

The file is streamed into a hidden temporary file (``.tmp-...``) beside its destination while
its sha256 is computed; only a complete download whose size matches the
server's ``Content-Length``, whose checksum matches, and whose header is the
expected format is renamed into place. A partial download never looks
complete.

Example:
    >>> fetch("happydb", url="http://127.0.0.1:8765/cleaned_hm.csv")  # doctest: +SKIP
    PosixPath('/home/me/.cache/textladder/happydb/cleaned_hm.csv')
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from textladder.data.dataset import file_sha256
from textladder.data.formats import HAPPYDB, Format, detect
from textladder.data.reader import columns_of
from textladder.errors import DataError, TextladderError, is_disk_full
from textladder.files import atomic_file, lock


@dataclass(frozen=True)
class Remote:
    name: str
    url: str
    filename: str
    format: Format
    sha256: str | None  # None: no checksum is pinned; the first download's is recorded and enforced after
    home: str


REMOTES = {
    "happydb": Remote(
        name="happydb",
        url="https://raw.githubusercontent.com/megagonlabs/HappyDB/master/happydb/data/cleaned_hm.csv",
        filename="cleaned_hm.csv",
        format=HAPPYDB,
        sha256=None,
        home="https://github.blesdmm.dns-dynamic.net/megagonlabs/HappyDB",
    ),
}


def cache_dir() -> Path:
    """``$TEXTLADDER_CACHE``, else ``$XDG_CACHE_HOME/textladder``, else ``~/.cache/textladder``."""
    if os.environ.get("TEXTLADDER_CACHE"):
        return Path(os.environ["TEXTLADDER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "textladder"


def cached_path(name: str) -> Path:
    """Where ``fetch(name)`` puts its file."""
    remote = _remote(name)
    return cache_dir() / remote.name / remote.filename


def _remote(name: str) -> Remote:
    try:
        return REMOTES[name]
    except KeyError:
        raise TextladderError(f"unknown dataset '{name}'; known: {', '.join(REMOTES)}") from None


def fetch(
    name: str,
    url: str | None = None,
    sha256: str | None = None,
    dest: str | Path | None = None,
    force: bool = False,
    timeout: float = 60.0,
    on_start: Callable[[int | None], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Path:
    """Download dataset ``name`` (from ``url`` if given) into the cache, or ``dest``.

    The expected checksum is ``sha256`` if given, else the pinned one, else the
    one recorded by an earlier download into the same place. A file already
    there that matches is not downloaded again (``force`` re-downloads).
    """
    remote = _remote(name)
    url = url or os.environ.get(f"TEXTLADDER_{name.upper()}_URL") or remote.url
    dest = Path(dest) if dest else cached_path(name)
    record = dest.parent / f"{dest.name}.sha256"
    expected = (sha256 or remote.sha256 or (record.read_text().strip() if record.is_file() else None))
    expected = expected.lower() if expected else None
    if dest.is_file() and not force:
        have = file_sha256(dest)
        if expected is None or have == expected:
            return dest
    digest = hashlib.sha256()
    received = 0
    with lock(dest), atomic_file(dest) as part:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                if on_start:
                    on_start(total)
                with open(part, "wb") as out:
                    while True:
                        block = resp.read(1 << 16)
                        if not block:
                            break
                        out.write(block)
                        digest.update(block)
                        received += len(block)
                        if on_progress:
                            on_progress(len(block))
        except urllib.error.HTTPError as exc:
            raise TextladderError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            if is_disk_full(exc):
                raise
            reason = getattr(exc, "reason", exc)
            raise TextladderError(
                f"{url}: download failed after {received:,} bytes ({reason}); nothing was saved, run again"
            ) from None
        if total is not None and received != total:
            raise TextladderError(
                f"{url}: connection closed after {received:,} of {total:,} bytes; nothing was saved, run again")
        got = digest.hexdigest()
        if expected and got != expected:
            raise TextladderError(
                f"{url}: sha256 mismatch: expected {expected}, got {got}; the file was not saved")
        fmt = detect(columns_of(part))
        if fmt is None or fmt.name != remote.format.name:
            raise DataError(url, f"downloaded file is not {remote.format.description} "
                                 f"(detected {fmt.name if fmt else 'an unknown format'}); not saved", line=1)
    with atomic_file(record) as tmp:
        tmp.write_text(got + "\n")
    return dest
