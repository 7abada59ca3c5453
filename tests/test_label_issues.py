"""textladder label-issues: confident learning on out-of-fold probabilities finds injected label flips."""

from __future__ import annotations

import random

import pandas as pd
import pytest
from conftest import make_rows, write_csv
from typer.testing import CliRunner

import textladder
from textladder.cli import app
from textladder.label_issues import conflicting_duplicates, normalise
from textladder.runs import list_runs

runner = CliRunner()
CLASSES = ["affection", "achievement", "exercise"]


@pytest.fixture(scope="module")
def flipped(tmp_path_factory):
    """600 learnable rows, 8% of them given another class's label (their ids kept), and two texts that
    differ only in case and punctuation, with different labels."""
    root = tmp_path_factory.mktemp("issues")
    rows = make_rows(600, seed=4)
    rng = random.Random(11)
    flips = set()
    for row in rows:
        if rng.random() < 0.08:
            row["predicted_category"] = rng.choice([c for c in CLASSES if c != row["predicted_category"]])
            flips.add(row["hmid"])
    rows.append({**rows[1], "hmid": "dup-1", "cleaned_hm": "I Ran Five Miles, and lifted weights!",
                 "predicted_category": "exercise"})
    rows.append({**rows[1], "hmid": "dup-2", "cleaned_hm": "i ran five miles and lifted weights",
                 "predicted_category": "affection"})
    return write_csv(root / "flipped.csv", rows), flips, root


def test_label_issues_finds_injected_flips_well_above_chance(flipped):
    data, flips, root = flipped
    runs, out = root / "runs", root / "issues.csv"
    result = runner.invoke(app, ["label-issues", str(data), "--runs", str(runs), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str(out)
    issues = pd.read_csv(out, dtype={"id": str})
    assert issues.columns.tolist() == ["id", "text", "given_label", "suggested_label", "score"]
    assert issues["score"].is_monotonic_decreasing
    # there was no cross-validated run: one was trained, and is kept for next time
    (cv_run,) = list_runs(runs)
    assert cv_run.config.cv == 5 and cv_run.predictions("oof") is not None
    checked = set(cv_run.predictions("oof")[0])  # train+val rows only: test rows have no out-of-fold prediction
    injected = flips & checked
    chance = len(injected) / len(checked)
    top = issues.head(len(injected))
    precision = top["id"].isin(injected).mean()
    recall = issues["id"].isin(injected).sum() / len(injected)
    assert chance < 0.1 and precision > 0.6 and recall > 0.6, (precision, recall, chance)
    # the flipped rows' suggested label is mostly their original class (from the words)
    assert (top.loc[top["id"].isin(injected), "suggested_label"] != top.loc[top["id"].isin(injected), "given_label"]).all()
    dups = pd.read_csv(root / "issues.duplicates.csv", dtype={"id": str})
    pair = dups[dups["id"].isin(["dup-1", "dup-2"])]
    assert len(pair) == 2 and pair["group"].nunique() == 1 and set(pair["label"]) == {"exercise", "affection"}
    assert (runs / "label_issues.csv").is_file()  # the copy the report shows


def test_label_issues_reuses_and_averages_cross_validated_runs(flipped):
    data, flips, root = flipped
    runs = root / "runs"  # the first test left one cross-validated tfidf-linear run there
    textladder.train(data, model="fasttext", out=runs, cv=5, epochs=10)
    before = {r.name for r in list_runs(runs)}
    found = textladder.find_label_issues(data, runs=runs, top=20)
    assert {r.name for r in list_runs(runs)} == before  # nothing trained
    assert len(found.runs) == 2 and len(found.issues) == 20
    assert found.issues["id"].isin(flips).mean() > 0.6


def test_conflicting_duplicates_ignore_case_punctuation_and_spacing():
    frame = conflicting_duplicates(["a", "b", "c", "d", "e"],
                                   ["Ran home!", "ran   home", "RAN HOME.", "my dog", "my dog"],
                                   ["x", "y", "x", "z", "z"])
    assert frame["id"].tolist() == ["a", "c", "b"] and set(frame["majority"]) == {"x"}
    assert frame["labels"].iloc[0] == "x 2, y 1"
    assert normalise("  Hello,  WORLD ") == "hello world"
