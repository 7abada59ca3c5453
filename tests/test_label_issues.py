"""textladder label-issues: confident learning on out-of-fold probabilities, cross-fitted over every row, finds
injected label flips."""

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


def test_label_issues_finds_injected_flips_well_above_chance_on_every_row(flipped):
    data, flips, root = flipped
    runs, out = root / "runs", root / "issues.csv"
    result = runner.invoke(app, ["label-issues", str(data), "--runs", str(runs), "-o", str(out), "--budget", "20s"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str(out)
    assert "of 602 rows flagged" in result.stdout  # every row, the test part too
    issues = pd.read_csv(out, dtype={"id": str})
    assert issues.columns.tolist() == ["id", "text", "given_label", "suggested_label", "score"]
    assert issues["score"].is_monotonic_decreasing
    # no run of the data: the cheap families' defaults were cross-fitted, within the budget; nothing was written
    assert "tfidf-linear (defaults), fasttext (defaults)" in result.stdout and "contextual" not in result.stdout
    assert not list_runs(runs)
    chance = len(flips) / 602
    top = issues.head(len(flips))
    precision = top["id"].isin(flips).mean()
    recall = issues["id"].isin(flips).sum() / len(flips)
    assert chance < 0.1 and precision > 0.6 and recall > 0.6, (precision, recall, chance)
    # the flipped rows' suggested label is mostly their original class (from the words)
    assert (top.loc[top["id"].isin(flips), "suggested_label"] != top.loc[top["id"].isin(flips), "given_label"]).all()
    dups = pd.read_csv(root / "issues.duplicates.csv", dtype={"id": str})
    pair = dups[dups["id"].isin(["dup-1", "dup-2"])]
    assert len(pair) == 2 and pair["group"].nunique() == 1 and set(pair["label"]) == {"exercise", "affection"}
    assert (runs / "label_issues.csv").is_file()  # the copy the report shows


def test_label_issues_cross_fits_the_ladder_s_best_configuration_of_each_family(flipped):
    data, flips, root = flipped
    runs = root / "runs-ladder"
    made = textladder.train(data, model="fasttext", out=runs, epochs=10, lr=0.3)
    found = textladder.find_label_issues(data, runs=runs, top=20, budget=20)
    assert [r.name for r in list_runs(runs)] == [made.name]  # nothing trained into the runs folder
    assert found.runs[0] == f"fasttext (run {made.name})" and found.runs[1] == "tfidf-linear (defaults)"
    assert len(found.issues) == 20 and found.issues["id"].isin(flips).mean() > 0.6
    assert found.rows == 602


def test_the_budget_keeps_the_strongest_families_that_fit():
    from textladder.config import DataConfig
    from textladder.label_issues import plan_families

    data = DataConfig(path="nowhere.csv")
    cheap, left = plan_families("no-runs", data, rows=20_000, words=200, budget=300, folds=5)
    assert [f.model for f in cheap] == ["tfidf-linear", "fasttext"] and "contextual" in left[0]
    rich, left = plan_families("no-runs", data, rows=2_000, words=20, budget=600, folds=5)
    assert [f.model for f in rich] == ["tfidf-linear", "fasttext", "contextual"] and not left
    assert sum(f.seconds for f in rich) < 600
    alone, left = plan_families("no-runs", data, rows=2_000_000, words=20, budget=1, folds=5)
    assert [f.model for f in alone] == ["tfidf-linear"] and len(left) == 2  # the first always goes


def test_conflicting_duplicates_ignore_case_punctuation_and_spacing():
    frame = conflicting_duplicates(["a", "b", "c", "d", "e"],
                                   ["Ran home!", "ran   home", "RAN HOME.", "my dog", "my dog"],
                                   ["x", "y", "x", "z", "z"])
    assert frame["id"].tolist() == ["a", "c", "b"] and set(frame["majority"]) == {"x"}
    assert frame["labels"].iloc[0] == "x 2, y 1"
    assert normalise("  Hello,  WORLD ") == "hello world"


@pytest.fixture(scope="module")
def systematic(tmp_path_factory):
    """900 learnable rows labelled by a "labeller" with a systematic mistake: every text that mentions pizza
    is given `achievement`, whatever else it says. People checked the even rows: their label is the true
    class, except on a few checked rows where they disagree at random (nothing in the text says so).
    Every text carries a unique day number, so a model that saw a row's own checked label could learn it.
    The checked labels are in people.csv (id, label) and in the data's `checked` column."""
    root = tmp_path_factory.mktemp("systematic")
    rng = random.Random(3)
    rows, people, pizza, noise = make_rows(900, seed=5), [], set(), set()
    said_by = {}
    for i, row in enumerate(rows):
        truth = row["predicted_category"]
        row["cleaned_hm"] += f" on day {1000 + i}"
        if i % 10 in (3, 4) and truth != "achievement":
            row["cleaned_hm"] += " and ate pizza"
            row["predicted_category"] = "achievement"
            pizza.add(row["hmid"])
        if i % 2 == 0:
            said = truth
            if row["hmid"] not in pizza and rng.random() < 0.04:
                said = rng.choice([c for c in CLASSES if c != truth])
                noise.add(row["hmid"])
            people.append({"hmid": row["hmid"], "label": said})
            said_by[row["hmid"]] = said
    for row in rows:  # the same checked labels as a column of the data, empty where nobody checked
        row["checked"] = said_by.get(row["hmid"], "")
    data = write_csv(root / "labelled.csv", rows)
    checked = write_csv(root / "people.csv", people, newline="\n")
    return data, checked, pizza, noise, root


def test_trusted_rows_teach_a_systematic_mistake_that_confident_learning_cannot_see(systematic):
    data, checked, pizza, noise, root = systematic
    runs, out = root / "runs", root / "issues.csv"
    result = runner.invoke(app, ["label-issues", str(data), "--runs", str(runs), "--trusted", str(checked),
                                 "-o", str(out), "--top", "2000", "--budget", "20s"])
    assert result.exit_code == 0, result.output
    assert "learned from" in result.stdout and "rows checked by people" in result.stdout
    ranked = pd.read_csv(out, dtype={"id": str}, keep_default_na=False)
    assert ranked.columns.tolist() == ["id", "text", "given_label", "suggested_label", "score", "trusted_label"]
    assert ranked["score"].is_monotonic_decreasing
    rows = set(pd.read_csv(data, dtype={"hmid": str})["hmid"])  # every row is scored
    assert len(ranked) == len(rows)  # --top beyond the flagged rows: the whole ranking
    people = pd.read_csv(checked, dtype={"hmid": str}).set_index("hmid")["label"]
    shown = ranked.set_index("id")["trusted_label"]
    assert (shown[shown != ""] == people.reindex(shown[shown != ""].index)).all()
    assert set(shown[shown != ""].index) == set(people.index) & rows
    # the rows nobody checked: the learned ranking finds the labeller's mistakes ...
    unchecked = ranked[ranked["trusted_label"] == ""].reset_index(drop=True)
    wrong = pizza & set(unchecked["id"])
    learned = unchecked.head(len(wrong))["id"].isin(wrong).mean()
    # ... which confident learning, on the same out-of-fold probabilities, does not see
    plain = textladder.find_label_issues(data, runs=runs, budget=20).issues
    plain = plain[~plain["id"].isin(people.index)]
    confident = plain.head(len(wrong))["id"].isin(wrong).sum() / len(wrong)
    assert len(wrong) >= 30 and learned > 0.8 and confident < 0.5, (learned, confident, len(wrong))
    fixed = unchecked[unchecked["id"].isin(wrong)].head(len(wrong) // 2)
    assert (fixed["suggested_label"] != "achievement").all()
    # the checked rows are scored by models that never saw their own checked label: where people disagreed
    # at random, nothing in the text says so, and those rows rank low; the labeller's mistakes rank high
    score = ranked.set_index("id")["score"]
    random_ones, mistakes = score[list(noise & rows)], score[list(pizza & set(people.index) & rows)]
    assert len(random_ones) >= 5 and random_ones.mean() < 0.3 < mistakes.mean(), (random_ones.mean(), mistakes.mean())
    # the report says how these were ranked (it reports on the runs of the folder: one is trained)
    from textladder.reporting import write_report

    textladder.train(data, out=runs, min_df=1)
    page = write_report(runs, out=root / "report.html").read_text()
    assert "where people disagreed with the given labels" in page and "confident learning" not in page
    assert "<th class=\"l\">checked</th>" in page
    # without --top, as many rows are flagged as the scores add up to
    found = textladder.find_label_issues(data, runs=runs, trusted=checked, budget=20)
    assert len(found.issues) == round(ranked["score"].sum()) and found.trusted == len(set(people.index) & rows)


def test_trusted_labels_from_a_column_and_their_errors(systematic, tmp_path):
    data, checked, pizza, noise, root = systematic
    runs = root / "runs"  # cross-validated by the test above
    by_file = textladder.find_label_issues(data, runs=runs, trusted=checked, top=50, budget=20)
    by_column = textladder.find_label_issues(data, runs=runs, trusted="checked", top=50, budget=20)
    by_frame = textladder.find_label_issues(data, runs=runs, trusted=pd.read_csv(checked, dtype=str), top=50, budget=20)
    assert by_column.trusted == by_file.trusted == by_frame.trusted > 300
    pd.testing.assert_frame_equal(by_column.issues, by_file.issues)
    pd.testing.assert_frame_equal(by_frame.issues, by_file.issues)
    # a checked label that is not a class: one error naming the file, the line and the label
    bad = checked.read_text().splitlines()
    bad[4] = bad[4].split(",")[0] + ",exercize"
    (tmp_path / "bad.csv").write_text("\n".join(bad) + "\n")
    command = ["label-issues", str(data), "--runs", str(runs), "--budget", "20s", "--trusted"]
    result = runner.invoke(app, [*command, str(tmp_path / "bad.csv")])
    assert result.exit_code == 1 and "bad.csv: line 5" in result.output and "'exercize'" in result.output
    # too few disagreements to learn from
    frame = pd.read_csv(data, dtype=str, keep_default_na=False)
    agree = frame.loc[frame["checked"] != "", ["hmid", "predicted_category"]]
    agree.to_csv(tmp_path / "agree.csv", index=False)
    result = runner.invoke(app, [*command, str(tmp_path / "agree.csv")])
    assert result.exit_code == 1 and "0 disagree with their given label" in result.output
    missing = runner.invoke(app, [*command, "nope"])
    assert missing.exit_code == 1 and "neither a column" in missing.output


def test_trusted_labels_in_a_column_of_data_without_ids(systematic, tmp_path):
    """Without an id column a row is known by its line, in training and in the checked column alike."""
    data, checked, pizza, noise, root = systematic
    frame = pd.read_csv(data, dtype=str, keep_default_na=False)
    lines = frame[["cleaned_hm", "predicted_category", "checked"]].rename(
        columns={"cleaned_hm": "text", "predicted_category": "label"})
    plain = write_csv(tmp_path / "no_ids.csv", lines.to_dict("records"))
    found = textladder.find_label_issues(plain, runs=tmp_path / "runs", trusted="checked", top=len(pizza), budget=20)
    from textladder.data.reader import read_table

    by_line = dict(zip(read_table(plain)["_line"].astype(str), frame["hmid"]))  # quoted line breaks included
    assert found.trusted > 300
    assert found.issues["id"].map(by_line).isin(pizza).mean() > 0.6
