"""Choosing on validation and combining properly (issue 15): cross-validation and out-of-fold predictions,
refits, pruning, interrupted searches, stacking that never reads test, greedy selection, ranking by
validation, GloVe, and the auto ladder."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import make_rows, write_csv
from typer.testing import CliRunner

from textladder.cli import app
from textladder.config import DataConfig, RunConfig
from textladder.ensembles import build
from textladder.models import TrainingContext, build as build_model
from textladder.ranking import leaderboard
from textladder.runs import Run, list_runs
from textladder.tuning import _pruning, refit_config, search
from textladder.training import train

runner = CliRunner()


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    """300 rows, a quarter of them saying another class's words: models err, and differently."""
    return write_csv(tmp_path_factory.mktemp("choose") / "noisy.csv", make_rows(300, noise=0.25))


@pytest.fixture(scope="module")
def members(noisy, tmp_path_factory):
    """Two cross-validated runs (out-of-fold predictions) and one trained on train only."""
    runs = tmp_path_factory.mktemp("members")
    data = DataConfig(path=str(noisy))
    cv_lin = Run.open(train(RunConfig(model="tfidf-linear", params={"min_df": 1}, cv=3, data=data), runs))
    cv_ft = Run.open(train(RunConfig(model="fasttext", params={"epochs": 5, "dim": 20}, cv=3, data=data), runs))
    plain = Run.open(train(RunConfig(model="tfidf-linear", params={"min_df": 1, "char_ngrams": True}, data=data), runs))
    return runs, cv_lin, cv_ft, plain


def test_cv_out_of_fold_probabilities_cover_every_train_val_row_exactly_once(members):
    _, run, _, _ = members
    oof = pd.read_csv(run.path / "oof_predictions.csv", dtype={"id": str})
    expected = run.split_ids["train"] + run.split_ids["val"]
    assert sorted(oof["id"]) == sorted(expected) and not oof["id"].duplicated().any()
    assert not set(oof["id"]) & set(run.split_ids["test"])  # test is never touched
    proba = oof[[f"proba_{c}" for c in run.classes]].to_numpy()
    assert np.allclose(proba.sum(axis=1), 1, atol=1e-4)
    cv = run.metrics["cv"]
    assert cv["k"] == 3 and len(cv["accuracy"]["folds"]) == 3
    assert cv["accuracy"]["mean"] == pytest.approx(np.mean(cv["accuracy"]["folds"]), abs=1e-5)
    assert run.trained_on == "cv3" and run.metrics["trained_on"] == "train+val"
    # the validation figures are the out-of-fold ones of the validation rows, not the refit's in-sample ones
    val = oof.set_index("id").loc[run.split_ids["val"]]
    assert run.metrics["val"]["accuracy"] == pytest.approx((val["predicted"] == val["true"]).mean())
    refit = run.load_model()
    texts = pd.read_csv(run.path / "val_predictions.csv", dtype={"id": str})
    assert len(texts) == len(run.split_ids["val"])
    # out of fold is honest: on noisy rows, the model that saw every row fits them better than the folds did
    from textladder.runs import run_split

    train_rows, val_rows = run_split(run, ("train", "val"))
    in_sample = np.mean([np.mean(refit.predict(part.frame()) == part.labels) for part in (train_rows, val_rows)])
    assert in_sample > (oof["predicted"] == oof["true"]).mean()


def test_ranking_is_by_validation_and_test_only_when_asked(members):
    runs, *_ = members
    rows = leaderboard(list_runs(runs))
    assert [r["val_macro_f1"] for r in rows] == sorted((r["val_macro_f1"] for r in rows), reverse=True)
    by_test = leaderboard(list_runs(runs), by="test")
    assert [r["macro_f1"] for r in by_test] == sorted((r["macro_f1"] for r in by_test), reverse=True)
    cv_row = next(r for r in rows if r["trained_on"] == "cv3")
    assert cv_row["val_macro_f1"] == Run.open(runs / cv_row["run"]).metrics["cv"]["macro_f1"]["mean"]
    result = runner.invoke(app, ["runs", str(runs), "--by", "test"])
    assert result.exit_code == 0 and "overstates" in result.stderr
    assert "ranked by test macro-F1" in result.stdout
    bad = runner.invoke(app, ["runs", str(runs), "--by", "auc"])
    assert bad.exit_code == 1 and "--by must be one of" in bad.stderr


def test_stacking_learns_from_out_of_fold_rows_and_never_reads_test(members, noisy, tmp_path):
    runs, cv_lin, cv_ft, _ = members
    first = Run.open(build([cv_lin, cv_ft], vote="stack", runs_dir=tmp_path))
    assert first.metrics["learned_from"].startswith("out-of-fold predictions of")
    assert first.metrics["val_source"].startswith("cross-fitted")
    coef = json.loads((first.path / "model" / "stack.json").read_text())["coef"]
    # shuffle the test rows' labels in the data file: the meta-learner must come out the same
    frame = pd.read_csv(noisy, dtype=str, keep_default_na=False)
    test_ids = set(cv_lin.split_ids["test"])
    rows = frame["hmid"].isin(test_ids).to_numpy()
    labels = frame.loc[rows, "predicted_category"].to_numpy()
    original = noisy.read_bytes()
    try:
        frame.loc[rows, "predicted_category"] = np.roll(labels, 1)
        frame.to_csv(noisy, index=False)
        second = Run.open(build([cv_lin, cv_ft], vote="stack", runs_dir=tmp_path))
    finally:
        noisy.write_bytes(original)
    assert json.loads((second.path / "model" / "stack.json").read_text())["coef"] == coef
    assert second.metrics["val"] == first.metrics["val"]
    assert second.metrics["test"]["accuracy"] != first.metrics["test"]["accuracy"]  # test was only scored
    # the stacked run predicts like any other, from its own folder
    model = first.load_model()
    texts = ["today I ran five miles and went to the gym", "today I got promoted and passed the exam"]
    assert model.predict(texts).tolist() == ["exercise", "achievement"]


def test_stacking_without_out_of_fold_rows_is_cross_fitted_on_validation(members, tmp_path):
    _, cv_lin, _, plain = members
    run = Run.open(build([cv_lin, plain], vote="stack", runs_dir=tmp_path))
    assert run.metrics["learned_from"] == f"validation predictions of {len(plain.split_ids['val'])} rows"


def test_greedy_selection_weights_members_and_serves_as_a_run(members, tmp_path):
    _, cv_lin, cv_ft, plain = members
    result = runner.invoke(app, ["ensemble", str(cv_lin.path), str(cv_ft.path), str(plain.path), "--select", "greedy",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    run = Run.open(result.stdout.strip().splitlines()[-1])
    counts = run.metrics["greedy_counts"]
    assert counts and all(c > 0 for c in counts.values())
    assert run.config.params["members"] == list(counts) and run.config.params["weights"] == list(map(float, counts.values()))
    assert run.metrics["candidates"] == [cv_lin.name, cv_ft.name, plain.name]
    predicted = runner.invoke(app, ["evaluate", str(run.path)])
    assert predicted.exit_code == 0, predicted.output


def test_search_refit_trains_on_train_and_validation_and_keeps_the_choice_score(noisy, tmp_path):
    config = RunConfig(model="tfidf-linear", params={"min_df": 1}, data=DataConfig(path=str(noisy)))
    result = search(config, tmp_path, trials=2, refit=True)
    chosen, refit = result.run, result.refit
    assert chosen.trained_on == "train" and refit.trained_on == "train+val" and result.final is refit
    assert refit.metrics["chosen_by"] == chosen.name
    assert refit.metrics["val"] == chosen.metrics["val"]  # the score that chose it, not an in-sample one
    assert refit.metrics["train_rows"] == len(chosen.split_ids["train"]) + len(chosen.split_ids["val"])
    assert (chosen.path / "search" / "study.json").is_file() and (chosen.path / "search" / "history.png").is_file()


def test_a_neural_refit_trains_for_the_epochs_validation_chose(tmp_path):
    from textladder.models import get

    run = tmp_path / "run"
    run.mkdir()
    pd.DataFrame({"epoch": [1, 2, 3, 4], "val_macro_f1": [0.5, 0.7, 0.6, 0.65]}).to_csv(run / "history.csv", index=False)
    config = RunConfig(model="cnn", params={"epochs": 10, "patience": 3}, data=DataConfig(path="d.csv"))
    refit = refit_config(config, Run(run), get("cnn"))
    assert refit.fit_on == "train+val" and refit.params["epochs"] == 2 and refit.params["patience"] == 2


def test_pruning_stops_a_bad_neural_trial(noisy):
    from textladder.data import load_dataset

    ds = load_dataset(noisy)
    X, y = ds.frame(), ds.labels
    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0))
    epochs = 4

    def objective(trial):
        lr = [0.02, 1e-7][trial.number]  # the second learns nothing
        model = build_model("cnn", {"lr": lr, "epochs": epochs, "patience": epochs, "min_count": 1, "filters": 8,
                                    "embedding_dim": 16, "seed": 0})
        model.fit(X[:240], y[:240], X[240:], y[240:], context=TrainingContext(on_epoch=_pruning(trial, optuna)))
        return max(r["val_macro_f1"] for r in model.history_)

    study.optimize(objective, n_trials=2)
    good, bad = study.trials
    assert good.state == optuna.trial.TrialState.COMPLETE and len(good.intermediate_values) == epochs
    assert bad.state == optuna.trial.TrialState.PRUNED and len(bad.intermediate_values) < epochs


def test_an_interrupted_search_resumes_its_study(noisy, tmp_path, monkeypatch):
    from textladder.models import get

    config = RunConfig(model="tfidf-linear", params={"min_df": 1}, data=DataConfig(path=str(noisy)))
    cls = get("tfidf-linear")
    space = cls.search_space

    def interrupted(trial):
        if trial.number == 2:
            raise KeyboardInterrupt
        return space(trial)

    monkeypatch.setattr(cls, "search_space", staticmethod(interrupted))
    with pytest.raises(KeyboardInterrupt):
        search(config, tmp_path, trials=5)
    monkeypatch.setattr(cls, "search_space", staticmethod(space))
    result = search(config, tmp_path, trials=2)
    study = optuna.load_study(study_name=result.study_name, storage=f"sqlite:///{tmp_path / 'search.sqlite'}")
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 4 and result.trials == 4  # 2 before, 2 after
    assert study.trials[0].params["C"] == 20.0  # the defaults stayed first and were not queued again


def test_glove_vectors_load_from_the_package_with_an_oov_report(noisy, tmp_path):
    path = train(RunConfig(model="cnn", params={"embeddings": "glove-6b-50d", "epochs": 1, "filters": 8},
                           data=DataConfig(path=str(noisy))), tmp_path)
    report = Run.open(path).metrics["model_report"]["embeddings"]
    assert report["source"] == "glove-6b-50d" and report["found"] > 20
    assert report["oov"] == report["vocab"] - report["found"]


def test_the_auto_ladder_searches_refits_and_combines_within_its_budget(noisy, tmp_path):
    from textladder.auto import AutoPlan, AutoRung, climb_auto

    plan = AutoPlan(rungs=[AutoRung("tfidf-linear", 0.5, {"min_df": 1}, max_trials=4),
                           AutoRung("fasttext", 0.5, {"dim": 20}, max_trials=4)], cv=2, drop_margin=1.0)
    result = climb_auto(DataConfig(path=str(noisy)), tmp_path, budget=120, plan=plan)
    assert set(result.searched) == {"tfidf-linear", "fasttext"}
    assert {r.trained_on for r in result.refits.values()} == {"cv2"}
    kinds = sorted(r.name.split("-")[1] for r in result.ensembles)
    assert kinds == ["greedy", "soft", "stack"]
    stack = next(r for r in result.ensembles if "stack" in r.name)
    assert stack.metrics["learned_from"].startswith("out-of-fold")
    assert result.report is not None and result.report.is_file()
    page = result.report.read_text()
    assert "chosen by a search of" in page and "search/history.png" in page and "cross-validation: accuracy" in page
    assert "ranked by validation" in page
    assert result.seconds < 120
    leader = max(result.searched, key=lambda m: result.searched[m].choice_score())
    trials = pd.read_csv(next(tmp_path.glob(f"search-{leader}-*.trials.csv")))
    assert len(trials) == 12  # the probe's 4 trials, 4 more searching on, 4 more with the time the refits left


def test_the_auto_ladder_drops_a_rung_far_behind_after_its_first_trials(noisy, tmp_path):
    from textladder.auto import AutoPlan, AutoRung, climb_auto

    plan = AutoPlan(rungs=[AutoRung("tfidf-linear", 0.3, {"min_df": 1}, max_trials=3),
                           AutoRung("fasttext", 0.7, {"epochs": 1, "lr": 0.001, "dim": 10}, first_trials=1,
                                    max_trials=3)], cv=2, drop_margin=0.0)
    result = climb_auto(DataConfig(path=str(noisy)), tmp_path, budget=120, plan=plan, report=False)
    assert "behind the leader" in result.dropped["fasttext"]
    fasttext = pd.read_csv(next(tmp_path.glob("search-fasttext-*.trials.csv")))
    assert len(fasttext) <= 3  # its probe (at most max_trials), then no more search time (it joins the ensembles)
    assert list(result.refits)[0] == "tfidf-linear" and result.best.config.model != "fasttext"


def test_the_ladder_command_checks_its_budget(noisy, tmp_path):
    short = runner.invoke(app, ["ladder", str(noisy), "--config", "auto", "--budget", "30s", "--out", str(tmp_path)])
    assert short.exit_code == 1 and "too short for the auto ladder" in short.stderr
    preset = runner.invoke(app, ["ladder", str(noisy), "--config", "quick", "--budget", "5m", "--out", str(tmp_path)])
    assert preset.exit_code == 1 and "--budget applies to --config auto" in preset.stderr


def test_fasttext_autotune_is_a_fast_path_to_a_run(noisy, tmp_path):
    result = runner.invoke(app, ["search", str(noisy), "--model", "fasttext", "--autotune", "--budget", "3s",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    run = Run.open(result.stdout.strip().splitlines()[-1])
    assert run.config.model == "fasttext" and run.metrics["val"]["accuracy"] > 0.5
    refused = runner.invoke(app, ["search", str(noisy), "--model", "tfidf-linear", "--autotune", "--budget", "3s",
                                  "--out", str(tmp_path)])
    assert refused.exit_code == 1 and "no search of its own" in refused.stderr
