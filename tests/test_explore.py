"""textladder explore: summary table, summary.json, pie/bar/token-length PNGs."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from textladder.cli import app

PNG = b"\x89PNG\r\n\x1a\n"


def check_outputs(out):
    for name in ("class_distribution_pie.png", "class_distribution_bar.png", "token_lengths.png"):
        data = (out / name).read_bytes()
        assert data[:8] == PNG and len(data) > 5_000, name
    return json.loads((out / "summary.json").read_text())


def test_explore_small(small_csv, tmp_path):
    out = tmp_path / "explore"
    result = CliRunner().invoke(app, ["explore", str(small_csv), "--out", str(out)])
    assert result.exit_code == 0, result.output
    s = check_outputs(out)
    assert s["rows"] == 120 and s["format"] == "hackerearth"
    assert s["classes"] == {"affection": 40, "achievement": 40, "exercise": 40}
    assert s["split"]["train"] + s["split"]["val"] + s["split"]["test"] == 120
    assert {"mean", "median", "p95", "max", "suggested_seq_len"} <= set(s["tokens"])
    assert s["tokens"]["suggested_seq_len"] % 8 == 0 and s["tokens"]["suggested_seq_len"] >= s["tokens"]["p95"]
    assert "affection" in result.stdout and "suggested sequence length" in result.stdout
    # running again replaces the folder; a folder that is not ours is refused
    assert CliRunner().invoke(app, ["explore", str(small_csv), "--out", str(out)]).exit_code == 0
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    result = CliRunner().invoke(app, ["explore", str(small_csv), "--out", str(tmp_path / "mine")])
    assert result.exit_code == 1 and "is not an explore folder" in result.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_explore_happydb(hm_train, tmp_path):
    out = tmp_path / "explore"
    result = CliRunner().invoke(app, ["explore", str(hm_train), "--out", str(out)])
    assert result.exit_code == 0, result.output
    s = check_outputs(out)
    assert s["rows"] == 60_321
    assert s["split"] == {"method": "reference", "train": 46_172, "val": 8_149, "test": 6_000}
    assert s["classes"]["exercise"] == 729 and s["imbalance_ratio"] == round(20880 / 729, 2)
    assert 19 < s["tokens"]["mean"] < 23 and s["tokens"]["max"] > 1000
    assert s["tokens"]["suggested_seq_len"] == 80  # the blog's choice, from the 98th percentile
    assert s["period"] == {"24h": 30_455, "3m": 29_866}  # counted by Python csv independently
