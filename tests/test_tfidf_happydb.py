"""The first rung on the real reference split: the issue's accuracy and macro-F1 targets."""

from __future__ import annotations

from typer.testing import CliRunner

from textladder.cli import app
from textladder.runs import Run


def test_tfidf_linear_defaults_hit_the_target(hm_train, tmp_path):
    result = CliRunner().invoke(app, ["train", str(hm_train), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    run = Run.open(result.stdout.strip().splitlines()[-1])
    assert run.config.split.method == "reference"
    assert [len(run.split_ids[k]) for k in ("train", "val", "test")] == [46_172, 8_149, 6_000]
    test = run.metrics["test"]
    assert test["n"] == 6_000
    assert test["accuracy"] >= 0.915, test["accuracy"]
    assert test["macro_f1"] >= 0.87, test["macro_f1"]
    # evaluate without DATA re-reads the data file and scores the same test split, with no retraining
    ev = CliRunner().invoke(app, ["evaluate", str(run.path), "--json"])
    assert ev.exit_code == 0, ev.output
    import json

    assert json.loads(ev.stdout)["accuracy"] == test["accuracy"]
