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
from pathlib import Path

import numpy as np

from textladder.balance import balanced_weights, counts, resample_indices
from textladder.choices import RESAMPLING
from textladder.config import RunConfig, resolve
from textladder.data import split_dataset
from textladder.data.dataset import encode
from textladder.errors import Interrupted, TextladderError, flag, is_disk_full
from textladder.files import disk_full, lock, write_json
from textladder.layout import CHECKPOINTS, CONFIG
from textladder.metrics import metrics
from textladder.models import TrainingContext, make_params
from textladder.runs import Run, load_data, new_run_name, predictions_frame, write_run

log = logging.getLogger("textladder")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (if a rung has imported it: the TF-IDF rung never pays its import)."""
    random.seed(seed)
    np.random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def resampled(X, y: np.ndarray, balance: str, seed: int):
    """The train rows a fit learns from: ``X`` and ``y`` resampled as ``balance`` says (oversample,
    undersample), else as they are. Training, cross-validation folds and search trials all use this."""
    if balance not in RESAMPLING:
        return X, y
    idx = resample_indices(y, balance, seed=seed)
    return X.iloc[idx].reset_index(drop=True), y[idx]


def build(model_cls, params, config: RunConfig):
    """An unfitted rung of ``config`` (its extra inputs, and SMOTE when it balances so)."""
    return model_cls(params, features=config.features, smote=config.balance == "smote")


def fit_and_score(model_cls, params, config: RunConfig, X_train, y_train, X_val, y_val, classes: list[str],
                  context: TrainingContext) -> tuple:
    """Prepare, fit, score on validation, once for every caller (a search's trials, here and on Ray): the rung
    fitted on the train rows (labels, not indices) and its :func:`~textladder.metrics.metrics` on the
    validation rows. Returns ``(model, metrics, seconds)``."""
    model = build(model_cls, params, config)
    started = time.time()
    model.fit(X_train, y_train, X_val, y_val, context=context)
    return model, metrics(encode(y_val, classes), model.predict_proba(X_val), classes), time.time() - started


def _same_run(a: dict, b: dict) -> bool:
    """The same run, whatever the textladder version or the trainer settings (devices) it ran with."""
    ignore = ("textladder_version", "trainer")
    return {k: v for k, v in a.items() if k not in ignore} == {k: v for k, v in b.items() if k not in ignore}


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
                          f"repeat the interrupted command exactly, with {flag('resume')}")


def train(config: RunConfig, runs_dir: str | Path, name: str | None = None, on_progress=None,
          resume: bool = False, progress: bool = False, overwrite: bool = False,
          chosen_by: str | Path | None = None, fitted: tuple | None = None,
          deadline: float | None = None) -> Path | None:
    """Load, split, fit, evaluate on validation and test, and write the run folder atomically.

    ``config.fit_on="train+val"`` refits on train and validation together: validation can no longer
    score the model, so its validation figures are those of ``chosen_by`` (the run of the same
    configuration trained on train only, whose validation score chose it); without ``chosen_by`` they
    are in-sample and marked so. ``config.cv=K`` cross-validates over train+val first (stratified K
    folds; out-of-fold probabilities for every row go to ``oof_predictions.csv``, the validation
    figures are the out-of-fold ones of the validation rows, and ``metrics["cv"]`` has each metric's
    mean, std and folds), then refits one model on all of train+val: one model to serve, at the cost of
    one, rather than K fold models averaged at K times the cost. ``fitted=(model, seconds)`` writes a model
    fitted already with exactly this config on this train split (a search's best trial) instead of fitting.
    ``deadline`` (a ``time.time()`` value): a neural rung starts no epoch that would end past it.

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
            raise TextladderError(f"{Path(runs_dir) / name} exists already; choose another name, or pass "
                                  f"{flag('overwrite')} to replace it")
        with lock(Path(runs_dir) / name):
            return _train(config, runs_dir, name, on_progress, resume, progress, overwrite, chosen_by, fitted,
                          deadline)
    return _train(config, runs_dir, name, on_progress, resume, progress, overwrite, chosen_by, fitted, deadline)


def _fit(model, X, y, X_val, y_val, context: TrainingContext, work: Path | None, runs_dir: Path) -> float:
    """Fit ``model``; on failure, keep an interrupted neural run's last epoch (or clean up). Returns seconds."""
    started = time.time()
    try:
        model.fit(X, y, X_val, y_val, context=context)
    except BaseException as exc:
        kept = work is not None and (work / "last.ckpt").is_file()
        if work is not None and not kept:
            _drop_work(work)  # nothing worth resuming
        if kept and isinstance(exc, KeyboardInterrupt):
            raise Interrupted(f"interrupted; the last finished epoch is kept in {work}: repeat the same command "
                              f"with {flag('resume')} to continue") from None
        if is_disk_full(exc):
            raise disk_full(work or runs_dir, "checkpoints" if work is not None else "the model") from None
        raise
    return time.time() - started


def _check_name(name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith("."):
        raise TextladderError(f"run name '{name}' must be a plain folder name (no '/', not starting with '.')")


def _train(config: RunConfig, runs_dir, name, on_progress, resume, progress, overwrite, chosen_by,
           fitted, deadline=None) -> Path | None:
    started = time.time()
    seed_everything(config.seed)
    if config.cv and config.fit_on != "train+val":  # (model_copy skips RunConfig's validator that says so)
        config = config.model_copy(update={"fit_on": "train+val"})
    model_cls, config = resolve(config)
    params = make_params(config.model, config.params)
    if resume and not model_cls.checkpointed:
        raise TextladderError(f"model '{config.model}' trains in one step; {flag('resume')} applies to the "
                              "neural rungs")
    ds = load_data(config, on_progress)
    split_cfg, split = split_dataset(ds, config.split)
    data = config.data.model_copy(update={
        "format": ds.format, "text_col": ds.columns.text, "label_col": ds.columns.label,
        "id_col": ds.columns.id, "period_col": ds.columns.period,
        "sha256": ds.sha256, "rows": len(ds),  # the hash of the bytes actually read
    })
    config = config.model_copy(update={"data": data, "split": split_cfg, "params": params.model_dump()})
    classes = ds.classes
    y = encode(ds.labels, classes)
    train_ds, val_ds, test_ds = ds.subset(split.train), ds.subset(split.val), ds.subset(split.test)
    log.info("%s: detected format %r, %d rows, %d classes; split %s: train %d, val %d, test %d",
             ds.path, ds.format, len(ds), len(classes), split_cfg.method, len(split.train), len(split.val),
             len(split.test))

    runs_dir = Path(runs_dir)
    model = build(model_cls, params, config)
    work = None
    if fitted is not None and (config.cv or config.fit_on != "train"):
        raise TextladderError("a model fitted already can only be written as a run trained on the train split")
    if model_cls.checkpointed and fitted is None:
        config_json = config.model_dump(mode="json")
        name = find_resumable(runs_dir, config_json, name) if resume else (name or new_run_name(config.model))
        work = runs_dir / CHECKPOINTS / name
        work.mkdir(parents=True, exist_ok=True)
        write_json(work / CONFIG, config_json)
    context = TrainingContext(work_dir=work, resume=resume, progress=progress, deadline=deadline,
                              **config.trainer.model_dump())
    refit = config.fit_on == "train+val"
    fit_rows = np.concatenate([split.train, split.val]) if refit else split.train
    names = np.asarray(classes, dtype=object)
    cv = oof = None
    if config.cv:
        cv, oof_proba = cross_validate(model_cls, params, config, ds.subset(fit_rows).frame(), y[fit_rows],
                                       classes, progress, deadline=deadline)
        oof = predictions_frame(ds.ids[fit_rows], classes, oof_proba, y[fit_rows])
    X_train, y_train = ds.subset(fit_rows).frame(), y[fit_rows]
    balance = {"method": config.balance, "train_before": counts(y_train, classes)}
    X_train, y_train = resampled(X_train, y_train, config.balance, config.seed)
    if fitted is not None:  # a search's best trial, fitted on this split with these parameters
        model, train_seconds = fitted
    else:
        # a refit's rung that picks its best epoch watches the validation rows it now also learns from:
        # a search or ladder refit fixes its epochs to those validation chose before (see tuning.py)
        train_seconds = _fit(model, X_train, names[y_train], val_ds.frame(), names[y[split.val]], context, work,
                             runs_dir)
    if model.global_rank_ != 0:  # an extra process of a multi-process (DDP) run: rank 0 writes
        if work is not None:
            _drop_work(work)
        return None
    if model.classes_.tolist() != classes:
        raise TextladderError(f"the train split lacks classes of the data ({sorted(set(classes) - set(model.classes_))})")
    after = model.report_.get("smote_counts")
    balance["train_after"] = ({c: int(n) for c, n in zip(classes, after)} if after is not None
                              else counts(y_train, classes))
    if config.balance == "class-weight":
        balance["class_weights"] = {c: round(float(w), 6) for c, w in
                                    zip(classes, balanced_weights(y_train, len(classes)))}
    if config.balance != "none":
        log.info("balance %s: train rows per class %s -> %s", config.balance, balance["train_before"],
                 balance["train_after"])

    facts_val: dict = {}
    if cv is not None:
        proba_val = oof_proba[len(split.train):]  # fit_rows is train then val: the val rows' out-of-fold rows
        facts_val = {"cv": cv, "val_source": f"out-of-fold predictions of {config.cv}-fold cross-validation"}
    elif refit and chosen_by is not None:
        source = Run.open(chosen_by)
        saved = source.predictions("val", calibrated=False)  # this model's temperature is fitted on them
        if saved is None or saved[0] != val_ds.ids.tolist() or source.classes != classes:
            raise TextladderError(f"{source.path}: its validation predictions do not cover this run's validation "
                                  "rows; it cannot stand for this refit's validation score")
        proba_val = saved[1]
        facts_val = {"val_source": f"run {source.name}: the same configuration trained on train only",
                     "chosen_by": source.name}
    else:
        proba_val = model.predict_proba(val_ds.frame())
        if refit:
            facts_val = {"val_source": "in-sample: the validation rows are in this model's training rows"}
    infer_start = time.time()
    proba_test = model.predict_proba(test_ds.frame())
    infer_seconds = time.time() - infer_start

    name = name or new_run_name(config.model)
    write_run(runs_dir / name, config, model, classes, ds.class_counts(),
              {"method": split_cfg.method, "seed": split_cfg.seed, "train": train_ds.ids.tolist()},
              val_ds, y[split.val], proba_val, test_ds, y[split.test], proba_test, {
                  "train_seconds": round(train_seconds, 3), "test_predict_seconds": round(infer_seconds, 3),
                  "total_seconds": round(time.time() - started, 3), "train_rows": int(len(fit_rows)),
                  "trained_on": config.fit_on, "balance": balance, "dropped_rows": ds.dropped, **facts_val,
                  **({"model_report": model.report_} if model.report_ else {}),
              }, history=model.history_, overwrite=overwrite, oof=oof)
    if work is not None:
        _drop_work(work)
    return runs_dir / name


def _drop_work(work: Path) -> None:
    """Delete a run's checkpoint folder, and ``.checkpoints/`` itself when nothing else is left in it."""
    shutil.rmtree(work, ignore_errors=True)
    try:
        work.parent.rmdir()
    except OSError:
        pass  # another run's checkpoints are there


def cross_validate(model_cls, params, config: RunConfig, X, y: np.ndarray, classes: list[str],
                   progress: bool = False, metric: str = "macro_f1", on_fold=None,
                   deadline: float | None = None) -> tuple[dict, np.ndarray]:
    """Stratified ``config.cv``-fold cross-validation of one configuration over the rows ``X``, ``y`` (label
    indices): each fold's model learns from the other folds (resampled there when ``config.balance``
    resamples; a rung that picks its best epoch holds out its own slice of them) and predicts its own
    fold. Returns ``({metric: {"mean", "std", "folds"}}, out-of-fold probabilities)``: every row is
    predicted exactly once, by the one model that did not see it. ``on_fold(i, running mean of metric)``
    is called after each fold (a search's pruner listens there).

    Example:
        >>> import pandas as pd
        >>> from textladder.config import DataConfig
        >>> from textladder.models import get, make_params
        >>> X = pd.DataFrame({"text": ["good dog", "bad cat", "nice dog", "mean cat"] * 6})
        >>> cfg = RunConfig(model="tfidf-linear", cv=3, data=DataConfig(path="-"))
        >>> cv, oof = cross_validate(get("tfidf-linear"), make_params("tfidf-linear", {"min_df": 1}), cfg, X,
        ...                          np.array([0, 1, 0, 1] * 6), ["cat", "dog"])
        >>> oof.shape, len(cv["accuracy"]["folds"])
        ((24, 2), 3)
    """
    from sklearn.model_selection import StratifiedKFold

    k = int(config.cv)
    smallest = int(np.bincount(y, minlength=len(classes)).min())
    if smallest < k:
        raise TextladderError(f"{k}-fold cross-validation needs at least {k} train+val rows of every class; the "
                              f"smallest class has {smallest} (use fewer folds, or {flag('min-class-rows')})")
    names = np.asarray(classes, dtype=object)
    oof = np.zeros((len(y), len(classes)), dtype=np.float64)
    scores: dict[str, list[float]] = {"accuracy": [], "macro_f1": []}
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=config.seed).split(np.zeros(len(y)), y)
    for i, (fit_idx, held) in enumerate(folds, 1):
        t = time.time()
        seed_everything(config.seed + i)
        X_fit, y_fit = resampled(X.iloc[fit_idx].reset_index(drop=True), y[fit_idx], config.balance, config.seed + i)
        model = build(model_cls, params, config)
        model.fit(X_fit, names[y_fit],
                  context=TrainingContext(progress=progress, deadline=deadline, **config.trainer.model_dump()))
        oof[held] = model.predict_proba(X.iloc[held].reset_index(drop=True))
        m = metrics(y[held], oof[held], classes)
        for key in scores:
            scores[key].append(round(float(m[key]), 6))
        log.info("fold %d/%d: accuracy %.4f, macro-F1 %.4f (%.0f s)", i, k, m["accuracy"], m["macro_f1"],
                 time.time() - t)
        if on_fold is not None:
            on_fold(i, float(np.mean(scores[metric])))
    summary = {key: {"mean": round(float(np.mean(v)), 6), "std": round(float(np.std(v)), 6), "folds": v}
               for key, v in scores.items()}
    summary["k"] = k
    log.info("%d-fold cross-validation: accuracy %.4f ± %.4f, macro-F1 %.4f ± %.4f", k,
             summary["accuracy"]["mean"], summary["accuracy"]["std"], summary["macro_f1"]["mean"],
             summary["macro_f1"]["std"])
    return summary, oof
