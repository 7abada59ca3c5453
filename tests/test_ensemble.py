"""Ensembles: voting rules, the ensemble run folder, refusals, selection by validation."""

from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import make_rows, write_csv
from typer.testing import CliRunner

from textladder.calibration import apply_temperature
from textladder.cli import app
from textladder.models.voting import combine
from textladder.runs import Run

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result


def train(data, runs, *args):
    result = invoke("train", data, "--out", runs, *args)
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """Three finished runs on one small file and split: two TF-IDF variants (one weak) and fastText."""
    root = tmp_path_factory.mktemp("ens")
    rows = make_rows(300)
    rng = random.Random(3)
    for row in rows:  # 20% of the labels wrong: the rungs then differ, and voting has something to do
        if rng.random() < 0.2:
            row["predicted_category"] = rng.choice(["affection", "achievement", "exercise"])
    data = write_csv(root / "small.csv", rows)
    runs = root / "runs"
    names = [train(data, runs, "--set", "min_df=1"),
             train(data, runs, "--set", "min_df=1", "--set", "C=0.001"),  # a weak one
             train(data, runs, "--model", "fasttext", "--set", "epochs=5")]
    return data, runs, [Run.open(n) for n in names]


def test_soft_vote_is_the_weighted_mean():
    a = np.array([[0.6, 0.4], [0.2, 0.8]])
    b = np.array([[0.0, 1.0], [0.5, 0.5]])
    np.testing.assert_allclose(combine([a, b], "soft"), (a + b) / 2)
    np.testing.assert_allclose(combine([a, b], "soft", [3, 1]), (3 * a + b) / 4)


def test_hard_vote_counts_argmaxes_and_breaks_ties_by_summed_probability():
    a = np.array([[0.9, 0.1, 0.0], [0.6, 0.4, 0.0]])
    b = np.array([[0.0, 0.56, 0.44], [0.0, 0.9, 0.1]])
    c = np.array([[0.0, 0.4, 0.6], [0.0, 0.45, 0.55]])
    # row 0: one vote each for classes 0, 1, 2; summed probabilities 0.9, 1.06, 1.04: class 1.
    # row 1: votes 0, 1, 2 as well, summed 0.6, 1.75, 0.65: class 1; with weights 5, 1, 1: class 0.
    proba = combine([a, b, c], "hard")
    assert proba.argmax(axis=1).tolist() == [1, 1]
    np.testing.assert_allclose(proba, np.full((2, 3), 1 / 3), atol=1e-6)  # the shares of the votes
    c[1] = [0.0, 0.6, 0.4]  # now two votes for class 1 in row 1, even though a is surer of class 0
    np.testing.assert_allclose(combine([a, b, c], "hard")[1], [1 / 3, 2 / 3, 0], atol=1e-6)
    assert combine([a, b, c], "hard", [5, 1, 1]).argmax(axis=1).tolist() == [0, 0]


def test_an_ensembles_time_is_its_own_with_its_members_beside_it(members, tmp_path):
    """Its time is scoring the members (and fitting a stacker), not their training: members said to have
    trained 100 s each give an ensemble far quicker than that, with their 300 s beside it."""
    data, runs, rs = members
    copies = []
    for r in rs:
        shutil.copytree(r.path, tmp_path / r.name)
        metrics = json.loads((tmp_path / r.name / "metrics.json").read_text())
        (tmp_path / r.name / "metrics.json").write_text(json.dumps({**metrics, "train_seconds": 100.0}))
        copies.append(tmp_path / r.name)
    result = invoke("ensemble", *copies, "--vote", "stack", "--out", tmp_path / "ens")
    assert result.exit_code == 0, result.output
    ens = Run.open(result.stdout.strip().splitlines()[-1])
    assert ens.metrics["members_train_seconds"] == 300.0 and 0 < ens.metrics["train_seconds"] < 100


def test_ensemble_is_a_run_folder_that_evaluate_predict_and_runs_accept(members, tmp_path):
    data, runs, rs = members
    out = tmp_path / "ens"
    result = invoke("ensemble", *[r.path for r in rs], "--vote", "soft", "--out", out)
    assert result.exit_code == 0, result.output
    ens = Run.open(result.stdout.strip().splitlines()[-1])
    assert ens.config.model == "ensemble" and ens.config.params["members"] == [r.name for r in rs]
    assert ens.split_ids["test"] == rs[0].split_ids["test"] and ens.classes == rs[0].classes
    # its test probabilities are the mean of the members' own saved (calibrated) ones, at its own temperature
    probas = [pd.read_csv(r.path / "test_predictions.csv").filter(like="proba_").to_numpy() for r in rs]
    mine = pd.read_csv(ens.path / "test_predictions.csv").filter(like="proba_").to_numpy()
    assert ens.temperature != 1.0 and all(r.temperature != 1.0 for r in rs)
    np.testing.assert_allclose(mine, apply_temperature(sum(probas) / 3, ens.temperature), atol=1e-5)
    assert [m["run"] for m in ens.metrics["members"]] == [r.name for r in rs]
    # each member's files are stored once: hard links to the member runs' own files, no second copy
    import os

    for r in rs:
        for f in (r.path / "model").rglob("*"):
            if f.is_file():
                twin = ens.path / "model" / "members" / r.name / f.relative_to(r.path / "model")
                assert os.stat(twin).st_ino == os.stat(f).st_ino and os.stat(f).st_nlink >= 2
    assert ens.metrics["members_train_seconds"] == pytest.approx(sum(r.metrics["train_seconds"] for r in rs), abs=1e-2)
    # self-contained: the members' own folders can go
    moved = tmp_path / "gone"
    shutil.copytree(runs, moved)
    for r in rs:
        shutil.rmtree(r.path)
    try:
        ev = invoke("evaluate", ens.path, "--json")
        assert ev.exit_code == 0, ev.output
        assert abs(json.loads(ev.stdout)["accuracy"] - ens.metrics["test"]["accuracy"]) < 1e-9
        pred = invoke("predict", ens.path, data, "-o", tmp_path / "p.csv")
        assert pred.exit_code == 0, pred.output
        assert len(pd.read_csv(tmp_path / "p.csv")) == 300
        board = invoke("runs", out, "--json")
        assert '"model": "ensemble"' in board.stdout and "members=3 runs" in board.stdout
    finally:
        for r in rs:
            shutil.copytree(moved / r.name, r.path)


def test_hard_vote_and_weights_through_the_cli(members, tmp_path):
    _, _, rs = members
    result = invoke("ensemble", *[r.path for r in rs], "--vote", "hard", "--weights", "1,1,2", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    ens = Run.open(result.stdout.strip().splitlines()[-1])
    assert ens.config.params["vote"] == "hard" and ens.config.params["weights"] == [1.0, 1.0, 2.0]
    wrong = invoke("ensemble", *[r.path for r in rs], "--weights", "1,2", "--out", tmp_path)
    assert wrong.exit_code == 1 and "--weights has 2 values for 3 runs" in wrong.output
    bad_vote = invoke("ensemble", *[r.path for r in rs], "--vote", "median", "--out", tmp_path)
    assert bad_vote.exit_code == 1 and "--vote must be one of soft, hard" in bad_vote.output


def test_select_top_k_ranks_by_validation_not_test(members, tmp_path):
    _, runs, rs = members
    result = invoke("ensemble", runs, "--select", "top-2", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    ens = Run.open(result.stdout.strip().splitlines()[-1])
    by_val = sorted(rs, key=lambda r: (r.metrics["val"]["macro_f1"], r.metrics["val"]["accuracy"]), reverse=True)
    assert by_val[1].metrics["val"]["macro_f1"] > by_val[2].metrics["val"]["macro_f1"]  # a real choice
    assert sorted(ens.config.params["members"]) == sorted(r.name for r in by_val[:2])
    assert invoke("ensemble", runs, "--select", "best", "--out", tmp_path).exit_code == 1


def test_refuses_runs_that_cannot_vote_together(members, tmp_path):
    data, _, rs = members
    other_seed = train(data, tmp_path / "r", "--set", "min_df=1", "--seed", "7")
    result = invoke("ensemble", rs[0].path, other_seed, "--out", tmp_path)
    assert result.exit_code == 1 and "different test splits" in result.output
    rows = [r for r in make_rows(300) if r["predicted_category"] != "exercise"]
    two_classes = train(write_csv(tmp_path / "two.csv", rows), tmp_path / "r", "--set", "min_df=1")
    result = invoke("ensemble", rs[0].path, two_classes, "--out", tmp_path)
    assert result.exit_code == 1 and "different labels" in result.output
    result = invoke("ensemble", rs[0].path, "--out", tmp_path)
    assert result.exit_code == 1 and "at least 2 runs" in result.output
    result = invoke("train", data, "--model", "ensemble", "--out", tmp_path / "r")
    assert result.exit_code == 1 and "not trained" in result.output
