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

import numpy as np
import pandas as pd
from pydantic import ValidationError

from textladder.calibration import UNCERTAIN, apply_temperature, calibrate, calibration_metrics
from textladder.config import DataConfig, RunConfig
from textladder.data import Dataset, load_dataset
from textladder.data.dataset import combined_sha256, corrected, encode, join_parts
from textladder.errors import RunError, TextladderError
from textladder.files import atomic_folder, sha256_file, verify_checksums, write_checksums, write_json
from textladder.metrics import metrics, summary_line, write_artifacts
from textladder.models import get, load_folder, make_params
from textladder.layout import (
    CONFIG, HISTORY, LABELS, METRICS, MODEL_DIR, OOF_PREDICTIONS, RUNG_FILE, SEARCH_DIR, SPLIT,
    TEST_PREDICTIONS, VAL_PREDICTIONS)
from textladder.viz.plots import learning_curve_png

log = logging.getLogger("textladder")

# where a run's pick figure comes from when it is the best of several tried on those rows (a search's, greedy's)
MAXIMISED = "validation, the best of several tried on these rows (it reads high)"


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
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "(the whole file)"
            raise RunError(f"{self.path / CONFIG}: invalid run config: {field}: {first['msg']}") from None

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

    @property
    def trained_on(self) -> str:
        """Which rows the saved model learned from: ``train``, ``train+val`` (a refit) or ``cv5`` (five folds
        over train+val, then one refit on all of them)."""
        cfg = self.config
        return f"cv{cfg.cv}" if cfg.cv else cfg.fit_on

    def choice_score(self, metric: str = "macro_f1") -> float | None:
        """The figure runs are chosen by, never a test figure: the cross-validated mean when the run has one,
        else its validation score (a refit's is the score its configuration had on validation before the
        validation rows joined its training; see ``metrics["val_source"]``)."""
        m = self.metrics
        cv = m.get("cv", {}).get(metric)
        if isinstance(cv, dict) and cv.get("mean") is not None:
            return float(cv["mean"])
        value = m.get("val", {}).get(metric)
        return None if value is None else float(value)

    @property
    def maximised(self) -> bool:
        """Whether the run's validation figure is the best of several tried on those rows, so it reads high:
        a search's best trial (its ``search/`` folder), a refit whose validation figure is such a trial's,
        or an ensemble whose weights or members were chosen on its validation rows. Out-of-fold figures
        (``metrics["cv"]``, an ensemble's ``metrics["pick"]``) are not counted as maximised."""
        m = self.metrics
        if _searched(self.path):
            return True
        source = m.get("chosen_by")
        if source and _searched(self.path.parent / source):
            return True
        if self.config.model == "ensemble":
            return m.get("val_source", "").startswith("in-sample") or any(
                member.get("maximised", False) for member in m.get("members", []))
        return False

    def pick_score(self, metric: str = "macro_f1") -> tuple[float | None, str]:
        """The figure the final model is picked by, and where it comes from: an estimate no search has
        maximised where there is one (out-of-fold over train+val: a cross-validated run's mean, an
        ensemble's ``metrics["pick"]``), else the validation figure, said to be maximised when it is
        (:attr:`maximised`)."""
        m = self.metrics
        pick = m.get("pick") or {}
        if pick.get(metric) is not None:
            return float(pick[metric]), pick.get("source", "out-of-fold")
        cv = (m.get("cv") or {}).get(metric)
        if isinstance(cv, dict) and cv.get("mean") is not None:
            return float(cv["mean"]), f"out-of-fold, {m['cv'].get('k', '')}-fold cross-validation over train+val"
        value = m.get("val", {}).get(metric)
        if value is None:
            return None, "none"
        return float(value), MAXIMISED if self.maximised else "validation"

    @property
    def temperature(self) -> float:
        """The temperature that calibrates the run's probabilities (1: none; runs from before calibration)."""
        return float(self.metrics.get("calibration", {}).get("temperature", 1.0))

    def predictions(self, part: str = "val", calibrated: bool = True) -> tuple[list[str], np.ndarray] | None:
        """``(ids, probabilities)`` the run saved for ``part``: "val" (validation rows, out of sample),
        "oof" (out-of-fold, every train+val row, cross-validated runs only) or "test"; None when the run
        has no such file (runs written before validation predictions were kept). The files hold calibrated
        probabilities; ``calibrated=False`` gives the model's own (the run's temperature undone)."""
        path = self._predictions_file(part)
        if not path.is_file():
            return None
        try:
            frame = pd.read_csv(path, dtype={"id": str}, keep_default_na=False)
            proba = frame[[f"proba_{c}" for c in self.classes]].to_numpy(dtype=np.float64)
        except (KeyError, ValueError, pd.errors.ParserError) as exc:
            raise RunError(f"{path}: unreadable predictions ({exc})") from None
        if not calibrated and self.temperature != 1.0:
            proba = apply_temperature(proba, 1.0 / self.temperature)
        return frame["id"].astype(str).tolist(), proba

    def truth(self, part: str = "val") -> np.ndarray | None:
        """The true label indices of the rows of :meth:`predictions` ``part``, in the same order."""
        path = self._predictions_file(part)
        if not path.is_file():
            return None
        try:
            labels = pd.read_csv(path, usecols=["true"], dtype=str, keep_default_na=False)["true"].to_numpy()
            return encode(labels, self.classes)
        except (KeyError, ValueError, pd.errors.ParserError) as exc:
            raise RunError(f"{path}: unreadable predictions ({exc})") from None

    def _predictions_file(self, part: str) -> Path:
        return self.path / {"val": VAL_PREDICTIONS, "oof": OOF_PREDICTIONS, "test": TEST_PREDICTIONS}[part]

    def load_model(self, runtime: str = "auto", calibrated: bool = True):
        """The trained model, from safe formats only; no retraining. Every model file is checked against
        the sha256 recorded when the run was written (a damaged file is refused before it is read).
        ``runtime`` picks how an exported neural model predicts (auto, torch, onnx, onnx-int8);
        ``calibrated=False`` leaves out the run's temperature (its ``predict_proba`` gives the model's own
        probabilities)."""
        model = self._load_model(runtime)
        model.calibration = calibrated
        return model

    def _load_model(self, runtime: str):
        folder = self.path / MODEL_DIR
        if not folder.is_dir():
            raise RunError(f"{folder}: model folder missing (the run folder is incomplete)")
        if not verify_checksums(folder):
            log.warning("%s: no checksums recorded (a run written by an older textladder); its model files "
                        "are not verified", self.path)
        if (folder / RUNG_FILE).is_file():
            return load_folder(folder, runtime)
        # a run written before model folders described themselves: its config and labels say it
        params = make_params(self.config.model, self.config.params)
        model = get(self.config.model).load(folder, params, classes=self.classes, features=self.config.features,
                                            runtime=runtime)
        model.temperature_ = self.temperature
        return model


def _searched(folder: Path) -> bool:
    """Whether ``folder`` holds a search's best trial chosen among several (its ``search/study.json``)."""
    study = folder / SEARCH_DIR / "study.json"
    if not study.is_file():
        return False
    try:
        return int(json.loads(study.read_text()).get("finished", 2)) > 1
    except (OSError, ValueError, TypeError, AttributeError):
        return True  # unreadable: assume the worst


# -- writing a run ------------------------------------------------------------------------------

def load_data(config: RunConfig | DataConfig, on_progress=None) -> Dataset:
    """Load the dataset a run config (or a data config) points at, with its columns, data options and the
    run's extra input columns."""
    d = config if isinstance(config, DataConfig) else config.data
    features = [] if isinstance(config, DataConfig) else config.features
    files = {"train": d.path, "test": d.test_path, "val": d.val_path}
    parts = {part: load_dataset(path, text_col=d.text_col, label_col=d.label_col, id_col=d.id_col,
                                period_col=d.period_col, max_drop=d.max_drop, on_progress=on_progress,
                                min_class_rows=d.min_class_rows if part == "train" else 0, features=features,
                                split_col=d.split_col, min_classes=2 if part == "train" else 1)
             for part, path in files.items() if path is not None}
    ds = parts["train"] if len(parts) == 1 else join_parts(parts)
    return ds if d.corrections is None else corrected(ds, d.corrections)


def data_sha256(d: DataConfig) -> str | None:
    """The sha256 a run records of the data ``d`` names (of every file's in order when the split comes in
    files), or None when a file is not there."""
    paths = [p for p in (d.path, d.test_path, d.val_path) if p is not None]
    if not all(Path(p).is_file() for p in [*paths, *([d.corrections] if d.corrections else [])]):
        return None
    sha = combined_sha256([sha256_file(p) for p in paths])
    return sha if d.corrections is None else combined_sha256([sha, sha256_file(d.corrections)])


def predictions_frame(ids, classes: list[str], proba: np.ndarray, y_true: np.ndarray | None = None,
                      min_confidence: float | None = None) -> pd.DataFrame:
    """``id, [true,] predicted, proba_<class>...`` for a block of predictions; with ``min_confidence``,
    ``predicted`` is ``uncertain`` where the highest probability is below it, and a ``confidence`` column
    (the highest probability) follows it."""
    names = np.asarray(classes, dtype=object)
    frame = {"id": np.asarray(ids, dtype=object)}
    if y_true is not None:
        frame["true"] = names[y_true]
    frame["predicted"] = names[proba.argmax(axis=1)]
    if min_confidence is not None:
        confidence = proba.max(axis=1)
        frame["predicted"] = np.where(confidence < min_confidence, UNCERTAIN, frame["predicted"]).astype(object)
        frame["confidence"] = confidence.astype(np.float32)
    for i, c in enumerate(classes):
        frame[f"proba_{c}"] = proba[:, i].astype(np.float32)
    return pd.DataFrame(frame)


def write_run(final: Path, config: RunConfig, model, classes: list[str], class_counts: dict, split: dict,
              val_ds: Dataset, y_val: np.ndarray, proba_val: np.ndarray, test_ds: Dataset, y_test: np.ndarray,
              proba_test: np.ndarray, facts: dict, history: list[dict] | None = None,
              overwrite: bool = False, oof: pd.DataFrame | None = None, calibrated: bool = True) -> Path:
    """Calibrate, score validation and test, and write a complete run folder at ``final`` atomically:
    config, labels, split (``split`` plus the val and test ids), the saved model with the sha256 of each of
    its files, metrics (plus ``facts``), the validation and test predictions (``val_predictions.csv``: what
    stacking and greedy selection read; ``test_predictions.csv``), the test artefacts, the out-of-fold
    predictions of a cross-validated run (``oof``, written as ``oof_predictions.csv``) and the learning
    curve when there is a ``history``. An existing ``final`` is an error unless ``overwrite``.

    ``proba_val``, ``proba_test`` and ``oof`` are the model's own probabilities. Unless ``calibrated`` is
    False, a temperature is fitted on the out-of-fold rows (else validation; :func:`calibrate`), saved
    with the model, and every saved probability and figure is the calibrated one; each split's metrics
    keep the uncalibrated ``ece``, ``brier`` and ``log_loss`` under ``uncalibrated``."""
    model.temperature_ = 1.0
    calibration = calibrate(model, classes, y_val, proba_val, oof) if calibrated else {"temperature": 1.0,
                                                                                      "fitted_on": None}
    t = model.temperature_
    raw_val, raw_test = proba_val, proba_test
    proba_val, proba_test = apply_temperature(raw_val, t), apply_temperature(raw_test, t)
    if oof is not None and t != 1.0:
        columns = [f"proba_{c}" for c in classes]
        oof = oof.copy()
        oof[columns] = apply_temperature(oof[columns].to_numpy(dtype=np.float64), t).astype(np.float32)
    val_metrics = {**metrics(y_val, proba_val, classes), "uncalibrated": calibration_metrics(raw_val, y_val)}
    test_metrics = {**metrics(y_test, proba_test, classes), "uncalibrated": calibration_metrics(raw_test, y_test)}
    log.info("validation: %s", summary_line(val_metrics))
    log.info("test:       %s", summary_line(test_metrics))
    with atomic_folder(final, overwrite=overwrite) as tmp:
        write_json(tmp / CONFIG, config.model_dump(mode="json"))
        write_json(tmp / LABELS, {"classes": classes, "counts": class_counts})
        write_json(tmp / SPLIT, {**split, "val": val_ds.ids.tolist(), "test": test_ds.ids.tolist()})
        (tmp / MODEL_DIR).mkdir()
        model.save(tmp / MODEL_DIR)
        write_checksums(tmp / MODEL_DIR)
        write_artifacts(tmp, test_metrics, classes, test_ds.ids, test_ds.texts, y_test, proba_test,
                        prefix=f"{config.model}: test ", uncalibrated=raw_test if t != 1.0 else None)
        predictions_frame(test_ds.ids, classes, proba_test, y_test).to_csv(tmp / TEST_PREDICTIONS, index=False)
        predictions_frame(val_ds.ids, classes, proba_val, y_val).to_csv(tmp / VAL_PREDICTIONS, index=False)
        if oof is not None:
            oof.to_csv(tmp / OOF_PREDICTIONS, index=False)
        write_json(tmp / METRICS, {"val": val_metrics, "test": test_metrics, "calibration": calibration, **facts,
                                   "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        if history:
            pd.DataFrame(history).to_csv(tmp / HISTORY, index=False)
            learning_curve_png(history, tmp / "learning_curve.png", title=f"{config.model}: learning curve")
    return final


# -- reading a run back ------------------------------------------------------------------------

def run_test_split(run: Run, on_progress=None) -> Dataset:
    """The run's own test rows, re-read from its data file (warns if the file changed)."""
    return run_split(run, "test", on_progress)[0]


def run_split(run: Run, part: str | tuple[str, ...], on_progress=None) -> list[Dataset]:
    """The run's own rows of each ``part`` ("train", "val", "test"), re-read from its data file once
    (warns if the file changed since the run was trained)."""
    parts = (part,) if isinstance(part, str) else tuple(part)
    cfg = run.config
    if not Path(cfg.data.path).exists():
        raise TextladderError(
            f"{cfg.data.path}: the data file of run {run.name} is gone; pass DATA to evaluate on another file")
    ds = load_data(cfg, on_progress)
    if cfg.data.sha256 and ds.sha256 != cfg.data.sha256:
        log.warning("%s has changed since run %s was trained; scoring the ids of its split",
                    cfg.data.path, run.name)
    position = {k: i for i, k in enumerate(ds.ids.tolist())}
    subsets = []
    for name in parts:
        wanted = run.split_ids[name]
        missing = [k for k in wanted if k not in position]
        if missing:
            raise TextladderError(f"{cfg.data.path}: {len(missing)} {name} ids of run {run.name} are no longer "
                                  f"there (first: {missing[0]})")
        subsets.append(ds.subset(np.array([position[k] for k in wanted])))
    return subsets


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
