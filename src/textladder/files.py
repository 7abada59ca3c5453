"""Writing files safely: the one home of atomic writes, locks and checksums.

Every writer in textladder (run folders, checkpoints, predictions, the report, explore, fetch,
ONNX export) goes through this module, so the same rules hold everywhere:

- **Atomic.** Output is written under a hidden temporary name beside its final place
  (``.tmp-NAME-PID-RANDOM``: unique per process) and renamed when complete; a failure or an
  interrupt deletes the temporary. A reader never sees half a file or half a folder.
- **No silent replacing.** :func:`atomic_folder` refuses to replace an existing folder unless
  asked to (``overwrite=True``); the final rename of a folder onto a finished one fails rather
  than replacing it.
- **Locks.** :func:`lock` makes a second command writing the same target at the same time fail
  at once with "in use by process PID" (a lock whose process is gone is taken over).
- **A full disk** is one clear :class:`DiskFull` error naming the folder, not an ``OSError``.
- **Stale temporaries** (a process killed with ``kill -9`` cleans nothing) are found by
  :func:`stale_temporaries`: their process no longer runs.
- **Checksums.** :func:`write_checksums` records the sha256 of every file of a folder;
  :func:`verify_checksums` refuses a folder whose files were cut short or changed.

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_folder(root / "run-1") as tmp:
    ...     _ = (tmp / "hello.txt").write_text("hi")
    >>> sorted(p.name for p in root.iterdir())
    ['run-1']
    >>> with atomic_folder(root / "run-1") as tmp:
    ...     pass
    Traceback (most recent call last):
    ...
    textladder.errors.TextladderError: ...run-1 exists already; choose another name, or overwrite it explicitly
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from textladder.layout import CHECKSUMS, LOCK_PREFIX, TMP_PREFIX
from textladder.errors import RunError, TextladderError, is_disk_full

log = logging.getLogger("textladder")

_TMP_PID = re.compile(r"^\.tmp-.*-(\d+)-[0-9a-f]{6}$")  # .tmp-NAME-PID-RANDOM


class DiskFull(TextladderError):
    """The disk (or quota) is full: names the folder being written."""


class InUse(TextladderError):
    """Another running command holds the lock on this target."""


def _tmp_path(final: Path) -> Path:
    return final.parent / f"{TMP_PREFIX}{final.name}-{os.getpid()}-{secrets.token_hex(3)}"


def disk_full(where: Path, what: str) -> DiskFull:
    """The one message for a full disk."""
    return DiskFull(f"{where}: no space left on device while writing {what}; nothing was kept. "
                    "Free some space (or write somewhere else) and run the command again")


def _make_folder(folder: Path, what: str) -> None:
    """``mkdir -p folder``, a full disk said as :class:`DiskFull`."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(folder, what) from None
        raise


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def atomic_folder(final: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a new temporary sibling folder of ``final``; when the block ends without error, rename it
    to ``final``. On any error or interrupt the temporary is deleted.

    ``final`` must not exist unless ``overwrite`` (then the old folder is replaced in one rename and
    deleted). If another command finishes ``final`` meanwhile, this one fails rather than replace it.
    """
    final = Path(final)
    if final.exists() and not overwrite:
        raise TextladderError(f"{final} exists already; choose another name, or overwrite it explicitly")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = _tmp_path(final)
        tmp.mkdir()
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(final.parent, final.name) from None
        raise
    try:
        yield tmp
        _publish_folder(tmp, final, overwrite)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if is_disk_full(exc):
            raise disk_full(final.parent, final.name) from None
        raise


def _publish_folder(tmp: Path, final: Path, overwrite: bool) -> None:
    old = None
    if overwrite and final.exists():
        old = _tmp_path(final.with_name(f"old-{final.name}"))
        os.rename(final, old)
    try:
        os.rename(tmp, final)  # onto an existing, non-empty folder this fails: nothing is replaced
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
            if old is not None:  # the other command's newer folder stays; the old one was being replaced
                shutil.rmtree(old, ignore_errors=True)
            raise TextladderError(f"{final} was written by another command while this one ran; this result "
                                  "was not kept (choose another name)") from None
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_file(final: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``final`` (unique to this process) to write; when the block ends
    without error it replaces ``final`` in one rename (or, without ``overwrite``, is linked into place
    only if ``final`` does not exist). On any error the temporary is deleted.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
        >>> with atomic_file(out) as tmp:
        ...     _ = tmp.write_text("done")
        >>> out.read_text(), [p.name for p in out.parent.iterdir()]
        ('done', ['out.txt'])
    """
    final = Path(final)
    _make_folder(final.parent, final.name)
    tmp = _tmp_path(final)
    try:
        yield tmp
        if not tmp.exists():
            raise RunError(f"{final}: nothing was written")
        if overwrite:
            os.replace(tmp, final)
        else:
            try:
                os.link(tmp, final)
            except FileExistsError:
                raise TextladderError(f"{final} exists already; choose another name") from None
            tmp.unlink()
    except BaseException as exc:
        _remove(tmp)
        if is_disk_full(exc):
            raise disk_full(final.parent, final.name) from None
        raise


def write_by_content(folder: str | Path, prefix: str, suffix: str, write: Callable[[Path], None]) -> Path:
    """Write a file with ``write(tmp)`` and keep it as ``folder/PREFIX-HASH SUFFIX``, named by the first 16
    hex digits of its bytes' sha256; when that file is there already, the new copy is dropped. Atomic, as
    :func:`atomic_file`: commands writing the same content at once both end with one whole file.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> first = write_by_content(folder, "note", ".txt", lambda p: p.write_text("hi"))
        >>> first.name, first == write_by_content(folder, "note", ".txt", lambda p: p.write_text("hi"))
        ('note-8f434346648f6b96.txt', True)
    """
    folder = Path(folder)
    _make_folder(folder, prefix + suffix)
    tmp = _tmp_path(folder / f"{prefix}{suffix}")
    try:
        write(tmp)
        final = folder / f"{prefix}-{sha256_file(tmp)[:16]}{suffix}"
        if final.is_file():
            _remove(tmp)
        else:
            os.replace(tmp, final)
    except BaseException as exc:
        _remove(tmp)
        if is_disk_full(exc):
            raise disk_full(folder, prefix + suffix) from None
        raise
    return final


def write_json(path: str | Path, data) -> None:
    """Write ``data`` as indented UTF-8 JSON, atomically."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# -- locks ------------------------------------------------------------------------------------------

def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lock_path(target: Path) -> Path:
    return target.parent / f"{LOCK_PREFIX}{target.name}"


def _read_lock(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@contextmanager
def lock(target: str | Path, what: str = "") -> Iterator[None]:
    """Hold an exclusive lock on ``target`` (a file or folder that need not exist yet) while the block
    runs. A second holder, in this process or another, gets :class:`InUse` at once; a lock left by a
    process that no longer runs is taken over.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "runs" / "x"
        >>> with lock(target):
        ...     with lock(target):
        ...         pass
        Traceback (most recent call last):
        ...
        textladder.files.InUse: ...x is in use by process ... (...); wait for it to finish, or choose another name
    """
    target = Path(target)
    path = _lock_path(target)
    info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": what or " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv))[:200]}
    _make_folder(path.parent, path.name)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            held = _read_lock(path)
            if held is None:  # being written this instant, or garbage: look again shortly
                time.sleep(0.05)
                held = _read_lock(path)
            if held is not None and held.get("host") != socket.gethostname():
                raise InUse(f"{target} is in use by process {held.get('pid')} on {held.get('host')} "
                            f"({held.get('command')}); wait for it to finish, or choose another name") from None
            if held is not None and pid_alive(int(held.get("pid", 0))):
                raise InUse(f"{target} is in use by process {held['pid']} ({held.get('command')}, since "
                            f"{held.get('since')}); wait for it to finish, or choose another name") from None
            path.unlink(missing_ok=True)  # its process is gone: stale
            continue
        except OSError as exc:
            if is_disk_full(exc):
                raise disk_full(path.parent, path.name) from None
            raise
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(info))
        break
    else:
        raise InUse(f"{target}: could not take its lock ({path})")
    try:
        yield
    finally:
        if (_read_lock(path) or {}).get("pid") == os.getpid():
            path.unlink(missing_ok=True)


# -- leftovers --------------------------------------------------------------------------------------

def stale_temporaries(folder: str | Path) -> list[Path]:
    """Temporaries and locks directly in ``folder`` whose process no longer runs (older formats without a
    process id count as stale after a day)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = []
    for child in sorted(folder.iterdir()):
        if not child.name.startswith((TMP_PREFIX, LOCK_PREFIX)):
            continue
        if child.name.startswith(LOCK_PREFIX):
            info = _read_lock(child)
            if info is None or (info.get("host") == socket.gethostname() and not pid_alive(int(info.get("pid", 0)))):
                stale.append(child)
            continue
        m = _TMP_PID.match(child.name)
        if m:
            if not pid_alive(int(m.group(1))):
                stale.append(child)
        elif time.time() - child.stat().st_mtime > 86_400:
            stale.append(child)
    return stale


def remove_stale(folder: str | Path) -> list[Path]:
    """Delete :func:`stale_temporaries` of ``folder``; returns what was deleted."""
    gone = stale_temporaries(folder)
    for path in gone:
        _remove(path)
    return gone


# -- checksums --------------------------------------------------------------------------------------

def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != CHECKSUMS
                  and not p.name.startswith((TMP_PREFIX, LOCK_PREFIX)))


def write_checksums(folder: str | Path) -> dict[str, str]:
    """Record the sha256 of every file under ``folder`` in ``folder/checksums.json``."""
    folder = Path(folder)
    sums = {p.relative_to(folder).as_posix(): sha256_file(p) for p in _files(folder)}
    write_json(folder / CHECKSUMS, {"sha256": sums})
    return sums


def verify_checksums(folder: str | Path) -> bool:
    """Check every file listed in ``folder/checksums.json``; :class:`RunError` naming the first file that
    is missing, cut short or changed. Returns False (and checks nothing) when the folder has no
    checksums (written before textladder recorded them)."""
    folder = Path(folder)
    record = folder / CHECKSUMS
    if not record.is_file():
        return False
    try:
        sums = json.loads(record.read_text(encoding="utf-8"))["sha256"]
        items = [(str(k), str(v)) for k, v in sums.items()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise RunError(f"{record}: unreadable checksums; the model folder is damaged") from None
    for rel, expected in items:
        path = (folder / rel).resolve()
        if not path.is_relative_to(folder.resolve()):
            raise RunError(f"{record}: lists a file outside the model folder ({rel})")
        if not path.is_file():
            raise RunError(f"{folder / rel}: model file missing (the run folder is incomplete)")
        if sha256_file(path) != expected:
            size = path.stat().st_size
            raise RunError(f"{folder / rel}: model file damaged: its sha256 differs from the one recorded when "
                           f"the run was written ({size:,} bytes now); re-train or restore the run folder")
    return True
