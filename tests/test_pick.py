"""A fair pick (issue 26): the final model is chosen on a figure no search has maximised (out of fold over
train+val), never on a search's best validation trial when anything else is there, never on test;
``textladder runs RUNS --best`` and ``textladder.best`` return it, and the report calls it best."""

from __future__ import annotations

import logging

import pytest
from conftest import make_rows, write_csv
from typer.testing import CliRunner

import textladder
from textladder.cli import app
from textladder.config import DataConfig, RunConfig
from textladder.ensembles import build
from textladder.ranking import leaderboard
from textladder.runs import Run, list_runs
from textladder.runs import MAXIMISED
from textladder.ranking import best as pick
from textladder.training import train
from textladder.tuning import search

runner = CliRunner()


@pytest.fixture(scope="module")
def climbed(tmp_path_factory):
    """A searched tfidf-linear (its best trial's validation figure is a maximum), two cross-validated runs
    and their soft and stacked ensembles."""
    root = tmp_path_factory.mktemp("pick")
    noisy = write_csv(root / "noisy.csv", make_rows(300, noise=0.3))
    runs = root / "runs"
    data = DataConfig(path=str(noisy))
    searched = search(RunConfig(model="tfidf-linear", params={"min_df": 1}, data=data), runs, trials=6).run
    cv_lin = Run.open(train(RunConfig(model="tfidf-linear", params={"min_df": 1, "C": 0.05}, cv=3, data=data), runs))
    cv_ft = Run.open(train(RunConfig(model="fasttext", params={"epochs": 5, "dim": 20}, cv=3, data=data), runs))
    soft = Run.open(build([cv_lin, cv_ft], vote="soft", runs_dir=runs))
    stack = Run.open(build([cv_lin, cv_ft], vote="stack", runs_dir=runs))
    return runs, searched, cv_lin, cv_ft, soft, stack


def test_a_search_maximum_is_marked_and_out_of_fold_figures_are_not(climbed):
    runs, searched, cv_lin, cv_ft, soft, stack = climbed
    assert searched.maximised and searched.pick_score()[1] == MAXIMISED
    for run in (cv_lin, cv_ft, soft, stack):
        assert not run.maximised
        assert run.pick_score()[1].startswith("out-of-fold")
    assert cv_lin.pick_score()[0] == cv_lin.metrics["cv"]["macro_f1"]["mean"]


def test_an_ensembles_pick_figure_is_its_members_out_of_fold_rows(climbed):
    _, _, cv_lin, cv_ft, soft, stack = climbed
    ids, lin = cv_lin.predictions("oof")
    ft_ids, ft = cv_ft.predictions("oof")
    ft = ft[[ft_ids.index(i) for i in ids]]
    truth = cv_lin.truth("oof")
    mean = (lin + ft) / 2
    assert soft.metrics["pick"]["accuracy"] == pytest.approx(float((mean.argmax(1) == truth).mean()))
    assert "train+val rows (soft voting)" in soft.metrics["pick"]["source"]
    assert "a meta-learner fitted on the other folds" in stack.metrics["pick"]["source"]
    split = cv_lin.split_ids
    assert sorted(ids) == sorted(split["train"] + split["val"]) and not set(ids) & set(split["test"])


def test_best_never_picks_a_search_maximum_over_a_fair_figure(climbed):
    runs, searched, *_ = climbed
    rows = leaderboard(list_runs(runs), by="pick")
    assert [r["maximised"] for r in rows] == sorted(r["maximised"] for r in rows)  # fair figures first
    fair = [r for r in rows if not r["maximised"]]
    assert [r["pick_macro_f1"] for r in fair] == sorted((r["pick_macro_f1"] for r in fair), reverse=True)
    chosen = textladder.best(runs)
    assert chosen.name == fair[0]["run"] and chosen.name != searched.name
    # the CLI prints the same folder, and says which run the leaderboard's pick is
    assert runner.invoke(app, ["runs", str(runs), "--best"]).stdout.strip() == str(chosen.path)
    table = runner.invoke(app, ["runs", str(runs)])
    assert table.exit_code == 0 and f"pick (runs --best): {chosen.name}" in table.stdout


def test_with_only_search_maxima_the_best_of_them_is_picked_with_a_warning(climbed, tmp_path, caplog):
    runs, searched, *_ = climbed
    with caplog.at_level(logging.WARNING, logger="textladder"):
        assert pick([searched]).name == searched.name
    assert "is the best of several tried on those rows" in caplog.text
    with pytest.raises(textladder.TextladderError, match="no finished runs"):
        textladder.best(tmp_path)


def test_the_report_calls_the_pick_best(climbed):
    runs, *_ = climbed
    page = textladder.report(runs).read_text()
    chosen = textladder.best(runs)
    row = page[page.index('<tr class="best'):]
    assert row[:row.index("</tr>")].count(chosen.name) >= 1
