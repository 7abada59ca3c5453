"""Start-up: the TF-IDF path never loads torch (its speed is measured in benchmarks/startup.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import make_rows, write_csv


def test_training_predicting_and_evaluating_tfidf_never_imports_torch(tmp_path):
    data = write_csv(tmp_path / "small.csv", make_rows(60))
    code = f"""
import sys
from typer.testing import CliRunner
from textladder.cli import app
r = CliRunner()
out = r.invoke(app, ["train", {str(data)!r}, "--set", "min_df=1", "--out", {str(tmp_path / "runs")!r}])
assert out.exit_code == 0, out.output
run = out.stdout.strip().splitlines()[-1]
assert r.invoke(app, ["predict", run, {str(data)!r}, "-o", {str(tmp_path / "p.csv")!r}]).exit_code == 0
assert r.invoke(app, ["evaluate", run, "--json"]).exit_code == 0
print(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
"""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert got.returncode == 0, got.stderr[-2000:]
    assert got.stdout.strip().splitlines()[-1] == "[]"
