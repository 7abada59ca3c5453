"""What a user reads (issue 28): library warnings summed up in one line per command (each one, on one line,
with --verbose), validation errors of a crafted folder as one line naming the file and the field, and no
third-party load report."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import make_rows, write_csv
from typer.testing import CliRunner

import textladder
from textladder.cli import app
from textladder.files import write_checksums

runner = CliRunner()


def test_a_search_that_makes_scikit_learn_warn_ends_with_one_line_counting_the_warnings(tmp_path):
    data = write_csv(tmp_path / "short.csv", make_rows(240, noise=0.3))
    args = ["search", str(data), "--trials", "3", "--set", "min_df=1", "--set", "max_iter=2"]
    quiet = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert quiet.exit_code == 0, quiet.output
    lines = [line for line in quiet.stderr.splitlines() if "ConvergenceWarning" in line]
    assert len(lines) == 1 and "textladder --verbose shows each" in lines[0], quiet.stderr
    assert "warnings.warn" not in quiet.stderr and "site-packages" not in quiet.stderr
    loud = runner.invoke(app, ["--verbose", *args, "--out", str(tmp_path / "b")])
    assert loud.exit_code == 0, loud.output
    each = [line for line in loud.stderr.splitlines() if line.startswith("warning: ConvergenceWarning: ")]
    assert len(each) >= 3 and "site-packages" not in loud.stderr  # one line each, no source lines


def test_a_crafted_member_or_config_is_one_line_naming_the_file_and_the_field(small_csv, tmp_path):
    runs = tmp_path / "runs"
    linear = textladder.train(small_csv, out=runs, min_df=1)
    made = textladder.ensemble([linear, textladder.train(small_csv, model="fasttext", out=runs, epochs=3)], out=runs)
    rung = next((made.path / "model" / "members").glob("tfidf-linear-*/rung.json"))
    info = json.loads(rung.read_text())
    info["params"]["C"] = "lots"
    rung.unlink()  # (a hard link to the member run's file)
    rung.write_text(json.dumps(info))
    for sums in made.path.rglob("checksums.json"):  # forged to match
        write_checksums(sums.parent)
    result = runner.invoke(app, ["evaluate", str(made.path)])
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "rung.json" in result.stderr and "C: " in result.stderr and "pydantic.dev" not in result.stderr
    config = linear.path / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "seed": "x"}))
    result = runner.invoke(app, ["evaluate", str(linear.path)])
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "config.json: invalid run config: seed: " in result.stderr


def test_loading_the_packaged_encoder_prints_no_load_report():
    code = """
from textladder.embeddings.encoder import offline, resolve_encoder
offline()
from transformers import AutoModel
AutoModel.from_pretrained(str(resolve_encoder(None)), local_files_only=True, use_safetensors=True)
print("loaded")
"""
    env = {k: v for k, v in os.environ.items() if k not in ("TRANSFORMERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0 and done.stdout.strip() == "loaded", done.stderr[-2000:]
    assert "LOAD REPORT" not in done.stderr and "UNEXPECTED" not in done.stderr and "Loading weights" not in done.stderr
