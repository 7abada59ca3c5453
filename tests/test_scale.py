"""Beyond one machine: the Ray engine (ladder, search, batch scoring) and MLflow tracking.

Ray runs as a local instance with 2 CPUs; the tests skip, saying why, where Ray is not installed or
cannot start. MLflow is checked against a real tracking server started here on 127.0.0.1 with an
SQLite store, and against a ``file:`` store.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from conftest import make_rows, write_csv
from typer.testing import CliRunner

import textladder
from textladder.cli import app
from textladder.config import DataConfig, RunConfig
from textladder.engine import Engine
from textladder.ladder import Ladder, Rung, climb
from textladder.runs import Run, list_runs
from textladder.tuning import search

runner = CliRunner()


@pytest.fixture(scope="module")
def ray_engine():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'textladder[ray]')")
    try:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"Ray cannot start here: {exc}")
    yield Engine.make("ray")
    ray.shutdown()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    return write_csv(root / "small.csv", make_rows(240, noise=0.2)), root


LADDER = Ladder(rung=[Rung(model="tfidf-linear", set={"min_df": 1}), Rung(model="fasttext", set={"epochs": 5})],
                ensemble=None)


def _scores(runs):
    return sorted((r.config.model, r.metrics["val"]["accuracy"], r.metrics["test"]["accuracy"],
                   r.metrics["test"]["macro_f1"]) for r in runs)


def test_a_ladder_on_ray_gives_the_local_engine_s_metrics(data, ray_engine):
    csv, root = data
    local = climb(LADDER, DataConfig(path=str(csv)), root / "local", report=False)
    on_ray = climb(LADDER, DataConfig(path=str(csv)), root / "ray", report=False, engine=ray_engine)
    assert on_ray.trained == 2 and not on_ray.failed
    assert [r.config.model for r in on_ray.runs] == ["tfidf-linear", "fasttext"]  # the ladder's order
    assert _scores(on_ray.runs) == _scores(local.runs)
    for a, b in zip(local.runs, on_ray.runs):  # the same predictions, not only the same scores
        np.testing.assert_allclose(a.predictions("test")[1], b.predictions("test")[1], atol=1e-6)


def test_a_rung_failing_on_a_worker_is_reported_and_the_others_go_on(data, ray_engine):
    csv, root = data
    ladder = Ladder(rung=[Rung(model="tfidf-linear", set={"min_df": 1}),
                          Rung(model="tfidf-linear", set={"token_pattern": "xyz{9}"})], ensemble=None)
    result = climb(ladder, DataConfig(path=str(csv)), root / "failing", report=False, engine=ray_engine)
    assert len(result.runs) == 1 and len(result.failed) == 1
    label, problem = result.failed[0]
    assert "token_pattern" in label and "no word in the train texts" in problem  # the rung's own error, as locally
    assert [p.name for p in (root / "failing").iterdir() if not p.name.startswith(".")] == [result.runs[0].name]


def test_a_search_on_ray_tries_what_the_local_one_tries(data, ray_engine):
    csv, root = data
    config = RunConfig(model="tfidf-linear", data=DataConfig(path=str(csv)), params={"min_df": 1})
    local = search(config, root / "s-local", trials=5)
    on_ray = search(config, root / "s-ray", trials=5, engine=ray_engine)
    a = pd.read_csv(local.trials_csv).sort_values("number")
    b = pd.read_csv(on_ray.trials_csv).sort_values("number")
    params = [c for c in a.columns if c.startswith("params_")]
    assert len(b) == 5 and b["state"].tolist() == a["state"].tolist() and (b["state"] != "FAIL").all()
    pd.testing.assert_frame_equal(a[params + ["value"]].reset_index(drop=True),
                                  b[params + ["value"]].reset_index(drop=True), check_exact=False, atol=1e-9)
    assert on_ray.best_value == pytest.approx(local.best_value)
    assert on_ray.run.metrics["test"]["accuracy"] == pytest.approx(local.run.metrics["test"]["accuracy"])
    # a trial the rung refuses (LinearSVC on unnormalised tf-idf) is pruned untrained on Ray as locally
    unnormalised = config.model_copy(update={"params": {"min_df": 1, "norm": None}})
    local = pd.read_csv(search(unnormalised, root / "r-local", trials=8).trials_csv)
    on_ray = pd.read_csv(search(unnormalised, root / "r-ray", trials=8, engine=ray_engine).trials_csv)
    for trials in (local, on_ray):
        svm = trials["params_classifier"] == "svm"
        assert svm.any() and (trials.loc[svm, "state"] == "PRUNED").all() and trials.loc[svm, "user_attrs_seconds"].isna().all()
    assert on_ray["state"].tolist() == local["state"].tolist()


def test_the_auto_ladder_searches_on_ray(data, ray_engine):
    from textladder.auto import AutoPlan, AutoRung, climb_auto

    csv, root = data
    plan = AutoPlan(rungs=[AutoRung("tfidf-linear", 1.0, {"min_df": 1}, max_trials=3)], cv=2)
    result = climb_auto(DataConfig(path=str(csv)), root / "auto", budget=60, plan=plan, report=False,
                        engine=ray_engine)
    assert list(result.searched) == ["tfidf-linear"] and list(result.refits) == ["tfidf-linear"]
    trials = pd.read_csv(next((root / "auto").glob("search-*.trials.csv")))
    assert (trials["state"] == "COMPLETE").sum() >= 3 and (trials["state"] != "FAIL").all()  # time left: searched on


def test_predict_on_ray_over_three_files_matches_the_local_engine(data, ray_engine, tmp_path):
    csv, root = data
    run = textladder.train(csv, model="tfidf-linear", out=root / "p", min_df=1)
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
    parts = np.array_split(np.arange(len(frame)), 3)
    files = []
    for i, rows in enumerate(parts):  # CRLF, quoted line breaks and commas, as the original
        files.append(write_csv(tmp_path / f"part{i}.csv", frame.iloc[rows].to_dict("records")))
    out = tmp_path / "scored"
    result = runner.invoke(app, ["predict", str(run.path), *map(str, files), "-o", str(out), "--engine", "ray",
                                 "--min-confidence", "0.6"])
    assert result.exit_code == 0, result.output
    got = pd.concat([pd.read_parquet(f) for f in sorted(out.glob("*.parquet"))]).sort_values("id").reset_index(drop=True)
    expected = []
    for i, f in enumerate(files):
        assert runner.invoke(app, ["predict", str(run.path), str(f), "-o", str(tmp_path / f"local{i}.csv"),
                                   "--min-confidence", "0.6"]).exit_code == 0
        expected.append(pd.read_csv(tmp_path / f"local{i}.csv", dtype={"id": str}))
    expected = pd.concat(expected).sort_values("id").reset_index(drop=True)
    assert got.columns.tolist() == expected.columns.tolist() and len(got) == len(frame)
    assert got["id"].tolist() == expected["id"].tolist()
    assert got["predicted"].tolist() == expected["predicted"].tolist()
    np.testing.assert_allclose(got.filter(like="proba_").to_numpy(), expected.filter(like="proba_").to_numpy(),
                               atol=1e-6)
    assert "withheld" in result.stderr and not list(tmp_path.glob(".scored*"))  # no temporary left behind
    again = runner.invoke(app, ["predict", str(run.path), str(files[0]), "-o", str(out), "--engine", "ray"])
    assert again.exit_code == 1 and "exists already" in again.output


# -- MLflow ---------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    pytest.importorskip("mlflow", reason="MLflow is not installed (pip install 'textladder[mlflow]')")
    root = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    mlflow_bin = os.path.join(os.path.dirname(sys.executable), "mlflow")
    proc = subprocess.Popen([mlflow_bin, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                             "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
                             "--artifacts-destination", str(root / "artifacts")],
                            stdout=subprocess.DEVNULL, stderr=open(root / "server.log", "wb"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    import urllib.request

    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"the MLflow server did not start: {(root / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(10)


def _runs(uri: str, experiment: str = "textladder"):
    import mlflow

    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # the file: store test reads one back

    mlflow.set_tracking_uri(uri)
    return mlflow.search_runs(experiment_names=[experiment], output_format="pandas")


def test_train_search_ladder_and_ensemble_are_tracked_on_a_real_server(data, mlflow_server, tmp_path, monkeypatch):
    csv, _ = data
    monkeypatch.setenv("TEXTLADDER_EXPERIMENT", "server-test")
    runs = tmp_path / "runs"
    r = runner.invoke(app, ["train", str(csv), "--model", "fasttext", "--set", "epochs=3", "--out", str(runs),
                            "--track", mlflow_server])
    assert r.exit_code == 0, r.output
    name = r.stdout.strip().splitlines()[-1].rsplit("/", 1)[-1]
    found = _runs(mlflow_server, "server-test")
    row = found[found["tags.textladder.run"] == name].iloc[0]
    run = Run.open(runs / name)
    assert row["params.model"] == "fasttext" and row["params.param.epochs"] == "3"
    assert row["metrics.test_accuracy"] == pytest.approx(run.metrics["test"]["accuracy"])
    assert row["metrics.val_ece"] == pytest.approx(run.metrics["val"]["ece"])
    assert row["tags.textladder.data_sha256"] == run.config.data.sha256
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_server)
    artifacts = {a.path for a in client.list_artifacts(row["run_id"])}
    assert {"metrics.json", "config.json", "model"} <= artifacts

    r = runner.invoke(app, ["search", str(csv), "--trials", "3", "--set", "min_df=1", "--out", str(runs),
                            "--track", mlflow_server])
    assert r.exit_code == 0, r.output
    found = _runs(mlflow_server, "server-test")
    parent = found[found["tags.mlflow.runName"].str.startswith("search ")].iloc[0]
    children = found[found["tags.mlflow.parentRunId"] == parent["run_id"]]
    assert len(children[children["tags.mlflow.runName"].str.startswith("trial ")]) == 3
    assert (children["tags.textladder.rung"] == "tfidf-linear").sum() == 1  # the best trial's run folder

    r = runner.invoke(app, ["ladder", str(csv), "--config", str(_ladder_file(tmp_path)), "--out", str(tmp_path / "l"),
                            "--no-report", "--track", mlflow_server])
    assert r.exit_code == 0, r.output
    found = _runs(mlflow_server, "server-test")
    ladder = found[found["tags.mlflow.runName"] == "ladder"].iloc[0]
    nested = found[found["tags.mlflow.parentRunId"] == ladder["run_id"]]
    assert sorted(nested["tags.textladder.rung"]) == ["ensemble", "fasttext", "tfidf-linear"]

    members = [str(p.path) for p in list_runs(tmp_path / "l") if p.config.model != "ensemble"]
    r = runner.invoke(app, ["ensemble", *members, "--vote", "stack", "--out", str(tmp_path / "l"),
                            "--track", mlflow_server])
    assert r.exit_code == 0, r.output
    found = _runs(mlflow_server, "server-test")
    assert (found["params.param.vote"] == "stack").sum() == 1


def _ladder_file(tmp_path):
    path = tmp_path / "two.toml"
    path.write_text('[[rung]]\nmodel = "tfidf-linear"\nset = { min_df = 1 }\n\n[[rung]]\nmodel = "fasttext"\n'
                    'set = { epochs = 3 }\n\n[ensemble]\nvote = ["soft"]\nselect = "all"\n')
    return path


def test_a_file_store_and_per_epoch_metrics(data, tmp_path):
    pytest.importorskip("mlflow", reason="MLflow is not installed (pip install 'textladder[mlflow]')")
    csv, _ = data
    uri = (tmp_path / "mlruns").as_uri()
    r = runner.invoke(app, ["train", str(csv), "--model", "attention", "--epochs", "2", "--set", "min_count=1",
                            "--out", str(tmp_path / "runs")], env={"TEXTLADDER_TRACKING_URI": uri})
    assert r.exit_code == 0, r.output
    found = _runs(uri)
    assert len(found) == 1 and found.iloc[0]["params.model"] == "attention"
    from mlflow.tracking import MlflowClient

    history = MlflowClient(uri).get_metric_history(found.iloc[0]["run_id"], "epoch_val_macro_f1")
    assert sorted(m.step for m in history) == [1, 2]


def test_a_tracking_failure_warns_and_keeps_the_run(data, tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="MLflow is not installed (pip install 'textladder[mlflow]')")
    csv, _ = data
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    dead = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    r = runner.invoke(app, ["train", str(csv), "--set", "min_df=1", "--out", str(tmp_path / "runs"), "--track", dead])
    assert r.exit_code == 0, r.output
    assert "tracking to" in r.output and "failed" in r.output
    assert len(list_runs(tmp_path / "runs")) == 1
