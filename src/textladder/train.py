"""Train one rung on one dataset and write its run folder.

Example (see tests/test_cli.py for the same through the CLI):
    >>> from textladder.config import DataConfig, RunConfig  # doctest: +SKIP
    >>> run_dir = train(RunConfig(model="tfidf-linear", data=DataConfig(path="hm_train.csv")), "runs")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from textladder.balance import balanced_weights, counts, resample_indices, smote_refusal
from textladder.config import RunConfig
from textladder.data import Dataset, load_dataset, make_split
from textladder.evaluate import metrics, summary_line, write_artifacts
from textladder.models import get, make_params
from textladder.viz.plots import learning_curve_png
from textladder.errors import TextladderError
from textladder.files import atomic_folder, disk_full, is_disk_full, lock, write_checksums, write_json
from textladder.runs import CHECKPOINTS, CONFIG, LABELS, METRICS, MODEL_DIR, SPLIT, new_run_name

log = logging.getLogger("textladder")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (if a rung has imported it: the TF-IDF rung never pays its import)."""
    random.seed(seed)
    np.random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def encode(labels: np.ndarray, classes: list[str]) -> np.ndarray:
    """Class names -> indices into the sorted ``classes``."""
    index = {c: i for i, c in enumerate(classes)}
    return np.fromiter((index[label] for label in labels), dtype=np.int64, count=len(labels))


def load_for(config: RunConfig, on_progress=None) -> Dataset:
    """Load the dataset a run config points at."""
    d = config.data
    return load_dataset(d.path, text_col=d.text_col, label_col=d.label_col, id_col=d.id_col,
                        period_col=d.period_col, max_drop=d.max_drop, on_progress=on_progress,
                        min_class_rows=d.min_class_rows)


def predictions_frame(ids, classes: list[str], proba: np.ndarray, y_true: np.ndarray | None = None) -> pd.DataFrame:
    """``id, [true,] predicted, proba_<class>...`` for a block of predictions."""
    names = np.asarray(classes, dtype=object)
    frame = {"id": np.asarray(ids, dtype=object)}
    if y_true is not None:
        frame["true"] = names[y_true]
    frame["predicted"] = names[proba.argmax(axis=1)]
    for i, c in enumerate(classes):
        frame[f"proba_{c}"] = proba[:, i].astype(np.float32)
    return pd.DataFrame(frame)


def write_run(final: Path, config: RunConfig, model, classes: list[str], class_counts: dict, split: dict,
              val_ds: Dataset, y_val: np.ndarray, proba_val: np.ndarray, test_ds: Dataset, y_test: np.ndarray,
              proba_test: np.ndarray, facts: dict, history: list[dict] | None = None,
              overwrite: bool = False) -> Path:
    """Score validation and test, and write a complete run folder at ``final`` atomically: config, labels,
    split (``split`` plus the val and test ids), the saved model with the sha256 of each of its files,
    metrics (plus ``facts``), the test artefacts and predictions, and the learning curve when there is
    a ``history``. An existing ``final`` is an error unless ``overwrite``."""
    val_metrics = metrics(y_val, proba_val, classes)
    test_metrics = metrics(y_test, proba_test, classes)
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
                        prefix=f"{config.model}: test ")
        predictions_frame(test_ds.ids, classes, proba_test, y_test).to_csv(tmp / "test_predictions.csv", index=False)
        write_json(tmp / METRICS, {"val": val_metrics, "test": test_metrics, **facts,
                                   "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        if history:
            pd.DataFrame(history).to_csv(tmp / "history.csv", index=False)
            learning_curve_png(history, tmp / "learning_curve.png", title=f"{config.model}: learning curve")
    return final


class Interrupted(KeyboardInterrupt):
    """Training was interrupted; the message says how to resume."""


def _same_run(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k != "textladder_version"} == \
        {k: v for k, v in b.items() if k != "textladder_version"}


def find_resumable(runs_dir: Path, config: dict, name: str | None = None) -> str:
    """Name of the newest interrupted run in ``runs_dir`` with this exact config (or the one called ``name``)."""
    root = Path(runs_dir) / CHECKPOINTS
    candidates = sorted((p for p in root.glob("*") if (p / CONFIG).is_file()), key=lambda p: p.stat().st_mtime,
                        reverse=True) if root.is_dir() else []
    for folder in candidates:
        if name is not None and folder.name != name:
            continue
        saved = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
        if _same_run(saved, config):
            return folder.name
        if name is not None:
            raise TextladderError(f"{folder}: interrupted with different options; repeat its command exactly "
                                  f"({saved['model']} {saved['params']}) to resume it")
    known = ", ".join(p.name for p in candidates) or "none"
    raise TextladderError(f"nothing to resume in {root} for this command (interrupted runs: {known}); "
                          "repeat the interrupted command exactly, with --resume")


def train(config: RunConfig, runs_dir: str | Path, name: str | None = None, on_progress=None,
          resume: bool = False, progress: bool = False, overwrite: bool = False) -> Path | None:
    """Load, split, fit, evaluate on validation and test, and write the run folder atomically.

    Neural rungs keep their checkpoints in ``RUNS_DIR/.checkpoints/NAME`` while they train; after an
    interrupt, the same call with ``resume=True`` continues from the last finished epoch. ``progress``
    shows the training loop's progress bar. A run ``name`` that exists already is refused unless
    ``overwrite``; a second command training the same name at the same time is refused at once.
    Returns the run folder's path (None in the extra processes of a multi-process DDP run, which
    write nothing).
    """
    if name is not None:
        _check_name(name)
        if (Path(runs_dir) / name).exists() and not overwrite:
            raise TextladderError(f"{Path(runs_dir) / name} exists already; choose another --name, or pass "
                                  "--overwrite to replace it")
        with lock(Path(runs_dir) / name):
            return _train(config, runs_dir, name, on_progress, resume, progress, overwrite)
    return _train(config, runs_dir, name, on_progress, resume, progress, overwrite)


def _check_name(name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith("."):
        raise TextladderError(f"run name '{name}' must be a plain folder name (no '/', not starting with '.')")


def _train(config: RunConfig, runs_dir, name, on_progress, resume, progress, overwrite) -> Path | None:
    started = time.time()
    seed_everything(config.seed)
    model_cls = get(config.model)
    if "seed" in model_cls.Params.model_fields and "seed" not in config.params:
        config = config.model_copy(update={"params": {**config.params, "seed": config.seed}})
    if config.balance == "class-weight":
        if "class_weight" not in model_cls.Params.model_fields:
            raise TextladderError(f"--balance class-weight: model '{config.model}' has no class weights; "
                                  "use --balance oversample (or undersample) with it")
        config = config.model_copy(update={"params": {**config.params, "class_weight": "balanced"}})
    if config.balance == "smote" and not model_cls.supports_smote:
        raise TextladderError(smote_refusal(config.model))
    params = make_params(config.model, config.params)
    checkpointed = hasattr(model_cls, "use_work_dir")
    if resume and not checkpointed:
        raise TextladderError(f"model '{config.model}' trains in one step; --resume applies to the neural rungs")
    ds = load_for(config, on_progress)
    split_cfg = config.split.resolve(ds.format, len(ds))
    data = config.data.model_copy(update={
        "format": ds.format, "text_col": ds.columns.text, "label_col": ds.columns.label,
        "id_col": ds.columns.id, "period_col": ds.columns.period,
        "sha256": ds.sha256, "rows": len(ds),  # the hash of the bytes actually read
    })
    config = config.model_copy(update={"data": data, "split": split_cfg, "params": params.model_dump()})
    split = make_split(ds.labels, split_cfg)
    classes = ds.classes
    y = encode(ds.labels, classes)
    train_ds, val_ds, test_ds = ds.subset(split.train), ds.subset(split.val), ds.subset(split.test)
    log.info("%s: detected format %r, %d rows, %d classes; split %s: train %d, val %d, test %d",
             ds.path, ds.format, len(ds), len(classes), split_cfg.method, len(split.train), len(split.val),
             len(split.test))

    runs_dir = Path(runs_dir)
    model = model_cls(params)
    if "period" in config.features and ds.period is None:
        raise TextladderError(f"{ds.path}: --features period needs a reflection-period column and this file "
                              "has none (name it with --period-col)")
    work = None
    if checkpointed:
        config_json = config.model_dump(mode="json")
        name = find_resumable(runs_dir, config_json, name) if resume else (name or new_run_name(config.model))
        work = runs_dir / CHECKPOINTS / name
        work.mkdir(parents=True, exist_ok=True)
        write_json(work / CONFIG, config_json)
        model.use_work_dir(work, resume=resume, progress=progress)
    X_train, y_train = train_ds.frame(), y[split.train]
    balance = {"method": config.balance, "train_before": counts(y_train, classes)}
    if config.balance in ("oversample", "undersample"):
        idx = resample_indices(y_train, config.balance, seed=config.seed)
        X_train, y_train = X_train.iloc[idx].reset_index(drop=True), y_train[idx]
    model.smote = config.balance == "smote"
    model.features = list(config.features)
    fit_start = time.time()
    try:
        model.fit(X_train, y_train, val_ds.frame(), y[split.val])
    except BaseException as exc:
        kept = work is not None and (work / "last.ckpt").is_file()
        if work is not None and not kept:
            shutil.rmtree(work, ignore_errors=True)  # nothing worth resuming
        if kept and isinstance(exc, KeyboardInterrupt):
            raise Interrupted(f"interrupted; the last finished epoch is kept in {work}: repeat the same command "
                              "with --resume to continue") from None
        if is_disk_full(exc):
            raise disk_full(work or runs_dir, "checkpoints" if work is not None else "the model") from None
        raise
    train_seconds = time.time() - fit_start
    if getattr(model, "global_rank_", 0) != 0:  # an extra process of a multi-process (DDP) run: rank 0 writes
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        return None
    report = getattr(model, "report_", None) or {}
    after = report.get("smote_counts")
    balance["train_after"] = ({c: int(n) for c, n in zip(classes, after)} if after is not None
                              else counts(y_train, classes))
    if config.balance == "class-weight":
        balance["class_weights"] = {c: round(float(w), 6) for c, w in
                                    zip(classes, balanced_weights(y_train, len(classes)))}
    if config.balance != "none":
        log.info("balance %s: train rows per class %s -> %s", config.balance, balance["train_before"],
                 balance["train_after"])

    proba_val = model.predict_proba(val_ds.frame())
    infer_start = time.time()
    proba_test = model.predict_proba(test_ds.frame())
    infer_seconds = time.time() - infer_start

    name = name or new_run_name(config.model)
    write_run(runs_dir / name, config, model, classes, ds.class_counts(),
              {"method": split_cfg.method, "seed": split_cfg.seed, "train": train_ds.ids.tolist()},
              val_ds, y[split.val], proba_val, test_ds, y[split.test], proba_test, {
                  "train_seconds": round(train_seconds, 3), "test_predict_seconds": round(infer_seconds, 3),
                  "total_seconds": round(time.time() - started, 3), "train_rows": int(len(split.train)),
                  "balance": balance, "dropped_rows": ds.dropped,
                  **({"model_report": model.report_} if getattr(model, "report_", None) else {}),
              }, history=getattr(model, "history_", None), overwrite=overwrite)
    if work is not None:
        shutil.rmtree(work, ignore_errors=True)
    return runs_dir / name
