"""MLflow tracking: every run, search and ladder logged to the experiment tracker a team already uses.

``--track URI`` (or ``$TEXTLADDER_TRACKING_URI``) on ``train``, ``search``, ``ladder`` and ``ensemble``
logs each run folder once it is written: its parameters, its validation and test metrics (the
calibration figures too), the validation metrics of every epoch of a neural rung (step = epoch), the
run folder as artifacts, and tags (``textladder.rung``, ``textladder.data_sha256``,
``textladder.split``, ``textladder.trained_on``, ``textladder.run``). A search is a parent run with
one nested run per trial and the best trial's run folder under it; a ladder is a parent run with
every rung and ensemble under it. The run folder stays the source of truth: a tracking failure is a
warning, and never costs a run. MLflow is an optional extra (``pip install 'textladder[mlflow]'``),
imported only when tracking is asked for.

Example:
    >>> tracker = Tracker.make("file:/tmp/mlruns")  # doctest: +SKIP
    >>> tracker.log_run(Run.open("runs/tfidf-linear-..."))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import contextmanager
from pathlib import Path

from textladder.errors import TextladderError
from textladder.layout import HISTORY

log = logging.getLogger("textladder")

ENV = "TEXTLADDER_TRACKING_URI"
EXPERIMENT_ENV = "TEXTLADDER_EXPERIMENT"
METRIC_KEYS = ("accuracy", "macro_f1", "weighted_f1", "ece", "brier", "log_loss")


def _import_mlflow():
    try:
        import mlflow
    except ImportError:
        raise TextladderError("tracking needs MLflow: pip install 'textladder[mlflow]'") from None
    return mlflow


class Tracker:
    """Logs run folders to one MLflow tracking URI and experiment; every call warns instead of failing."""

    def __init__(self, uri: str, experiment: str | None = None):
        # A tracking server that is down must not hold a run up for minutes (MLflow retries 7 times with
        # back-off by default); a user's own settings of these win.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
        if uri.startswith("file:") or "://" not in uri:  # asked for by name: MLflow 3 keeps it only on request
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.mlflow = _import_mlflow()
        self.uri = uri
        self.experiment = experiment or os.environ.get(EXPERIMENT_ENV) or "textladder"
        self._parent: str | None = None

    @classmethod
    def make(cls, uri: str | None = None, experiment: str | None = None) -> Tracker | None:
        """A tracker for ``uri`` (default ``$TEXTLADDER_TRACKING_URI``), or None when neither is set."""
        uri = uri or os.environ.get(ENV)
        return cls(uri, experiment) if uri else None

    def _client(self):
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=self.uri)
        found = client.get_experiment_by_name(self.experiment)
        exp_id = found.experiment_id if found else client.create_experiment(self.experiment)
        return client, exp_id

    def _safely(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - tracking never costs a run
            log.warning("tracking to %s failed while logging %s (%s: %s); the run folder is kept as it is",
                        self.uri, what, type(exc).__name__, str(exc).splitlines()[0][:300] if str(exc) else "")
            return None

    # -- one run folder ------------------------------------------------------------------------------
    def log_run(self, run, parent: str | None = None) -> str | None:
        """Log the finished run folder ``run`` (under ``parent``, or the open parent); returns its MLflow id."""
        return self._safely(f"run {run.name}", self._log_run, run, parent or self._parent)

    def _log_run(self, run, parent: str | None) -> str:
        from mlflow.entities import Metric, Param, RunTag

        client, exp_id = self._client()
        cfg, m = run.config, run.metrics
        tags = {"textladder.rung": cfg.model, "textladder.run": run.name, "textladder.data": Path(cfg.data.path).name,
                "textladder.data_sha256": cfg.data.sha256 or "", "textladder.split": cfg.split.method,
                "textladder.trained_on": run.trained_on, "mlflow.runName": run.name}
        if parent:
            tags["mlflow.parentRunId"] = parent
        created = client.create_run(exp_id, run_name=run.name, tags=tags)
        rid = created.info.run_id
        params = {"model": cfg.model, "balance": cfg.balance, "seed": cfg.seed, "features": ",".join(cfg.features),
                  "cv": cfg.cv or "", "fit_on": cfg.fit_on, **{f"param.{k}": _short(v) for k, v in cfg.params.items()}}
        metrics = []
        for part in ("val", "test"):
            for key in METRIC_KEYS:
                value = m.get(part, {}).get(key)
                if value is not None:
                    metrics.append(Metric(f"{part}_{key}", float(value), 0, 0))
        for key in ("train_seconds", "test_predict_seconds"):
            if m.get(key) is not None:
                metrics.append(Metric(key, float(m[key]), 0, 0))
        if m.get("calibration", {}).get("temperature") is not None:
            metrics.append(Metric("temperature", float(m["calibration"]["temperature"]), 0, 0))
        cv = m.get("cv")
        if cv:
            for key in ("accuracy", "macro_f1"):
                metrics.append(Metric(f"cv_{key}_mean", float(cv[key]["mean"]), 0, 0))
                metrics.append(Metric(f"cv_{key}_std", float(cv[key]["std"]), 0, 0))
        history = run.path / HISTORY
        if history.is_file():
            import pandas as pd

            for row in pd.read_csv(history).to_dict("records"):
                step = int(row.get("epoch", 0))
                for key, value in row.items():
                    if key != "epoch" and isinstance(value, (int, float)) and value == value:
                        metrics.append(Metric(f"epoch_{key}", float(value), 0, step))
        client.log_batch(rid, metrics=metrics, params=[Param(k, str(v)[:6000]) for k, v in params.items()],
                         tags=[RunTag(k, v) for k, v in tags.items() if k != "mlflow.runName"])
        client.log_artifacts(rid, str(run.path))
        client.set_terminated(rid)
        log.info("tracked %s as MLflow run %s at %s", run.name, rid, self.uri)
        return rid

    # -- parents: a search, a ladder -------------------------------------------------------------------
    @contextmanager
    def parent(self, name: str, params: dict | None = None, tags: dict | None = None):
        """An MLflow run that the runs logged inside the ``with`` block are nested under."""
        rid = self._safely(f"parent run {name}", self._start_parent, name, params or {}, tags or {})
        previous, self._parent = self._parent, rid
        try:
            yield rid
        finally:
            self._parent = previous
            if rid:
                self._safely(f"parent run {name}", lambda: self._client()[0].set_terminated(rid))

    def _start_parent(self, name: str, params: dict, tags: dict) -> str:
        from mlflow.entities import Param, RunTag

        client, exp_id = self._client()
        rid = client.create_run(exp_id, run_name=name, tags={"mlflow.runName": name, **tags}).info.run_id
        client.log_batch(rid, params=[Param(k, _short(v)) for k, v in params.items()],
                         tags=[RunTag(k, str(v)) for k, v in tags.items()])
        return rid

    def log_metrics(self, rid: str | None, values: dict) -> None:
        if rid:
            from mlflow.entities import Metric

            self._safely("metrics", lambda: self._client()[0].log_batch(
                rid, metrics=[Metric(k, float(v), 0, 0) for k, v in values.items() if v is not None]))

    def log_search(self, result, study, config) -> None:
        """A search: a parent run (the study) with one nested run per trial, and the best trial's run."""
        with self.parent(f"search {result.study_name}", {"model": config.model, "trials": result.trials},
                         {"textladder.study": result.study_name, "textladder.rung": config.model}) as rid:
            self.log_metrics(rid, {"best_value": result.best_value, "default_value": result.default_value})
            if rid:
                self._safely("the trials", self._log_trials, rid, study)
            self.log_run(result.run)
            if result.refit is not None:
                self.log_run(result.refit)

    def _log_trials(self, parent: str, study) -> None:
        from mlflow.entities import Metric, Param, RunTag

        client, exp_id = self._client()
        for trial in study.trials:
            name = f"trial {trial.number}"
            rid = client.create_run(exp_id, run_name=name, tags={"mlflow.parentRunId": parent,
                                                                 "mlflow.runName": name}).info.run_id
            metrics = [Metric("value", float(trial.value), 0, 0)] if trial.value is not None else []
            metrics += [Metric(k, float(v), 0, 0) for k, v in trial.user_attrs.items() if isinstance(v, (int, float))]
            metrics += [Metric("intermediate", float(v), 0, int(step)) for step, v in trial.intermediate_values.items()]
            client.log_batch(rid, metrics=metrics, params=[Param(k, _short(v)) for k, v in trial.params.items()],
                             tags=[RunTag("textladder.trial_state", trial.state.name)])
            client.set_terminated(rid, status="FINISHED" if trial.state.name == "COMPLETE" else "KILLED")

    def log_ladder(self, result, data) -> None:
        """A ladder: a parent run with every rung's and ensemble's run nested under it."""
        with self.parent("ladder", {"data": Path(data.path).name, "rungs": len(result.runs)},
                         {"textladder.kind": "ladder"}) as rid:
            self.log_metrics(rid, {"seconds": result.seconds, "runs": len(result.runs),
                                   "ensembles": len(result.ensembles), "failed": len(getattr(result, "failed", []))})
            for run in result.runs + result.ensembles:
                self.log_run(run)


def _short(value) -> str:
    """A parameter's value as MLflow keeps it (JSON for lists and dicts, within MLflow's length limit)."""
    text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."
