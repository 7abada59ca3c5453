"""train -> run folder -> evaluate / predict / runs, on a small fixture, through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import make_rows, write_csv
from typer.testing import CliRunner

from textladder.cli import app
from textladder.errors import RunError
from textladder.runs import Run, list_runs

runner = CliRunner()


def train(small_csv, runs, *args):
    result = runner.invoke(app, ["train", str(small_csv), "--out", str(runs), "--set", "min_df=1", *args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def trained(small_csv, tmp_path):
    runs = tmp_path / "runs"
    result = train(small_csv, runs)
    return runs, result.stdout.strip().splitlines()[-1]


def test_train_writes_a_complete_run_folder(trained, small_csv):
    runs, last_line = trained
    run = Run.open(last_line)
    names = {p.name for p in run.path.iterdir()}
    assert {"config.json", "labels.json", "split.json", "metrics.json", "model", "test_predictions.csv",
            "confusion_matrix.png", "confusion_matrix_normalized.png", "misclassified.csv", "per_class.csv"} <= names
    assert run.config.model == "tfidf-linear" and run.config.data.format == "hackerearth"
    assert run.config.split.method == "stratified"  # 120 rows: too few for the reference protocol
    assert run.config.params["min_df"] == 1 and run.config.params["C"] is None
    assert run.classes == ["achievement", "affection", "exercise"]
    split = run.split_ids
    assert len(split["train"]) + len(split["val"]) + len(split["test"]) == 120
    assert not set(split["train"]) & set(split["test"])
    assert run.metrics["test"]["accuracy"] > 0.9  # the fixture's classes are separable
    assert not any(p.name.startswith(".tmp") for p in runs.iterdir())
    # model state is safe formats only
    for f in (run.path / "model").iterdir():
        assert f.suffix in {".skops", ".json", ".safetensors"}


def test_reloaded_model_predicts_exactly_what_training_saw(trained, small_csv):
    _, path = trained
    run = Run.open(path)
    saved = pd.read_csv(run.path / "test_predictions.csv", dtype={"id": str})
    rows = {r["hmid"]: r["cleaned_hm"] for r in make_rows()}
    texts = pd.DataFrame({"text": [rows[i] for i in saved["id"]]})
    proba = run.load_model().predict_proba(texts)
    cols = [f"proba_{c}" for c in run.classes]
    np.testing.assert_allclose(proba, saved[cols].to_numpy(), atol=1e-6)


def test_evaluate_own_test_split_json(trained):
    _, path = trained
    result = runner.invoke(app, ["evaluate", path, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"accuracy", "macro_f1", "weighted_f1", "n", "per_class"} <= set(data)
    run = Run.open(path)
    assert data["n"] == len(run.split_ids["test"])
    assert data["accuracy"] == pytest.approx(run.metrics["test"]["accuracy"])
    assert set(data["per_class"]) == set(run.classes)
    assert {"precision", "recall", "f1", "support"} == set(data["per_class"]["exercise"])
    out = run.path / "eval-test"
    assert (out / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "confusion_matrix_normalized.png").is_file() and (out / "misclassified.csv").is_file()


def test_evaluate_other_file_skips_and_counts_unlabelled(trained, tmp_path):
    _, path = trained
    rows = make_rows(60, seed=5)
    for r in rows[:7]:
        r["predicted_category"] = ""
    data = write_csv(tmp_path / "other.csv", rows)
    result = runner.invoke(app, ["evaluate", path, str(data), "--json", "--out", str(tmp_path / "ev")])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["n"] == 53 and out["skipped_unlabelled"] == 7
    assert sum(v["support"] for v in out["per_class"].values()) == 53
    mis = pd.read_csv(tmp_path / "ev" / "misclassified.csv")
    assert list(mis.columns) == ["id", "true", "predicted", "confidence", "p_true", "text"]
    # human-readable form
    result = runner.invoke(app, ["evaluate", path, str(data), "--out", str(tmp_path / "ev2")])
    assert "skipped 7 rows with no label" in result.stdout and "macro-F1" in result.stdout


def test_evaluate_with_another_label_column_and_unknown_labels(trained, tmp_path):
    _, path = trained
    rows = make_rows(30, seed=2)
    for r in rows:
        r["human"] = r["predicted_category"]
    rows[4]["human"] = "bonding"
    data = write_csv(tmp_path / "h.csv", rows)
    result = runner.invoke(app, ["evaluate", path, str(data), "--label-col", "human", "--json"])
    assert result.exit_code == 1
    assert "label 'bonding' is not a class of run" in result.stderr and "line" in result.stderr


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_predict_streams_chunks_to_csv_or_parquet(trained, tmp_path, suffix, monkeypatch):
    _, path = trained
    rows = make_rows(250, seed=9)
    truth = [r.pop("predicted_category") for r in rows]  # like hm_test.csv: no labels
    src = write_csv(tmp_path / "unlabelled.csv", rows)
    seen = []
    from textladder.models.linear import TfidfLinear

    original = TfidfLinear.predict_proba
    monkeypatch.setattr(TfidfLinear, "predict_proba", lambda self, X: seen.append(len(X)) or original(self, X))
    output = tmp_path / f"pred{suffix}"
    result = runner.invoke(app, ["predict", path, str(src), "-o", str(output), "--chunk-size", "100"])
    assert result.exit_code == 0, result.output
    assert seen == [100, 100, 50]  # never more than one chunk in memory
    frame = pd.read_parquet(output) if suffix == ".parquet" else pd.read_csv(output, dtype={"id": str})
    assert len(frame) == 250
    assert list(frame.columns) == ["id", "predicted", "proba_achievement", "proba_affection", "proba_exercise"]
    assert frame["id"].tolist() == [r["hmid"] for r in rows]
    np.testing.assert_allclose(frame.filter(like="proba_").sum(axis=1), 1.0, atol=1e-5)
    assert (frame["predicted"] == truth).mean() > 0.9  # the fixture's classes are separable
    assert not list(tmp_path.glob(".pred*.partial"))


def test_predict_on_parquet_input(trained, tmp_path):
    _, path = trained
    src = tmp_path / "in.parquet"
    pd.DataFrame(make_rows(30, seed=4)).to_parquet(src)
    result = runner.invoke(app, ["predict", path, str(src), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(tmp_path / "o.csv")) == 30


def test_runs_leaderboard(trained, small_csv):
    runs, _ = trained
    # char_ngram_max changes nothing without character n-grams: the options leave it out
    train(small_csv, runs, "--set", "classifier=svm", "--set", "char_ngram_max=3", "--name", "svm-run")
    (runs / ".tmp-crashed-abc").mkdir()  # leftovers of an interrupted run are ignored
    result = runner.invoke(app, ["runs", str(runs), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 2
    svm = next(r for r in rows if r["run"] == "svm-run")
    assert svm["model"] == "tfidf-linear" and "classifier=svm" in svm["options"] and "char_ngram" not in svm["options"]
    assert all(r["accuracy"] is not None and r["train_seconds"] >= 0 for r in rows)
    assert rows[0]["macro_f1"] >= rows[1]["macro_f1"]
    table = runner.invoke(app, ["runs", str(runs)])
    assert "svm-run" in table.stdout and "macro-F1" in table.stdout


def test_failed_training_leaves_no_run_folder(small_csv, tmp_path, monkeypatch):
    from textladder.models.linear import TfidfLinear

    def broken_save(self, folder):
        (folder / "model.skops").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(TfidfLinear, "save", broken_save)
    runs = tmp_path / "runs"
    result = runner.invoke(app, ["train", str(small_csv), "--out", str(runs), "--set", "min_df=1"])
    assert result.exit_code == 130
    assert list(runs.iterdir()) == []
    assert list_runs(runs) == []


def test_loading_refuses_unexpected_types(trained):
    import skops.io as sio
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    _, path = trained
    run = Run.open(path)
    from textladder.files import write_checksums

    sio.dump(Pipeline([("f", FunctionTransformer(func=print))]), run.path / "model" / "model.skops")
    with pytest.raises(RunError, match="model file damaged"):  # the checksum recorded at training
        run.load_model()
    write_checksums(run.path / "model")  # as someone who tampers on purpose would
    with pytest.raises(RunError, match="refusing to load: the file names types or functions"):
        run.load_model()


def test_class_weight_option_is_saved(small_csv, tmp_path):
    runs = tmp_path / "runs"
    out = train(small_csv, runs, "--class-weight", "balanced")
    run = Run.open(out.stdout.strip().splitlines()[-1])
    assert run.config.params["class_weight"] == "balanced"
    assert run.load_model().pipeline_.named_steps["clf"].class_weight == "balanced"


def test_open_a_folder_that_is_not_a_run(tmp_path):
    result = runner.invoke(app, ["evaluate", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {tmp_path}: not a finished run folder (config.json is missing)"
