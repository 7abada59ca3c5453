"""Search a rung's parameters instead of guessing them: Optuna (TPE, seeded) maximising a validation metric.

Each rung declares what a search tries in its ``search_space(trial)``, next to its ``Params``; a trial
is an ordinary set of validated parameters. The data is read and split once; every trial fits on the
train split and is scored on the validation split, or (``cv=K``) is cross-validated over train+val
and scored by the mean of its folds. Test is never looked at. The rung's defaults are the first
trial, so a search never ends below them on validation. Neural rungs report each epoch's validation
macro-F1 (cross-validated trials: each fold's running mean) to a median pruner, which stops trials
that fall behind the others at the same step.

The study lives in SQLite inside the runs folder (``RUNS/search.sqlite``): an interrupted search
resumes, and the same search again with a bigger budget continues the same study. After the defaults
come the rung's ``search_portfolio`` (configurations that won earlier searches), then TPE. The best trial is
then trained again and written as a normal run folder, with the study's optimisation history and
parameter importances (``search/``: JSON and two PNGs the report shows); ``refit`` also writes the
same configuration retrained on train+validation (a neural rung for the epoch count validation
chose). The trials table is saved beside the study as CSV.

Example:
    >>> from textladder.config import DataConfig, RunConfig  # doctest: +SKIP
    >>> result = search(RunConfig(model="tfidf-linear", data=DataConfig(path="hm_train.csv")), "runs", trials=20)  # doctest: +SKIP
    >>> result.run.metrics["val"]["macro_f1"] >= result.default_value  # doctest: +SKIP
    True
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textladder.choices import check
from textladder.config import RunConfig, resolve
from textladder.data import split_dataset
from textladder.data.dataset import encode
from textladder.engine import task_error
from textladder.errors import TextladderError
from textladder.files import atomic_file, lock, write_json
from textladder.layout import HISTORY, SEARCH_DIR, STUDIES
from textladder.models import TextClassifier, TrainingContext, make_params
from textladder.runs import Run, load_data
from textladder.training import cross_validate, fit_and_score, resampled, train
from textladder.viz.plots import search_history_png, search_importance_png

log = logging.getLogger("textladder")

METRICS = ("macro_f1", "accuracy")


@dataclass
class SearchResult:
    run: Run  # the best trial, trained again (on train; with cv: cross-validated, then refit on train+val)
    study_name: str
    trials: int  # finished trials in the study, this call's and earlier ones
    pruned: int  # trials the pruner stopped early
    best_value: float
    default_value: float | None  # the first trial: the rung's defaults
    trials_csv: Path
    seconds: float
    refit: Run | None = None  # the best configuration retrained on train+val (refit=True)
    stopped: str | None = None  # why ``stop`` ended the search early

    @property
    def final(self) -> Run:
        """The run to use: the refit when there is one."""
        return self.refit or self.run


def study_name(config: RunConfig, metric: str, cv: int | None = None) -> str:
    """One study per rung, data contents, split, seed, balance, extra inputs, fixed parameters, metric, folds."""
    import hashlib
    import json

    extra = "-".join(config.features) or "text"
    fixed = hashlib.sha256(json.dumps(config.params, sort_keys=True).encode()).hexdigest()[:6] if config.params else "free"
    return (f"{config.model}-{(config.data.sha256 or 'nodata')[:12]}-{config.split.method}-seed{config.seed}-"
            f"{config.balance}-{extra}-{fixed}-{metric}" + (f"-cv{cv}" if cv else ""))


class _Fixed:
    """An Optuna trial whose ``suggest_*`` answers the parameters the caller fixed with their value (they are
    then not searched) and asks the real trial for the others."""

    def __init__(self, trial, fixed: dict):
        self._trial, self._fixed = trial, fixed

    def __getattr__(self, name: str):
        attr = getattr(self._trial, name)
        if not name.startswith("suggest_"):
            return attr

        def suggest(param: str, *args, **kwargs):
            return self._fixed[param] if param in self._fixed else attr(param, *args, **kwargs)
        return suggest


def _refuse(cls, params, fixed: dict, trial, optuna) -> None:
    """Prune, untrained, a trial whose parameters the rung refuses (:meth:`TextClassifier.search_refuses`)."""
    reason = cls.search_refuses(params, set(fixed))
    if reason:
        trial.set_user_attr("refused", reason)
        log.info("trial %d: not trained: %s", trial.number, reason)
        raise optuna.TrialPruned(reason)


UNAFFORDABLE = "its first epoch would take"
SEARCHED = "params"  # a trial's user attribute: its parameters as the rung takes them


def _unaffordable(cls, params, rows: int, words: float, deadline: float | None, trial, optuna) -> None:
    """Prune, untrained, a trial whose first epoch (its whole fit, for a rung without epochs) would end past
    ``deadline`` by the rung's declared cost on ``rows`` rows of ``words`` words on average."""
    if deadline is None:
        return
    first = params.model_copy(update={"epochs": 1}) if hasattr(params, "epochs") else params
    need = cls.estimate_seconds(first, rows, words)
    left = deadline - time.time()
    if need > left:
        reason = f"{UNAFFORDABLE} about {need:.0f} s; {max(left, 0):.0f} s of the budget are left"
        trial.set_user_attr("refused", reason)
        log.info("trial %d: not started: %s", trial.number, reason)
        raise optuna.TrialPruned(reason)


def _pruning(trial, optuna):
    """A history-row listener that reports validation macro-F1 after each epoch and stops a poor trial."""
    def on_epoch(row: dict) -> None:
        trial.report(row["val_macro_f1"], row["epoch"])
        if trial.should_prune():
            raise optuna.TrialPruned(f"epoch {row['epoch']}: validation macro-F1 {row['val_macro_f1']:.4f} "
                                     "behind the other trials")
    return on_epoch


def best_epoch(history: list[dict] | None) -> int | None:
    """The epoch (1-based) with the best validation macro-F1, the one a neural rung keeps."""
    if not history:
        return None
    return int(max(history, key=lambda r: r["val_macro_f1"])["epoch"])


def search(config: RunConfig, runs_dir: str | Path, trials: int | None = None, budget: float | None = None,
           metric: str = "macro_f1", name: str | None = None, progress: bool = False, cv: int | None = None,
           refit: bool = False, stop=None, engine=None, tracker=None, deadline: float | None = None) -> SearchResult:
    """Search ``config``'s rung for ``trials`` more trials or ``budget`` seconds (whichever ends first),
    then train the best trial into ``runs_dir`` and return it. ``cv=K`` scores each trial by K-fold
    cross-validation over train+val (the best is then written cross-validated, with its out-of-fold
    predictions, and refit on train+val); ``refit`` also writes the best retrained on train+val.
    ``stop(study)``, called after each trial, ends the search early when it returns a reason (kept in
    the result's ``stopped``). ``engine`` (Ray) runs as many trials at once as the cluster has CPUs
    for: the driver asks the study for each trial and tells it the result, so the study in SQLite stays
    the one record of every trial (no pruning there: a Ray trial runs to its end). ``tracker`` logs the
    search to MLflow. The budget holds inside a trial too: a neural trial starts no epoch that would end
    past it (or past ``deadline``, a ``time.time()`` value, when that comes first), and a trial whose
    first epoch alone would not fit (by :meth:`TextClassifier.estimate_seconds`) is not started."""
    import optuna

    check(metric, METRICS, "metric")
    if trials is None and budget is None:
        raise TextladderError("give a number of trials or a time budget")
    started = time.time()
    fixed = {k: v for k, v in config.params.items() if k != "seed"}  # what the caller set: never searched
    cls, config = resolve(config)
    if cls.search_space is TextClassifier.search_space:
        raise TextladderError(f"model '{config.model}' declares no search space")
    runs_dir = Path(runs_dir)
    config, ds, split = _read(config)
    classes = ds.classes
    train_ds, val_ds = ds.subset(split.train), ds.subset(split.val)
    X_train, y_train, X_val, y_val = train_ds.frame(), train_ds.labels, val_ds.frame(), val_ds.labels
    if cv:  # cross-validated trials: train+val, built once for every trial
        trval = ds.subset(np.concatenate([split.train, split.val]))
        X_trval, y_trval = trval.frame(), encode(trval.labels, classes)
    # as train() does: the trials learn from the same rows as the final run
    X_train, y_index = resampled(X_train, encode(y_train, classes), config.balance, config.seed)
    y_train = np.asarray(classes, dtype=object)[y_index]
    kept: dict = {"value": -np.inf}  # this call's best trial's fitted model: written without fitting again
    words = float(np.mean([len(str(t).split()) for t in X_train["text"]]))  # for the cost of a first epoch
    study_id = name or study_name(config.model_copy(update={"params": fixed}), metric, cv)
    runs_dir.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with lock(runs_dir / f"search-{study_id}"):
        study = optuna.create_study(direction="maximize", study_name=study_id, load_if_exists=True,
                                    storage=f"sqlite:///{(runs_dir / STUDIES).resolve()}",
                                    sampler=optuna.samplers.TPESampler(seed=config.seed),
                                    pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
        if not study.trials:  # the defaults first, then the rung's portfolio of earlier winners (for this data)
            for trial_params in cls.first_trials(make_params(config.model, config.params), len(X_train), words):
                study.enqueue_trial({k: v for k, v in trial_params.items() if k not in fixed}, skip_if_exists=True)

        def objective(trial) -> float:
            space = cls.data_space(_Fixed(trial, fixed), len(X_train), words)
            trial.set_user_attr(SEARCHED, space)  # the parameters, as the rung takes them (e.g. a head's layers)
            params = make_params(config.model, {**config.params, **space})
            _refuse(cls, params, fixed, trial, optuna)
            _unaffordable(cls, params, len(X_train) * (cv or 1), words, ends, trial, optuna)
            t = time.time()
            if cv:
                def on_fold(i: int, running: float) -> None:
                    trial.report(running, i)
                    if trial.should_prune():
                        raise optuna.TrialPruned(f"fold {i}: mean {metric} {running:.4f} behind the other trials")

                summary, _ = cross_validate(cls, params, config.model_copy(update={"cv": cv}), X_trval, y_trval,
                                            classes, metric=metric, on_fold=on_fold)
                m = {k: summary[k]["mean"] for k in METRICS}
            else:
                context = TrainingContext(on_epoch=_pruning(trial, optuna) if cls.checkpointed else None,
                                          deadline=ends, **config.trainer.model_dump())
                model, m, _ = fit_and_score(cls, params, config, X_train, y_train, X_val, y_val, classes, context)
                if model.history_:
                    trial.set_user_attr("best_epoch", best_epoch(model.history_))
                if m[metric] > kept["value"]:
                    kept.update(value=m[metric], number=trial.number, model=model, seconds=time.time() - t)
            trial.set_user_attr("val_accuracy", m["accuracy"])
            trial.set_user_attr("val_macro_f1", m["macro_f1"])
            trial.set_user_attr("seconds", round(time.time() - t, 2))
            log.info("trial %d: %s %s %.4f (%.0f s) %s", trial.number, "cross-validated" if cv else "validation",
                     metric, m[metric], time.time() - t, dict(trial.params))
            return m[metric]

        before = sum(t.state != optuna.trial.TrialState.WAITING for t in study.trials)
        stopped: list[str] = []
        took: list[float] = []  # seconds of each trial this call, finished or pruned

        def check_stop(study, trial) -> None:
            reason = stop(study) if stop is not None else None
            if trial.user_attrs.get("refused", "").startswith(UNAFFORDABLE):  # time only runs out: stop here
                stopped.append(f"budget: {trial.user_attrs['refused']}")
                study.stop()
            elif reason:
                stopped.append(reason)
                study.stop()
            elif budget is not None:  # Optuna only stops starting trials at the budget: finish within it
                took_s = (trial.duration.total_seconds() if getattr(trial, "duration", None) is not None  # a finished
                          else trial.user_attrs.get("seconds"))  # trial, or one told back from Ray (ask and tell)
                if took_s is not None and "refused" not in trial.user_attrs:  # a refused one never trained
                    took.append(took_s)
                left = budget - (time.time() - optimizing)
                if took and left < 0.5 * float(np.median(took)):
                    log.info("%.0f s of the budget left, less than half a trial (%.0f s): no more trials",
                             max(left, 0), float(np.median(took)))
                    study.stop()

        optimizing = time.time()
        ends = min((t for t in (deadline, None if budget is None else optimizing + budget) if t is not None),
                   default=None)
        if engine is not None and engine.name != "local":
            payload = {"config": config, "cv": cv, "metric": metric, "classes": classes, "deadline": ends,
                       "rows": len(X_train), "words": words,
                       "data": (X_trval, y_trval) if cv else (X_train, y_train, X_val, y_val)}
            _optimize_on(engine, study, payload, fixed, cls, trials, budget, check_stop)
        else:
            study.optimize(objective, n_trials=trials, timeout=budget, callbacks=[check_stop],
                           catch=(TextladderError, ValueError, RuntimeError), show_progress_bar=progress)
        done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
        if not done:
            if stopped and stopped[0].startswith("budget: "):
                raise TextladderError(f"'{config.model}' not searched: {stopped[0][len('budget: '):]}")
            raise TextladderError(f"no trial of '{config.model}' finished; see the warnings above")
        log.info("%d trials this time, %d finished in the study (%d pruned); best %s %.4f",
                 len(study.trials) - before, len(done), pruned, metric, study.best_value)
        frame = study.trials_dataframe()
        csv = runs_dir / f"search-{study_id}.trials.csv"
        with atomic_file(csv) as tmp:
            frame.to_csv(tmp, index=False)
    first = study.trials[0]
    default = first.value if first.state == optuna.trial.TrialState.COMPLETE else None
    searched = study.best_trial.user_attrs.get(SEARCHED, study.best_params)  # studies before it: Optuna's names
    best = make_params(config.model, {**config.params, **searched}).model_dump(mode="json")
    chosen = config.model_copy(update={"params": best, "cv": cv})
    fitted = (kept["model"], kept["seconds"]) if kept.get("number") == study.best_trial.number else None
    run = Run.open(train(chosen, runs_dir, fitted=fitted))
    write_study(run, study, metric, default)
    refit_run = None
    if refit and not cv:  # a cross-validated best is refit on train+val already
        refit_run = Run.open(train(refit_config(chosen, run, cls), runs_dir, chosen_by=run.path))
    result = SearchResult(run=run, study_name=study_id, trials=len(done), pruned=pruned,
                          best_value=float(study.best_value), default_value=default, trials_csv=csv,
                          seconds=time.time() - started, refit=refit_run, stopped=stopped[0] if stopped else None)
    if tracker is not None:
        tracker.log_search(result, study, config)
    return result


def score_trial(payload: dict, params: dict) -> dict:
    """One trial, wherever it runs (a Ray task): fit ``payload["config"]``'s rung with ``params`` on the
    train rows and score it on validation, or cross-validate it (``payload["cv"]``). Returns the
    metrics, the seconds it took and, for a neural rung, the best epoch."""
    config, cv, classes = payload["config"], payload["cv"], payload["classes"]
    cls, _ = resolve(config)
    model_params = make_params(config.model, {**config.params, **params})
    t = time.time()
    if cv:
        X, y = payload["data"]
        summary, _ = cross_validate(cls, model_params, config.model_copy(update={"cv": cv}), X, y, classes,
                                    metric=payload["metric"])
        out = {k: summary[k]["mean"] for k in METRICS}
    else:
        X_train, y_train, X_val, y_val = payload["data"]
        context = TrainingContext(deadline=payload.get("deadline"), **config.trainer.model_dump())
        model, m, _ = fit_and_score(cls, model_params, config, X_train, y_train, X_val, y_val, classes, context)
        out = {k: m[k] for k in METRICS}
        out["best_epoch"] = best_epoch(model.history_)
    out["seconds"] = round(time.time() - t, 2)
    return out


def _optimize_on(engine, study, payload: dict, fixed: dict, cls, trials: int | None, budget: float | None,
                 check_stop) -> None:
    """Ask-and-tell over Ray: as many trials at once as the cluster has CPUs for (``engine.cpus_per_task``
    each), each told to the study as it finishes; stops after ``trials`` trials or ``budget`` seconds (the
    trials running then are waited for), or when ``check_stop`` stops the study."""
    import optuna

    ray = engine.start()
    slots = max(1, int(ray.cluster_resources().get("CPU", 1) // engine.cpus_per_task))
    shared = ray.put(payload)
    task = ray.remote(num_cpus=engine.cpus_per_task, num_gpus=engine.gpus_per_task, max_retries=0)(score_trial)
    metric, started, asked, pending = payload["metric"], time.time(), 0, {}
    config = payload["config"]
    state = {"stop": False}
    study_stop = study.stop

    def stop_here() -> None:  # what check_stop calls through study.stop()
        state["stop"] = True

    study.stop = stop_here
    try:
        while True:
            while (len(pending) < slots and not state["stop"] and (trials is None or asked < trials)
                   and (budget is None or time.time() - started < budget)):
                trial = study.ask()
                params = cls.data_space(_Fixed(trial, fixed), payload["rows"], payload["words"])
                trial.set_user_attr(SEARCHED, params)
                asked += 1
                try:
                    _refuse(cls, make_params(config.model, {**config.params, **params}), fixed, trial, optuna)
                except optuna.TrialPruned:
                    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                    continue
                pending[task.remote(shared, params)] = trial
            if not pending:
                break
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            trial = pending.pop(ref)
            try:
                m = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - a failed trial is recorded as failed, the search goes on
                log.warning("trial %d failed: %s", trial.number, task_error(exc))
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                continue
            trial.set_user_attr("val_accuracy", m["accuracy"])
            trial.set_user_attr("val_macro_f1", m["macro_f1"])
            trial.set_user_attr("seconds", m["seconds"])
            if m.get("best_epoch") is not None:
                trial.set_user_attr("best_epoch", m["best_epoch"])
            study.tell(trial, m[metric])
            log.info("trial %d (Ray): %s %.4f (%.0f s) %s", trial.number, metric, m[metric], m["seconds"],
                     dict(trial.params))
            check_stop(study, trial)
    finally:
        study.stop = study_stop
        for ref, trial in pending.items():  # interrupted: the study records them as failed, as Optuna does
            ray.cancel(ref, force=True)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)


def _read(config: RunConfig):
    """The data a search reads once: ``(config with the data's hash and resolved split, dataset, split)``."""
    ds = load_data(config)
    split_cfg, split = split_dataset(ds, config.split)
    config = config.model_copy(update={"split": split_cfg, "data": config.data.model_copy(
        update={"sha256": ds.sha256, "format": ds.format, "rows": len(ds)})})
    return config, ds, split


def autotune(config: RunConfig, runs_dir: str | Path, budget: float) -> Run:
    """A rung's own search instead of Optuna's (fastText's autotune, on the validation split, for ``budget``
    seconds), then the configuration it chose trained as a run folder. Parameters in ``config`` are
    replaced by what the autotune chose."""
    cls, config = resolve(config)
    if not hasattr(cls, "autotune"):
        raise TextladderError(f"model '{config.model}' has no search of its own; use the search's trials or budget")
    config, ds, split = _read(config)
    classes = ds.classes
    train_ds, val_ds = ds.subset(split.train), ds.subset(split.val)
    log.info("%s autotune on the validation split for %.0f s ...", config.model, budget)
    chosen = cls.autotune(train_ds.frame(), encode(train_ds.labels, classes), val_ds.frame(),
                          encode(val_ds.labels, classes), budget)
    log.info("autotune chose %s", chosen)
    params = make_params(config.model, {**config.params, **chosen}).model_dump(mode="json")
    return Run.open(train(config.model_copy(update={"params": params}), runs_dir))


def refit_config(chosen: RunConfig, run: Run, cls: type) -> RunConfig:
    """``chosen`` retrained on train+val; a rung that picks its best epoch on validation trains for the
    epoch count ``run`` (trained on train only) found, without stopping early."""
    params = dict(chosen.params)
    if cls.checkpointed:
        import pandas as pd

        history = run.path / HISTORY
        epochs = best_epoch(pd.read_csv(history).to_dict("records")) if history.is_file() else None
        if epochs:
            params.update(epochs=epochs, patience=epochs)
    return chosen.model_copy(update={"params": params, "fit_on": "train+val", "cv": None})


def write_study(run: Run, study, metric: str, default: float | None) -> Path:
    """The study's story in the best run's folder (``search/``): ``study.json`` (trials, best, defaults,
    parameter importances), ``history.png`` (each trial's score and the best so far) and
    ``importance.png``. Each file is written atomically."""
    import optuna

    folder = run.path / SEARCH_DIR
    folder.mkdir(exist_ok=True)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    importances: dict[str, float] = {}
    if len(done) >= 3:
        try:
            importances = {k: round(float(v), 4) for k, v in optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0)).items()}
        except (RuntimeError, ValueError) as exc:  # e.g. every trial alike
            log.info("no parameter importances: %s", exc)
    write_json(folder / "study.json", {
        "study": study.study_name, "metric": metric, "best_value": study.best_value, "default_value": default,
        "best_params": study.best_params, "finished": len(done),
        "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
        "importances": importances,
        "trials": [{"number": t.number, "value": t.value, "state": t.state.name, "params": t.params,
                    "seconds": t.user_attrs.get("seconds")} for t in study.trials],
    })
    search_history_png([(t.number, t.value) for t in done], folder / "history.png", metric=metric,
                       title=f"{run.config.model}: {len(done)} trials")
    if importances:
        search_importance_png(importances, folder / "importance.png", title=f"{run.config.model}: what mattered")
    return folder
