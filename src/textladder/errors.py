"""The one error type the CLI turns into a single clear line on stderr.

Example:
    >>> err = DataError("data.csv", "missing column 'text'", line=1)
    >>> str(err)
    "data.csv: line 1: missing column 'text'"
"""

from __future__ import annotations

from pathlib import Path


class TextladderError(Exception):
    """An error a user can fix; the CLI prints it as one line, no traceback."""


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
