"""Run folders: written atomically, read back into a model that predicts, listed as a leaderboard.

A run folder holds ``config.json`` (the :class:`RunConfig`), ``labels.json``,
``split.json`` (the ids of each part), ``metrics.json``, ``model/`` (safe
formats only, with ``checksums.json``) and the test-set artefacts. It is written
into a hidden temporary folder beside its final place and renamed when complete
(:func:`textladder.files.atomic_folder`), so an interrupted run never leaves a
folder that looks finished.

Example:
    >>> new_run_name("fasttext")[:9]
    'fasttext-'
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

from pydantic import ValidationError

from textladder.config import RunConfig
from textladder.errors import RunError
from textladder.files import TMP_PREFIX, atomic_folder, verify_checksums, write_checksums, write_json  # noqa: F401

log = logging.getLogger("textladder")

CONFIG, LABELS, SPLIT, METRICS, MODEL_DIR = "config.json", "labels.json", "split.json", "metrics.json", "model"
CHECKPOINTS = ".checkpoints"  # RUNS_DIR/.checkpoints/NAME: a neural run's checkpoints while it trains


def new_run_name(model: str) -> str:
    """``MODEL-YYYYmmdd-HHMMSS-xxxx``: sortable and unique."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{model}-{stamp}-{secrets.token_hex(2)}"


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path.parent}: not a finished run folder ({path.name} is missing)") from None
    except json.JSONDecodeError as exc:
        raise RunError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
    except (UnicodeDecodeError, OSError) as exc:
        raise RunError(f"{path}: unreadable ({exc})") from None


@dataclass
class Run:
    """A finished run folder, read lazily."""

    path: Path

    @classmethod
    def open(cls, path: str | Path) -> Run:
        """Open and check a run folder; a clear :class:`RunError` if it is not one."""
        p = Path(path)
        if not p.is_dir():
            raise RunError(f"{p}: no such run folder")
        run = cls(p)
        run.config  # noqa: B018 (validates)
        run.classes  # noqa: B018
        return run

    @cached_property
    def config(self) -> RunConfig:
        data = _read_json(self.path / CONFIG)
        try:
            return RunConfig.model_validate(data)
        except ValidationError as exc:
            raise RunError(f"{self.path / CONFIG}: invalid run config: {exc.errors()[0]['msg']}") from None

    @cached_property
    def classes(self) -> list[str]:
        data = _read_json(self.path / LABELS)
        classes = data.get("classes") if isinstance(data, dict) else None
        if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
            raise RunError(f"{self.path / LABELS}: no list of class names")
        return classes

    @cached_property
    def class_counts(self) -> dict[str, int]:
        """Rows per class in the whole data file the run was trained on."""
        return dict(_read_json(self.path / LABELS).get("counts", {}))

    @cached_property
    def metrics(self) -> dict:
        return _read_json(self.path / METRICS)

    @cached_property
    def split_ids(self) -> dict[str, list[str]]:
        return _read_json(self.path / SPLIT)

    @property
    def name(self) -> str:
        return self.path.name

    def load_model(self):
        """The trained model, from safe formats only; no retraining. Every model file is checked against
        the sha256 recorded when the run was written (a damaged file is refused before it is read)."""
        from textladder.models import get, make_params

        params = make_params(self.config.model, self.config.params)
        folder = self.path / MODEL_DIR
        if not folder.is_dir():
            raise RunError(f"{folder}: model folder missing (the run folder is incomplete)")
        if not verify_checksums(folder):
            log.warning("%s: no checksums recorded (a run written by an older textladder); its model files "
                        "are not verified", self.path)
        return get(self.config.model).load(folder, params)


def list_runs(runs_dir: str | Path, skipped: list[tuple[str, str]] | None = None) -> list[Run]:
    """Finished runs directly under ``runs_dir``. Hidden (temporary) folders are passed over; a run folder
    that cannot be read (a damaged ``config.json``, ``labels.json`` or ``metrics.json``) is skipped with a
    warning naming it and the problem, and appended to ``skipped`` as ``(name, problem)``."""
    root = Path(runs_dir)
    if not root.is_dir():
        raise RunError(f"{root}: no such runs folder")
    runs = []
    for child in sorted(root.iterdir()):
        if child.name.startswith(".") or not child.is_dir() or not (child / METRICS).exists():
            continue
        try:
            run = Run.open(child)
            metrics = run.metrics
            if not isinstance(metrics, dict) or not isinstance(metrics.get("test", {}), dict):
                raise RunError(f"{child / METRICS}: not a metrics object")
        except RunError as exc:
            log.warning("skipping unreadable run %s: %s", child.name, exc)
            if skipped is not None:
                skipped.append((child.name, str(exc)))
            continue
        runs.append(run)
    return runs


def _short(key: str, value) -> str:
    """An option's value for the leaderboard; an ensemble's members as their count."""
    if key == "members" and isinstance(value, list):
        return f"{len(value)} runs"
    return str(value)


def leaderboard(runs: list[Run]) -> list[dict]:
    """One row per run: model, options that differ from defaults, test accuracy, macro-F1,
    validation macro-F1 and training time; best test macro-F1 first."""
    from textladder.models import get

    rows = []
    for run in runs:
        cfg, m = run.config, run.metrics
        try:
            defaults = get(cfg.model).Params().model_dump()
        except Exception:
            defaults = {}
        options = {k: v for k, v in cfg.params.items() if defaults.get(k, object()) != v}
        test, val = m.get("test", {}), m.get("val", {})
        rows.append({
            "run": run.name,
            "model": cfg.model,
            "options": " ".join(f"{k}={_short(k, v)}" for k, v in sorted(options.items())),
            "accuracy": test.get("accuracy"),
            "macro_f1": test.get("macro_f1"),
            "val_macro_f1": val.get("macro_f1"),
            "train_seconds": m.get("train_seconds"),
            "data": Path(cfg.data.path).name,
        })
    rows.sort(key=lambda r: (r["macro_f1"] is None, -(r["macro_f1"] or 0)))
    return rows
