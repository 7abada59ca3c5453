"""Run folders: written atomically, read back into a model that predicts, listed as a leaderboard.

A run folder holds ``config.json`` (the :class:`RunConfig`), ``labels.json``,
``split.json`` (the ids of each part), ``metrics.json``, ``model/`` (safe
formats only) and the test-set artefacts. It is written into a hidden
temporary folder beside its final place and renamed when complete, so an
interrupted run never leaves a folder that looks finished.

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_folder(root / "run-1") as tmp:
    ...     _ = (tmp / "hello.txt").write_text("hi")
    >>> sorted(p.name for p in root.iterdir())
    ['run-1']
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

from pydantic import ValidationError

from textladder.config import RunConfig
from textladder.errors import RunError

CONFIG, LABELS, SPLIT, METRICS, MODEL_DIR = "config.json", "labels.json", "split.json", "metrics.json", "model"
TMP_PREFIX = ".tmp-"
CHECKPOINTS = ".checkpoints"  # RUNS_DIR/.checkpoints/NAME: a neural run's checkpoints while it trains


@contextmanager
def atomic_folder(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``final``; on success rename it to ``final``
    (replacing an older one), on any error or interrupt delete it."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f"{TMP_PREFIX}{final.name}-{secrets.token_hex(3)}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if final.exists():
        old = final.parent / f"{TMP_PREFIX}old-{final.name}-{secrets.token_hex(3)}"
        os.rename(final, old)
    os.rename(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def new_run_name(model: str) -> str:
    """``MODEL-YYYYmmdd-HHMMSS-xxxx``: sortable and unique."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{model}-{stamp}-{secrets.token_hex(2)}"


def write_json(path: Path, data) -> None:
    Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path.parent}: not a finished run folder ({path.name} is missing)") from None
    except json.JSONDecodeError as exc:
        raise RunError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None


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
        return list(_read_json(self.path / LABELS)["classes"])

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
        """The trained model, from safe formats only; no retraining."""
        from textladder.models import get, make_params

        params = make_params(self.config.model, self.config.params)
        return get(self.config.model).load(self.path / MODEL_DIR, params)


def list_runs(runs_dir: str | Path) -> list[Run]:
    """Finished runs directly under ``runs_dir`` (temporary and broken folders are skipped)."""
    root = Path(runs_dir)
    if not root.is_dir():
        raise RunError(f"{root}: no such runs folder")
    runs = []
    for child in sorted(root.iterdir()):
        if child.name.startswith(".") or not (child / METRICS).is_file():
            continue
        try:
            runs.append(Run.open(child))
        except RunError:
            continue
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
