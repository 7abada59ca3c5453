"""textladder search (issue 15, first part): defaults first, resumable study, the best as a run folder."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import make_rows, write_csv
from typer.testing import CliRunner

from textladder.cli import app
from textladder.config import DataConfig, RunConfig
from textladder.errors import TextladderError
from textladder.runs import Run
from textladder.tuning import search

runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp("search") / "small.csv", make_rows(300))


def test_search_starts_from_the_defaults_resumes_and_writes_the_best_run(data, tmp_path):
    runs = tmp_path / "runs"
    config = RunConfig(model="fasttext", params={"epochs": 5}, data=DataConfig(path=str(data)))
    first = search(config, runs, trials=3)
    trials = pd.read_csv(first.trials_csv)
    assert len(trials) == 3 and first.trials == 3
    assert trials.loc[0, "params_lr"] == 0.5 and trials.loc[0, "params_dim"] == 100  # the defaults first
    assert first.best_value >= first.default_value
    assert first.run.metrics["val"]["macro_f1"] == pytest.approx(first.best_value, abs=1e-9)
    again = search(config, runs, trials=2)  # the same study goes on
    assert again.study_name == first.study_name and again.trials == 5
    assert len(pd.read_csv(again.trials_csv)) == 5 and (runs / "search.sqlite").is_file()
    assert again.best_value >= first.best_value


def test_search_command_prints_the_best_run_last(data, tmp_path):
    result = runner.invoke(app, ["search", str(data), "--model", "tfidf-linear", "--trials", "2", "--out",
                                 str(tmp_path / "runs"), "--set", "max_iter=500"])
    assert result.exit_code == 0, result.output
    run = Run.open(result.stdout.strip().splitlines()[-1])
    assert run.config.model == "tfidf-linear" and run.config.params["max_iter"] == 500
    assert "2 trials (0 pruned), best validation macro_f1" in result.stdout
    refused = runner.invoke(app, ["search", str(data), "--model", "ensemble", "--trials", "1", "--out",
                                  str(tmp_path / "runs")])
    assert refused.exit_code == 1 and "declares no search space" in refused.stderr
    with pytest.raises(TextladderError, match="metric must be one of"):
        search(RunConfig(model="tfidf-linear", data=DataConfig(path=str(data))), tmp_path, trials=1, metric="auc")


def test_a_budgeted_search_does_not_start_a_trial_it_cannot_finish(data, tmp_path, monkeypatch):
    """Optuna stops *starting* trials at the timeout; a long trial begun just before it runs on past
    the budget (the auto ladder lost its refits that way). A search stops when less than half a
    typical trial is left: here each trial takes just over 2 s, the budget is 5 s, so after two
    trials (about 4.2 s) it stops instead of running a third to about 6.3 s."""
    import time

    from textladder.models.linear import TfidfLinear

    fit = TfidfLinear._fit

    def slow_fit(self, *args, **kwargs):
        time.sleep(2.0)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(TfidfLinear, "_fit", slow_fit)
    config = RunConfig(model="tfidf-linear", params={"min_df": 1}, data=DataConfig(path=str(data)))
    result = search(config, tmp_path / "runs", budget=5.0)
    assert result.trials == 2


def test_a_search_does_not_train_what_the_rung_refuses(data, tmp_path, caplog):
    """LinearSVC on unnormalised tf-idf ran 855 s for one trial of the 8-minute main job on HappyDB: with
    norm fixed to None, the trials that choose the SVM are pruned untrained, and the logistic ones run."""
    caplog.set_level("INFO", logger="textladder")
    config = RunConfig(model="tfidf-linear", params={"min_df": 1, "norm": None}, data=DataConfig(path=str(data)))
    result = search(config, tmp_path / "runs", trials=8)
    trials = pd.read_csv(result.trials_csv)
    svm = trials["params_classifier"] == "svm"
    assert svm.any() and (~svm).any()
    assert (trials.loc[svm, "state"] == "PRUNED").all() and (trials.loc[~svm, "state"] == "COMPLETE").all()
    assert trials.loc[svm, "user_attrs_refused"].str.contains("LinearSVC on unnormalised tf-idf").all()
    assert trials.loc[svm, "user_attrs_seconds"].isna().all()  # never trained
    assert "not trained: LinearSVC on unnormalised" in caplog.text
    # both chosen by the user: trained as asked, with a warning
    both = RunConfig(model="tfidf-linear", params={"min_df": 1, "norm": None, "classifier": "svm"},
                     data=DataConfig(path=str(data)))
    caplog.clear()
    chosen = search(both, tmp_path / "runs", trials=1)
    assert chosen.trials == 1 and pd.read_csv(chosen.trials_csv)["state"].iloc[0] == "COMPLETE"
    assert "norm='l2' or the logistic regression is much quicker" in caplog.text
