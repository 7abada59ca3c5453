"""--features period: a second input on every rung, saved with the run, unknown values bucketed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import make_rows, write_csv
from typer.testing import CliRunner

from textladder.cli import app
from textladder.config import DataConfig, RunConfig
from textladder.errors import TextladderError
from textladder.runs import Run
from textladder.training import train

runner = CliRunner()
PARAMS = {"tfidf-linear": {"min_df": 1},
          "lstm": {"epochs": 2, "hidden": 8, "embedding_dim": 8},
          "w2v-dense": {"epochs": 2, "min_df": 1, "w2v_min_count": 1, "embedding_dim": 8},
          "cnn": {"epochs": 2, "filters": 8, "embedding_dim": 8},
          "fasttext": {"epochs": 5, "dim": 16}}


@pytest.fixture
def period_data(tmp_path):
    """The class is in the words, except for 'mixed' texts whose class only the period tells."""
    rows = make_rows(240)
    for i, r in enumerate(rows):
        if i % 2:
            r["cleaned_hm"] = "a mixed kind of day"
            r["reflection_period"] = "24h" if r["predicted_category"] == "affection" else "3m"
            r["predicted_category"] = "affection" if r["reflection_period"] == "24h" else "achievement"
    return write_csv(tmp_path / "p.csv", rows)


@pytest.mark.parametrize("model", list(PARAMS))
def test_period_is_an_input_of_every_rung_and_reloads(period_data, tmp_path, model):
    cfg = RunConfig(model=model, params=PARAMS[model], features=["period"], data=DataConfig(path=str(period_data)))
    run = Run.open(train(cfg, tmp_path / "runs"))
    assert run.config.features == ["period"]
    m = run.load_model()
    X = pd.DataFrame({"text": ["a mixed kind of day"] * 2, "period": ["24h", "3m"]})
    p_with = m.predict_proba(X)
    assert not np.allclose(p_with[0], p_with[1])  # the period changes the answer for the same text
    saved = pd.read_csv(run.path / "test_predictions.csv")
    rows = pd.read_csv(period_data, dtype=str).set_index("hmid").loc[saved["id"].astype(str)]
    proba = m.predict_proba(pd.DataFrame({"text": rows["cleaned_hm"].to_numpy(),
                                          "period": rows["reflection_period"].to_numpy()}))
    np.testing.assert_allclose(proba, saved[[c for c in saved.columns if c.startswith("proba_")]].to_numpy(),
                               atol=1e-5)
    with pytest.raises(Exception, match="needs a period column"):
        m.predict_proba(pd.DataFrame({"text": ["a mixed kind of day"]}))


def test_period_helps_where_only_the_period_knows(period_data, tmp_path):
    base = RunConfig(model="tfidf-linear", params={"min_df": 1}, data=DataConfig(path=str(period_data)))
    without = Run.open(train(base, tmp_path / "a")).metrics["test"]["accuracy"]
    with_period = Run.open(train(base.model_copy(update={"features": ["period"]}), tmp_path / "b"))
    assert with_period.metrics["test"]["accuracy"] >= 0.95 and with_period.metrics["test"]["accuracy"] > without + 0.1


def test_unknown_and_missing_periods_go_to_the_unknown_bucket(period_data, tmp_path, caplog):
    cfg = RunConfig(model="tfidf-linear", params={"min_df": 1}, features=["period"],
                    data=DataConfig(path=str(period_data)))
    m = Run.open(train(cfg, tmp_path / "runs")).load_model()
    with caplog.at_level("WARNING", logger="textladder"):
        p = m.predict_proba(pd.DataFrame({"text": ["a mixed kind of day"] * 3, "period": ["1w", "", "24h"]}))
    assert "2 of 3 period values are empty or unseen in training: encoded as 'unknown'" in caplog.text
    np.testing.assert_allclose(p[0], p[1])  # both in the same bucket


def test_period_feature_needs_a_period_column(tmp_path):
    rows = [{"id": str(i), "text": f"text {i} {'dog' if i % 2 else 'gym'}", "label": "a" if i % 2 else "b"}
            for i in range(60)]
    data = write_csv(tmp_path / "noperiod.csv", rows)
    result = runner.invoke(app, ["train", str(data), "--features", "period", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "no column 'period' for the extra input 'period'" in result.output
    assert "--period-col" in result.output
    result = runner.invoke(app, ["train", str(data), "--features", "weather", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "no column 'weather' for the extra input 'weather'" in result.output
    result = runner.invoke(app, ["train", str(data), "--features", "label", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "is the label column; it cannot also be an extra input" in result.output


@pytest.mark.parametrize("model", ["tfidf-linear", "fasttext", "cnn"])
def test_any_categorical_column_is_an_extra_input(tmp_path, model):
    """The label is decided by the 'shop' column alone for half the rows: only a model that reads it can
    get those right. Two extra columns at once, through train, reload, predict, serve and Python."""
    import numpy as np
    import pandas as pd
    from fastapi.testclient import TestClient

    import textladder
    from textladder.serve import create_app

    rng = np.random.default_rng(0)
    rows = []
    for i in range(400):
        shop = rng.choice(["north", "south"])
        rows.append({"id": str(i), "text": "bought some bread" if i % 2 else f"bought {rng.choice(['milk', 'tea'])}",
                     "label": ("n" if shop == "north" else "s") if i % 2 else "drink",
                     "shop": shop, "channel": rng.choice(["web", "store"])})
    data = write_csv(tmp_path / "shops.csv", rows)
    params = {"tfidf-linear": ["--set", "min_df=1"], "fasttext": ["--set", "epochs=30"],
              "cnn": ["--set", "epochs=15", "--set", "min_count=1", "--set", "lr=0.01"]}[model]
    result = runner.invoke(app, ["train", str(data), "--model", model, "--features", "shop,channel",
                                 "--out", str(tmp_path / "r"), *params])
    assert result.exit_code == 0, result.output
    run = Run.open(result.stdout.strip().splitlines()[-1])
    assert run.config.features == ["shop", "channel"] and run.metrics["test"]["accuracy"] > 0.9, run.metrics["test"]
    model_ = textladder.load(run.path)
    X = pd.DataFrame({"text": ["bought some bread"] * 2, "shop": ["north", "south"], "channel": ["web", "web"]})
    assert model_.predict(X).tolist() == ["n", "s"]
    with pytest.raises(TextladderError, match="needs a shop column"):
        model_.predict(X.drop(columns="shop"))
    out = tmp_path / "pred.csv"
    assert runner.invoke(app, ["predict", str(run.path), str(data), "-o", str(out)]).exit_code == 0
    assert (pd.read_csv(out)["predicted"] == pd.read_csv(data)["label"]).mean() > 0.9
    client = TestClient(create_app(run.path))
    r = client.post("/predict", json={"texts": ["bought some bread"], "features": {"shop": ["south"],
                                                                                    "channel": ["store"]}})
    assert r.status_code == 200 and r.json()["predictions"][0]["label"] == "s"
    missing = client.post("/predict", json={"texts": ["bought some bread"], "features": {"shop": ["south"]}})
    assert missing.status_code == 422 and "channel: this run was trained with the extra input" in missing.text
