"""--balance: every remedy on the rungs it applies to, only ever on the train split, recorded in the run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import make_rows, write_csv
from typer.testing import CliRunner

from textladder.cli import app
from textladder.config import DataConfig, RunConfig
from textladder.runs import Run
from textladder.training import train

runner = CliRunner()


@pytest.fixture
def skewed(tmp_path):
    """300 rows, 'exercise' cut to 20 of them: a 5 to 1 skew."""
    rows = make_rows(300)
    keep, seen = [], 0
    for r in rows:
        if r["predicted_category"] == "exercise":
            seen += 1
            if seen > 20:
                continue
        keep.append(r)
    return write_csv(tmp_path / "skewed.csv", keep)


def config(data, model="tfidf-linear", balance="none", **params):
    params = {"min_df": 1, **params} if model == "tfidf-linear" else params
    return RunConfig(model=model, params=params, balance=balance, data=DataConfig(path=str(data)))


class Spy:
    """Wraps a rung's _fit and _predict_proba to record the labels (indices) and rows each one sees."""

    def __init__(self, monkeypatch, cls):
        self.fit_y, self.predicted_rows = None, []
        fit, proba = cls._fit, cls._predict_proba
        spy = self

        def fit_spy(model, X, y, X_val=None, y_val=None):
            spy.fit_y, spy.fit_texts, spy.val_y = y.copy(), list(X["text"]), None if y_val is None else y_val.copy()
            return fit(model, X, y, X_val, y_val)

        def proba_spy(model, X):
            spy.predicted_rows.append(len(X))
            return proba(model, X)

        monkeypatch.setattr(cls, "_fit", fit_spy)
        monkeypatch.setattr(cls, "_predict_proba", proba_spy)


@pytest.mark.parametrize("method", ["oversample", "undersample"])
def test_only_the_train_split_is_resampled(skewed, tmp_path, monkeypatch, method):
    from textladder.models.linear import TfidfLinear

    spy = Spy(monkeypatch, TfidfLinear)
    run = Run.open(train(config(skewed, balance=method), tmp_path / "runs"))
    before = run.metrics["balance"]["train_before"]
    after = run.metrics["balance"]["train_after"]
    assert run.metrics["balance"]["method"] == method
    assert sum(before.values()) == len(run.split_ids["train"])
    target = max(before.values()) if method == "oversample" else min(before.values())
    assert set(after.values()) == {target}
    assert np.bincount(spy.fit_y).tolist() == list(after.values())
    # every resampled text is a train text; validation and test are scored whole, untouched
    rows = pd.read_csv(skewed, dtype=str).set_index("hmid")
    train_texts = set(rows.loc[run.split_ids["train"], "cleaned_hm"])
    assert set(spy.fit_texts) <= train_texts
    assert spy.predicted_rows == [len(run.split_ids["val"]), len(run.split_ids["test"])]
    assert run.metrics["val"]["n"] == len(run.split_ids["val"]) and run.metrics["test"]["n"] == len(run.split_ids["test"])
    assert len(spy.val_y) == len(run.split_ids["val"])


def test_class_weight_is_saved_with_the_run_and_reaches_the_model(skewed, tmp_path):
    run = Run.open(train(config(skewed, balance="class-weight"), tmp_path / "runs"))
    weights = run.metrics["balance"]["class_weights"]
    before = run.metrics["balance"]["train_before"]
    n, k = sum(before.values()), len(before)
    assert weights == pytest.approx({c: n / (k * v) for c, v in before.items()}, rel=1e-5)
    assert run.config.params["class_weight"] == "balanced"
    assert run.metrics["balance"]["train_after"] == before


@pytest.mark.parametrize("model", ["tfidf-linear", "w2v-dense", "contextual"])
def test_smote_on_fixed_length_vectors(skewed, tmp_path, model, model_cache):
    extra = {"tfidf-linear": {}, "contextual": {"epochs": 3},
             "w2v-dense": {"epochs": 3, "min_df": 1, "w2v_min_count": 1, "embedding_dim": 8}}[model]
    run = Run.open(train(config(skewed, model, balance="smote", **extra), tmp_path / "runs"))
    after = run.metrics["balance"]["train_after"]
    assert len(set(after.values())) == 1 and sum(after.values()) > len(run.split_ids["train"])
    assert run.metrics["test"]["n"] == len(run.split_ids["test"])
    run.load_model()  # the saved model holds no sampler


def test_smote_on_a_sequence_rung_is_refused_with_the_reason(skewed, tmp_path):
    result = runner.invoke(app, ["train", str(skewed), "-m", "bilstm2", "--balance", "smote", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "reads token sequences" in result.output and "--balance oversample" in result.output
    result = runner.invoke(app, ["train", str(skewed), "--balance", "sideways", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "none, oversample, undersample, smote, class-weight" in result.output


def test_class_weight_on_a_neural_rung_weights_its_loss(skewed, tmp_path):
    run = Run.open(train(config(skewed, "lstm", balance="class-weight", epochs=1, hidden=8, embedding_dim=8),
                         tmp_path / "runs"))
    report = run.metrics["model_report"]["class_weights"]
    assert report == pytest.approx(list(run.metrics["balance"]["class_weights"].values()), rel=1e-5)
