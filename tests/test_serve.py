"""Serving a run over HTTP: answers, limits and errors, concurrency, and the real server on 127.0.0.1."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import make_rows, start_server, write_csv
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from textladder.cli import app as cli
from textladder.runs import Run
from textladder.serve import create_app

runner = CliRunner()


def train(data, runs, *args) -> Run:
    result = runner.invoke(cli, ["train", str(data), "--out", str(runs), "--set", "min_df=1", *args])
    assert result.exit_code == 0, result.output
    return Run.open(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    return train(write_csv(root / "small.csv", make_rows(240)), root / "runs")


@pytest.fixture(scope="module")
def client(run):
    return TestClient(create_app(run.path, max_batch=5, max_chars=200))


def test_predict_gives_a_label_and_every_class_probability(client, run):
    r = client.post("/predict", json={"texts": ["today I went to the gym and ran five miles", "hugged my son"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["label"] for p in body["predictions"]] == ["exercise", "affection"]
    for p in body["predictions"]:
        assert sorted(p["probabilities"]) == run.classes
        assert abs(sum(p["probabilities"].values()) - 1) < 1e-4
    # the same probabilities as the run's model predicts directly
    import pandas as pd

    direct = run.load_model().predict_proba(pd.DataFrame({"text": ["hugged my son"]}))[0]
    served = body["predictions"][1]["probabilities"]
    assert all(abs(served[c] - direct[i]) < 1e-6 for i, c in enumerate(run.classes))
    assert body["run"] == run.name


def test_health_labels_model_and_docs(client, run):
    assert client.get("/health").json() == {"status": "ok", "run": run.name}
    assert client.get("/labels").json() == {"labels": run.classes}
    info = client.get("/model").json()
    assert info["config"]["model"] == "tfidf-linear" and info["metrics"]["test"]["accuracy"] > 0.9
    assert info["limits"] == {"max_batch": 5, "max_chars": 200, "truncate": False}
    assert client.get("/docs").status_code == 200
    assert "/predict" in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize("payload, status, message", [
    ({"texts": []}, 422, "texts: give at least one text"),
    ({"texts": ["a"] * 6}, 413, "6 texts, more than the limit of 5"),
    ({"texts": ["ok", "x" * 201]}, 413, "texts[1]: 201 characters, more than the limit of 200"),
    ({"texts": "not a list"}, 422, "texts: "),
    ({"texts": [1, 2]}, 422, "texts.0: "),
    ({"words": ["hi"]}, 422, "texts: Field required"),
    ({"texts": ["a", "b"], "period": ["24h"]}, 422, "period: 1 values for 2 texts"),
])
def test_limits_and_bad_requests_get_clear_json_errors(client, payload, status, message):
    r = client.post("/predict", json=payload)
    assert r.status_code == status
    assert message in r.json()["error"]


def test_truncate_cuts_long_texts_instead(run):
    c = TestClient(create_app(run.path, max_chars=20, truncate=True))
    r = c.post("/predict", json={"texts": ["hugged my son " + "and more words " * 50]})
    assert r.status_code == 200 and r.json()["predictions"][0]["label"] == "affection"


def test_a_run_trained_with_the_period_needs_it(tmp_path):
    r = train(write_csv(tmp_path / "s.csv", make_rows(240)), tmp_path / "runs", "--features", "period")
    c = TestClient(create_app(r.path))
    missing = c.post("/predict", json={"texts": ["ran five miles"]})
    assert missing.status_code == 422 and "trained with the extra input 'period'" in missing.json()["error"]
    ok = c.post("/predict", json={"texts": ["ran five miles"], "period": ["24h"]})
    assert ok.status_code == 200 and ok.json()["predictions"][0]["label"] == "exercise"


def test_concurrent_requests_all_get_their_own_answers(client):
    texts = ["went to the gym", "hugged my son", "got promoted"] * 10

    def ask(t):
        return client.post("/predict", json={"texts": [t]}).json()["predictions"][0]["label"]

    with ThreadPoolExecutor(8) as pool:
        labels = list(pool.map(ask, texts))
    assert labels == ["exercise", "affection", "achievement"] * 10


@pytest.mark.parametrize("workers", [1, 2])
def test_the_serve_command_answers_on_localhost(run, tmp_path, workers):
    proc, port = start_server(run.path, "--max-batch", "3", "--workers", workers)
    try:
        url = f"http://127.0.0.1:{port}"
        r = httpx.post(f"{url}/predict", json={"texts": ["hugged my son"]})
        assert r.json()["predictions"][0]["label"] == "affection"
        big = httpx.post(f"{url}/predict", json={"texts": ["a"] * 4})
        assert big.status_code == 413 and json.loads(big.text)["error"].startswith("texts: 4 texts")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_serve_refuses_a_missing_run(tmp_path):
    result = runner.invoke(cli, ["serve", str(tmp_path / "nope")])
    assert result.exit_code == 1 and "no such run folder" in result.output


def test_requests_that_queue_while_the_model_is_busy_share_one_batch():
    import pandas as pd

    from textladder.serve import Batcher

    def slow(X):
        time.sleep(0.2)
        return X[["x"]].to_numpy() * 10

    b = Batcher(slow)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: b(pd.DataFrame({"x": [i, i + 100]})).ravel().tolist(), range(8)))
    assert answers == [[10 * i, 10 * (i + 100)] for i in range(8)]  # each caller gets its own rows back
    assert b.calls == 8 and b.batches <= 3  # the first alone, the rest queued behind it together
