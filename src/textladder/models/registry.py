"""Rungs registered by name, spaCy style: a new rung is one decorated class.

Example:
    >>> from textladder.models import registry
    >>> "tfidf-linear" in registry.names()
    True
    >>> registry.get("tfidf-linear").name
    'tfidf-linear'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from textladder.errors import MissingExtra, RunError, TextladderError, missing_extra
from textladder.models.base import RUNG_FILE, Params, TextClassifier, params_error

_REGISTRY: dict[str, type[TextClassifier]] = {}
_LAZY: dict[str, str] = {}  # name -> module that registers it when imported (keeps torch out of the TF-IDF path)
ENTRY_POINTS = "textladder.rungs"
_discovered = False


def _discover() -> None:
    """Read the ``textladder.rungs`` entry points of every installed package, once."""
    global _discovered
    if _discovered:
        return
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINTS):
        _LAZY.setdefault(ep.name, ep.value.split(":")[0])
    _discovered = True


def register(name: str):
    """Class decorator: make a :class:`TextClassifier` subclass available as ``name``."""

    def wrap(cls: type[TextClassifier]) -> type[TextClassifier]:
        old = _REGISTRY.get(name)
        if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"model '{name}' is registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def register_lazy(name: str, module: str) -> None:
    """Announce that importing ``module`` registers ``name``; it is imported the first time ``name`` is asked for."""
    _LAZY[name] = module


def names() -> list[str]:
    """Registered model names."""
    _discover()
    return sorted(set(_REGISTRY) | set(_LAZY))


def get(name: str) -> type[TextClassifier]:
    """The class registered as ``name``; a clear error lists the known names."""
    if name not in _REGISTRY:
        _discover()
    if name not in _REGISTRY and name in _LAZY:
        import importlib

        try:
            importlib.import_module(_LAZY[name])
        except ModuleNotFoundError as exc:
            if missing_extra(exc) is None:
                raise
            raise MissingExtra(f"model '{name}'", exc.name) from None
    try:
        return _REGISTRY[name]
    except KeyError:
        raise TextladderError(f"unknown model '{name}'; choose one of: {', '.join(names())}") from None


def make_params(name: str, values: dict[str, Any]) -> Params:
    """Validate ``values`` against model ``name``'s parameters, with a one-line error."""
    cls = get(name)
    try:
        return cls.Params(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'params'}: {e['msg']}" for e in exc.errors()
        )
        known = ", ".join(cls.Params.model_fields)
        raise TextladderError(f"bad parameters for model '{name}': {problems} (parameters: {known})") from None


def build(name: str, values: dict[str, Any] | None = None) -> TextClassifier:
    """A new, unfitted model ``name`` with parameters ``values``."""
    return get(name)(make_params(name, values or {}))


def load_folder(folder: str | Path, runtime: str = "auto") -> TextClassifier:
    """The model in a ``model/`` folder, from its ``rung.json`` alone (rung, parameters, classes);
    ``runtime`` as :meth:`TextClassifier.load` takes it."""
    folder = Path(folder)
    path = folder / RUNG_FILE
    if not path.is_file():
        raise RunError(f"{folder}: no {RUNG_FILE}; a model folder written before textladder described itself "
                       "can be opened through its run folder (the folder above it)")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        cls = get(info["rung"])
        params = cls.Params(**info["params"])
    except ValidationError as exc:  # (a ValueError too: caught first) one line naming the field
        raise RunError(f"{path}: {params_error(cls, exc)}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise RunError(f"{path}: unreadable model description ({exc})") from None
    model = cls.load(folder, params, classes=info.get("classes"), features=info.get("features") or (),
                     runtime=runtime)
    temperature = info.get("temperature", 1.0)
    if not isinstance(temperature, (int, float)) or not 0 < temperature < float("inf"):
        raise RunError(f"{path}: temperature must be a positive number, not {temperature!r}")
    model.temperature_ = float(temperature)
    return model
