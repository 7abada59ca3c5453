"""Given splits: a split column (--split-col / split="COL") or separate files (--test-data, --val-data /
test=, val=), honoured by every command that reads data, and the test part never used to choose."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import make_rows
from typer.testing import CliRunner

import textladder
from textladder.cli import app
from textladder.runs import Run

runner = CliRunner()


def parts_of(n: int) -> list[str]:
    """A fixed, unbalanced pattern of parts (not what a stratified split would draw)."""
    return ["test" if i % 5 == 0 else "val" if i % 5 == 1 else "train" for i in range(n)]


@pytest.fixture
def frame() -> pd.DataFrame:
    rows = pd.DataFrame(make_rows(150, noise=0.1))
    return rows.assign(part=parts_of(len(rows)))


@pytest.fixture
def given_csv(tmp_path, frame):
    path = tmp_path / "given.csv"
    frame.to_csv(path, index=False)
    return path


def cli(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def ids_of(frame: pd.DataFrame, part: str) -> list[str]:
    return sorted(frame.loc[frame["part"] == part, "hmid"].astype(str))


def test_a_split_column_is_honoured_row_for_row(given_csv, frame, tmp_path):
    out = cli("train", given_csv, "--split-col", "part", "--out", tmp_path / "runs", "--set", "min_df=1")
    run = Run.open(out.stdout.strip().splitlines()[-1])
    split = run.split_ids
    for part in ("train", "val", "test"):
        assert sorted(split[part]) == ids_of(frame, part)
    assert run.config.split.method == "given" and run.config.data.split_col == "part"
    assert run.metrics["test"]["n"] == len(ids_of(frame, "test"))


def test_without_validation_rows_they_are_held_out_of_train_and_test_stays(frame, tmp_path):
    two = frame.assign(part=frame["part"].replace({"val": "train"}))
    run = textladder.train(two, out=tmp_path / "runs", split="part", val_size=0.2, min_df=1)
    split = run.split_ids
    assert sorted(split["test"]) == ids_of(two, "test")
    assert sorted(split["train"] + split["val"]) == ids_of(two, "train")
    assert len(split["val"]) == round(0.2 * len(ids_of(two, "train")))


def test_files_give_the_same_run_as_a_column(given_csv, frame, tmp_path):
    files = {}
    for part in ("train", "val", "test"):
        files[part] = tmp_path / f"{part}.csv"
        frame[frame["part"] == part].drop(columns="part").to_csv(files[part], index=False)
    by_column = textladder.train(given_csv, out=tmp_path / "runs", split="part", min_df=1)
    out = cli("train", files["train"], "--test-data", files["test"], "--val-data", files["val"],
              "--out", tmp_path / "runs", "--set", "min_df=1")
    by_files = Run.open(out.stdout.strip().splitlines()[-1])
    assert by_files.config.data.test_path == str(files["test"]) and by_files.config.split.method == "given"
    assert by_files.split_ids == by_column.split_ids
    assert by_files.metrics["test"] == by_column.metrics["test"]
    # and through the API with DataFrames: the same rows, the same figures
    frames = {p: frame[frame["part"] == p].drop(columns="part") for p in ("train", "val", "test")}
    from_frames = textladder.train(frames["train"], out=tmp_path / "runs", test=frames["test"], val=frames["val"],
                                   min_df=1)
    assert from_frames.metrics["test"] == by_column.metrics["test"]


def test_files_without_ids_keep_their_rows_apart(tmp_path):
    rows = pd.DataFrame(make_rows(90)).drop(columns="hmid").rename(columns={"cleaned_hm": "text",
                                                                             "predicted_category": "label"})
    rows[["text", "label"]].iloc[:60].to_csv(tmp_path / "a.csv", index=False)
    rows[["text", "label"]].iloc[60:].to_csv(tmp_path / "b.csv", index=False)
    run = textladder.train(tmp_path / "a.csv", out=tmp_path / "runs", test=tmp_path / "b.csv", min_df=1)
    assert len(run.split_ids["test"]) == 30 and all(i.startswith("test:") for i in run.split_ids["test"])


def test_unknown_split_values_name_every_value_found(frame, tmp_path):
    bad = tmp_path / "bad.csv"
    frame.assign(part=frame["part"].replace({"val": "holdout"})).to_csv(bad, index=False)
    result = runner.invoke(app, ["train", str(bad), "--split-col", "part", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 1
    message = result.output.strip()
    assert message.startswith(f"error: {bad}: line ") and "'holdout' (30)" in message and "'train'" in message
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize("args, says", [
    (["--split-col", "part", "--split", "stratified"], "split 'stratified' cannot apply"),
    (["--split-col", "part", "--test-size", "0.2"], "--test-size cannot apply"),
    (["--split-col", "nope"], "no split column 'nope'"),
    (["--val-data", "x.csv"], "--val-data needs --test-data"),
])
def test_contradictory_split_options_are_one_line(given_csv, tmp_path, args, says):
    result = runner.invoke(app, ["train", str(given_csv), "--out", str(tmp_path / "runs"), *args])
    assert result.exit_code == 1 and says in result.output and len(result.output.strip().splitlines()) == 1


def test_a_class_only_in_test_is_refused(frame, tmp_path):
    odd = frame.copy()
    odd.loc[odd.index[0], "predicted_category"] = "leisure"  # row 0 is a test row
    with pytest.raises(textladder.TextladderError, match="class 'leisure' is in the test part"):
        textladder.train(odd, out=tmp_path / "runs", split="part")


def test_search_never_sees_the_test_rows(given_csv, frame, tmp_path):
    out = cli("search", given_csv, "--split-col", "part", "--trials", "2", "--out", tmp_path / "runs",
              "--set", "min_df=1")
    best = Run.open(out.stdout.strip().splitlines()[-1])
    assert sorted(best.split_ids["test"]) == ids_of(frame, "test")
    assert best.config.split.method == "given"


def test_a_ladder_honours_the_split_and_reads_its_rungs_back(given_csv, frame, tmp_path):
    ladder = tmp_path / "one.toml"
    ladder.write_text('[[rung]]\nmodel = "tfidf-linear"\nset = { min_df = 1 }\n\n'
                      '[[rung]]\nmodel = "fasttext"\nset = { epochs = 5 }\n\n'
                      '[ensemble]\nvote = ["soft"]\nselect = "all"\n')
    args = ["ladder", given_csv, "--config", ladder, "--split-col", "part", "--out", tmp_path / "runs", "--no-report"]
    cli(*args)
    board = textladder.leaderboard(tmp_path / "runs")
    assert len(board) == 3
    for name in board["run"]:
        assert sorted(Run.open(tmp_path / "runs" / name).split_ids["test"]) == ids_of(frame, "test")
    again = cli(*args)
    assert "0 rungs trained, 2 read back" in again.output
    # the same file split otherwise is another ladder: nothing read back
    other = cli("ladder", given_csv, "--config", ladder, "--out", tmp_path / "runs", "--no-report")
    assert "2 rungs trained, 0 read back" in other.output


def test_label_issues_scores_every_row_of_every_given_part(given_csv, frame, tmp_path):
    out = cli("label-issues", given_csv, "--split-col", "part", "--runs", tmp_path / "runs", "--cv", "3",
              "--budget", "20s", "--top", "1000")
    issues = pd.read_csv(out.stdout.strip().splitlines()[-1], dtype={"id": str})
    assert f"of {len(frame)} rows flagged" in out.stdout  # the test part too: finding wrong labels chooses no model
    assert set(issues["id"]) <= set(frame["hmid"].astype(str))
    assert not [p for p in (tmp_path / "runs").iterdir() if (p / "config.json").is_file()]  # nothing trained there
    found = textladder.find_label_issues(given_csv, runs=tmp_path / "runs", split="part", budget=20)
    assert found.rows == len(frame)


def test_explore_shows_the_given_parts(given_csv, frame, tmp_path):
    cli("explore", given_csv, "--split-col", "part", "--out", tmp_path / "ex")
    summary = json.loads((tmp_path / "ex" / "summary.json").read_text())
    assert summary["split"] == {"method": "given", "train": 90, "val": 30, "test": 30}
    assert textladder.explore(frame, tmp_path / "ex2", split="part")["split"] == summary["split"]
