"""Calibrated probabilities and abstention: temperature scaling, ECE/Brier/log loss, --min-confidence,
--target-accuracy."""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest
from conftest import make_rows, write_csv
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import textladder
from textladder.calibration import (apply_temperature, calibration_metrics, coverage_curve, fit_temperature, log_loss,
                                    selective, softmax, threshold_for)
from textladder.cli import app
from textladder.runs import Run
from textladder.serve import create_app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    """A tfidf-linear run on 600 rows with 25% of the labels flipped: its probabilities need a temperature."""
    root = tmp_path_factory.mktemp("trust")
    rows = make_rows(600, noise=0.2)
    rng = random.Random(5)
    for row in rows:
        if rng.random() < 0.25:
            row["predicted_category"] = rng.choice(["affection", "achievement", "exercise"])
    data = write_csv(root / "noisy.csv", rows)
    run = textladder.train(data, model="tfidf-linear", out=root / "runs", min_df=1)
    return data, run


def test_temperature_lowers_the_log_loss_of_an_over_confident_model():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 3000)
    logits = np.eye(4)[y] * 1.5 + rng.normal(0, 1.2, (3000, 4))
    honest = softmax(logits)
    over = softmax(4 * logits)
    t = fit_temperature(over[:1500], y[:1500])
    assert 3.0 < t < 5.0  # it finds the factor the probabilities were sharpened by
    before, after = over[1500:], apply_temperature(over[1500:], t)
    assert log_loss(after, y[1500:]) < log_loss(before, y[1500:]) - 0.2
    assert calibration_metrics(after, y[1500:])["ece"] < calibration_metrics(before, y[1500:])["ece"] / 3
    assert (after.argmax(1) == before.argmax(1)).all()  # no prediction changes
    np.testing.assert_allclose(apply_temperature(after, 1 / t), before, atol=1e-9)  # and it can be undone
    assert 0.8 < fit_temperature(honest, y) < 1.25  # a calibrated model is left about as it is


def test_ece_and_brier_by_hand():
    p = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    y = np.array([0, 1, 0, 1])
    m = calibration_metrics(p, y)
    # bins: 0.9 (two rows, accuracy 0.5, gap 0.4), 0.6 (one row right, gap 0.4), 0.7 (one right, gap 0.3)
    assert m["ece"] == pytest.approx((2 * 0.4 + 0.4 + 0.3) / 4)
    assert m["brier"] == pytest.approx((0.02 + 1.62 + 0.32 + 0.18) / 4)


def test_threshold_is_the_lowest_that_reaches_the_target_and_keeps_ties_together():
    p = np.array([[0.99, 0.01], [0.9, 0.1], [0.9, 0.1], [0.8, 0.2], [0.7, 0.3]])
    y = np.array([0, 0, 1, 0, 0])
    # rows >= 0.99: 1/1; >= 0.9: 2/3; >= 0.8: 3/4; >= 0.7: 4/5
    assert threshold_for(p, y, 0.8) == 0.7
    assert threshold_for(p, y, 0.75) == 0.7
    assert threshold_for(p, y, 0.81) == 0.99  # 0.7 gives 0.8, 0.8 gives 0.75, 0.9 gives 0.667: only the top row
    assert threshold_for(np.array([[0.6, 0.4]]), np.array([1]), 0.5) is None
    s = selective(p, y, 0.8)
    assert (s["coverage"], s["accuracy"], s["answered"], s["withheld"]) == (0.8, 0.75, 4, 1)
    curve = coverage_curve(p, y, points=5)
    assert curve["accuracy"][-1] == pytest.approx(0.8) and curve["accuracy"][0] == 1.0


def test_a_run_saves_its_temperature_and_predicts_calibrated(noisy):
    data, run = noisy
    cal = run.metrics["calibration"]
    t = cal["temperature"]
    assert abs(t - 1) > 0.05 and "validation" in cal["fitted_on"]
    rung = json.loads((run.path / "model" / "rung.json").read_text())
    assert rung["temperature"] == pytest.approx(t, rel=1e-5)
    texts = ["hugged my son", "went to the gym and got promoted"]
    calibrated = textladder.load(run.path).predict_proba(texts)
    own = run.load_model(calibrated=False).predict_proba(texts)
    np.testing.assert_allclose(calibrated, apply_temperature(own, t), atol=1e-6)
    assert (calibrated.max(axis=1) < own.max(axis=1)).all() == (t > 1)  # T > 1 softens, T < 1 sharpens
    for part in ("val", "test"):  # the figures are the calibrated ones; the model's own are kept beside them
        m = run.metrics[part]
        assert {"ece", "brier", "log_loss"} <= set(m) and {"ece", "brier", "log_loss"} <= set(m["uncalibrated"])
    assert run.metrics["val"]["log_loss"] < run.metrics["val"]["uncalibrated"]["log_loss"]
    assert (run.path / "reliability.png").stat().st_size > 5000 and (run.path / "coverage.png").is_file()
    ids, saved = run.predictions("val")
    _, raw = run.predictions("val", calibrated=False)
    np.testing.assert_allclose(saved, apply_temperature(raw, t), atol=1e-5)


def test_evaluate_reports_calibration_before_and_after_and_a_target_accuracy(noisy, tmp_path):
    data, run = noisy
    result = invoke("evaluate", run.path, "--json", "--target-accuracy", "0.9", "--out", tmp_path / "ev")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["ece"] == pytest.approx(run.metrics["test"]["ece"], abs=1e-4)
    assert got["uncalibrated"]["log_loss"] != got["log_loss"]
    chosen = got["selective"]
    assert chosen["reached"] and chosen["validation"]["accuracy"] >= 0.9
    # the threshold is chosen on the run's validation predictions and applied to its test rows
    _, val = run.predictions("val")
    assert chosen["threshold"] == pytest.approx(threshold_for(val, run.truth("val"), 0.9), abs=1e-6)
    test = pd.read_csv(run.path / "test_predictions.csv")
    conf = test.filter(like="proba_").max(axis=1).to_numpy()
    keep = conf >= chosen["threshold"] - 1e-6
    assert chosen["answered"] == int(keep.sum())
    assert chosen["accuracy"] == pytest.approx((test["true"] == test["predicted"])[keep].mean(), abs=1e-6)
    assert (tmp_path / "ev" / "reliability.png").is_file() and (tmp_path / "ev" / "coverage.csv").is_file()
    plain = json.loads(invoke("evaluate", run.path, "--json", "--no-calibration", "--out", tmp_path / "ev2").stdout)
    assert plain["ece"] == pytest.approx(got["uncalibrated"]["ece"], abs=1e-6)
    assert plain["accuracy"] == got["accuracy"]  # temperature never changes a prediction
    shown = invoke("evaluate", run.path, "--target-accuracy", "0.9", "--out", tmp_path / "ev3")
    assert shown.exit_code == 0 and "ECE" in shown.stdout and "threshold" in shown.stdout


def test_predict_min_confidence_withholds_and_counts(noisy, tmp_path):
    data, run = noisy
    out = tmp_path / "p.csv"
    result = invoke("predict", run.path, data, "-o", out, "--min-confidence", "0.8", "--keep-text")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    low = frame.filter(like="proba_").max(axis=1) < 0.8
    assert 0 < low.sum() < len(frame)
    assert (frame["predicted"] == "uncertain").sum() == low.sum()
    assert (frame.loc[low, "confidence"] < 0.8).all() and "text" in frame.columns
    assert f"{int(low.sum()):,} (" in result.stderr and "withheld" in result.stderr
    assert invoke("predict", run.path, data, "-o", tmp_path / "q.csv").exit_code == 0
    assert "uncertain" not in set(pd.read_csv(tmp_path / "q.csv")["predicted"])


def test_serve_min_confidence(noisy):
    data, run = noisy
    client = TestClient(create_app(run.path, min_confidence=0.8))
    texts = ["hugged my son and my wife", "today I went to the gym and got promoted and my family", "yoga class"]
    body = client.post("/predict", json={"texts": texts}).json()
    proba = Run.open(run.path).load_model().predict_proba(texts)
    low = proba.max(axis=1) < 0.8
    assert body["withheld"] == int(low.sum())
    assert [p["uncertain"] for p in body["predictions"]] == low.tolist()
    assert [p["label"] == "uncertain" for p in body["predictions"]] == low.tolist()
    np.testing.assert_allclose([p["confidence"] for p in body["predictions"]], proba.max(axis=1), atol=1e-5)
    raw = TestClient(create_app(run.path, calibrated=False)).post("/predict", json={"texts": texts}).json()
    own = Run.open(run.path).load_model(calibrated=False).predict_proba(texts).max(axis=1)
    assert raw["withheld"] == 0
    np.testing.assert_allclose([p["confidence"] for p in raw["predictions"]], own, atol=1e-5)
    assert np.abs(own - proba.max(axis=1)).max() > 1e-3


def test_evaluate_warns_when_the_scored_rows_were_learned_from(noisy, tmp_path):
    data, run = noisy
    result = invoke("evaluate", run.path, data, "--json", "--out", tmp_path / "own")
    assert result.exit_code == 0, result.output
    overlap = json.loads(result.stdout)["overlap"]
    assert overlap["by_id"] == len(run.split_ids["train"]) and overlap["by_text"] >= overlap["by_id"] - 5
    assert "learned from" in result.stderr
    # new rows with the texts of training rows, under other ids: caught by text
    frame = pd.read_csv(data, dtype=str, keep_default_na=False)
    copy = frame[frame["hmid"].isin(run.split_ids["train"][:20])].assign(hmid=lambda f: "new-" + f["hmid"])
    copy["cleaned_hm"] = copy["cleaned_hm"].str.upper() + "  "
    copy.to_csv(tmp_path / "copy.csv", index=False)
    got = json.loads(invoke("evaluate", run.path, tmp_path / "copy.csv", "--json", "--out", tmp_path / "c").stdout)
    assert got["overlap"] == {"by_id": 0, "by_text": 20, "rows": 20}
