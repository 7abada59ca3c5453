"""Search a rung's parameters instead of guessing them: Optuna (TPE, seeded) maximising a validation metric.

Each rung declares what a search tries in its ``search_space(trial)``, next to its ``Params``; a trial
is an ordinary set of validated parameters. The data is read and split once; every trial fits on the
train split and is scored on the validation split (test is never looked at). The rung's defaults are
the first trial, so a search never ends below them on validation. The study lives in SQLite inside the
runs folder (``RUNS/search.sqlite``): an interrupted search resumes, and the same search again with a
bigger budget continues the same study. The best trial is then trained again and written as a normal
run folder; the trials table is saved beside the study as CSV.

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

from textladder.choices import check
from textladder.config import RunConfig, resolve
from textladder.data import make_split
from textladder.errors import TextladderError
from textladder.evaluate import metrics
from textladder.files import atomic_file, lock
from textladder.models import TextClassifier, make_params
from textladder.runs import Run, encode, load_data

log = logging.getLogger("textladder")

METRICS = ("macro_f1", "accuracy")
STORAGE = "search.sqlite"


@dataclass
class SearchResult:
    run: Run  # the best trial, trained again and written as a run folder
    study_name: str
    trials: int  # finished trials in the study, this call's and earlier ones
    best_value: float
    default_value: float | None  # the first trial: the rung's defaults
    trials_csv: Path
    seconds: float


def study_name(config: RunConfig, metric: str) -> str:
    """One study per rung, data contents, split, seed, balance, extra inputs and metric."""
    extra = "-".join(config.features) or "text"
    return (f"{config.model}-{(config.data.sha256 or 'nodata')[:12]}-{config.split.method}-seed{config.seed}-"
            f"{config.balance}-{extra}-{metric}")


def search(config: RunConfig, runs_dir: str | Path, trials: int | None = None, budget: float | None = None,
           metric: str = "macro_f1", name: str | None = None, progress: bool = False) -> SearchResult:
    """Search ``config``'s rung for ``trials`` more trials or ``budget`` seconds (whichever ends first),
    then train the best trial into ``runs_dir`` and return it."""
    import optuna

    check(metric, METRICS, "metric")
    if trials is None and budget is None:
        raise TextladderError("give a number of trials or a time budget")
    started = time.time()
    cls, config = resolve(config)
    if cls.search_space is TextClassifier.search_space:
        raise TextladderError(f"model '{config.model}' declares no search space")
    runs_dir = Path(runs_dir)
    ds = load_data(config)
    split_cfg = config.split.resolve(ds.format, len(ds))
    config = config.model_copy(update={"split": split_cfg, "data": config.data.model_copy(
        update={"sha256": ds.sha256, "format": ds.format, "rows": len(ds)})})
    split = make_split(ds.labels, split_cfg)
    classes = ds.classes
    train_ds, val_ds = ds.subset(split.train), ds.subset(split.val)
    X_train, y_train, X_val, y_val = train_ds.frame(), train_ds.labels, val_ds.frame(), val_ds.labels
    y_val_index = encode(y_val, classes)
    study_id = name or study_name(config, metric)
    runs_dir.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with lock(runs_dir / f"search-{study_id}"):
        study = optuna.create_study(direction="maximize", study_name=study_id, load_if_exists=True,
                                    storage=f"sqlite:///{(runs_dir / STORAGE).resolve()}",
                                    sampler=optuna.samplers.TPESampler(seed=config.seed))
        if not study.trials:
            study.enqueue_trial(cls.search_start(make_params(config.model, config.params)))

        def objective(trial) -> float:
            params = make_params(config.model, {**config.params, **cls.search_space(trial)})
            model = cls(params, features=config.features, smote=config.balance == "smote")
            t = time.time()
            model.fit(X_train, y_train, X_val, y_val)
            m = metrics(y_val_index, model.predict_proba(X_val), classes)
            trial.set_user_attr("val_accuracy", m["accuracy"])
            trial.set_user_attr("val_macro_f1", m["macro_f1"])
            trial.set_user_attr("seconds", round(time.time() - t, 2))
            log.info("trial %d: validation %s %.4f (%.0f s) %s", trial.number, metric, m[metric], time.time() - t,
                     {k: v for k, v in trial.params.items()})
            return m[metric]

        before = len(study.trials)
        study.optimize(objective, n_trials=trials, timeout=budget, catch=(TextladderError, ValueError, RuntimeError),
                       show_progress_bar=progress)
        done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if not done:
            raise TextladderError(f"no trial of '{config.model}' finished; see the warnings above")
        log.info("%d trials this time, %d in the study; best validation %s %.4f", len(study.trials) - before,
                 len(done), metric, study.best_value)
        frame = study.trials_dataframe()
        csv = runs_dir / f"search-{study_id}.trials.csv"
        with atomic_file(csv) as tmp:
            frame.to_csv(tmp, index=False)
    from textladder.training import train

    best = make_params(config.model, {**config.params, **study.best_params}).model_dump(mode="json")
    path = train(config.model_copy(update={"params": best}), runs_dir)
    first = study.trials[0]
    return SearchResult(run=Run.open(path), study_name=study_id, trials=len(done), best_value=float(study.best_value),
                        default_value=first.value if first.state == optuna.trial.TrialState.COMPLETE else None,
                        trials_csv=csv, seconds=time.time() - started)
