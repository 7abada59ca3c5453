"""Each choice a user makes, declared once: the run config, the ladder file, the ensemble's
parameters and the CLI all take their allowed values from here.

Example:
    >>> BALANCE
    ('none', 'oversample', 'undersample', 'smote', 'class-weight')
    >>> VOTES
    ('soft', 'hard', 'stack')
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import StringConstraints

from textladder.errors import TextladderError

Balance = Literal["none", "oversample", "undersample", "smote", "class-weight"]
BALANCE: tuple[str, ...] = get_args(Balance)
RESAMPLING: tuple[str, ...] = ("oversample", "undersample")  # the remedies that change the train rows

Vote = Literal["soft", "hard", "stack"]
VOTES: tuple[str, ...] = get_args(Vote)

SplitMethod = Literal["auto", "reference", "stratified", "given"]  # given: by a split column or a test file
SPLIT_METHODS: tuple[str, ...] = get_args(SplitMethod)

Runtime = Literal["auto", "torch", "onnx", "onnx-int8"]  # how an exported neural model predicts
RUNTIMES: tuple[str, ...] = get_args(Runtime)

# Lightning's settings: how a neural run trains, not what it learns (run options, not parameters)
TRAINER_KEYS: tuple[str, ...] = ("accelerator", "devices", "strategy", "precision")

# Extra inputs beside the text are column names of the data (any categorical column, one-hot);
# "period" names the file's detected reflection-period column (HappyDB's 24h / 3m).
Feature = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]


def check(value: str, allowed: tuple[str, ...], what: str) -> str:
    """``value`` if it is one of ``allowed``, else a clear error naming ``what`` and the choices.

    Example:
        >>> check("mean", VOTES, "vote")
        Traceback (most recent call last):
        ...
        textladder.errors.TextladderError: vote must be one of soft, hard, stack, not 'mean'
    """
    if value not in allowed:
        raise TextladderError(f"{what} must be one of {', '.join(allowed)}, not '{value}'")
    return value
