"""Model registry; importing this package registers every built-in rung."""

from textladder.models import linear  # noqa: F401  (registers tfidf-linear)
from textladder.models.base import Params, TextClassifier
from textladder.models.registry import build, get, make_params, names, register

__all__ = ["Params", "TextClassifier", "build", "get", "make_params", "names", "register"]
