"""A slim core install (issue 29): without an optional part, a rung or command that needs it says, in one line,
which extra to install, `textladder models` shows which rungs need one, and the core rungs still work.
The missing parts are simulated in a fresh process: a finder first on ``sys.meta_path`` answers their imports
as Python answers a package that is not installed."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import make_rows, write_csv


BLOCK = """
import sys
class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named '{{name}}'", name=name)
        return None
sys.meta_path.insert(0, _NotInstalled())
"""


def _without(modules: list[str], script: str) -> subprocess.CompletedProcess:
    code = BLOCK.format(blocked=set(modules)) + script
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)


def test_without_torch_a_neural_rung_names_its_extra_and_the_core_rungs_work(tmp_path):
    data = write_csv(tmp_path / "small.csv", make_rows(120))
    script = f"""
from typer.testing import CliRunner
from textladder.cli import app
import textladder
r = CliRunner()
neural = r.invoke(app, ["train", {str(data)!r}, "--model", "attention", "--out", {str(tmp_path / "runs")!r}])
print(neural.exit_code, repr(neural.stderr))
core = r.invoke(app, ["train", {str(data)!r}, "--model", "fasttext", "--set", "epochs=3", "--out", {str(tmp_path / "runs")!r}])
print(core.exit_code)
table = r.invoke(app, ["models"])
print(table.exit_code)
import json
print(json.dumps({{m["name"]: m["extra"] for m in textladder.api.models()}}))
"""
    done = _without(["torch", "lightning"], script)
    assert done.returncode == 0, done.stderr[-3000:]
    neural, core, table, extras = done.stdout.strip().splitlines()[-4:]
    code, stderr = neural.split(" ", 1)
    assert code == "1" and "textladder[neural]" in stderr and "torch" in stderr, neural
    assert stderr.count("\\n") == 1 and "Traceback" not in stderr
    assert core == "0" and table == "0"
    extras = json.loads(extras)
    assert extras["attention"] == "neural" and extras["contextual"] == "neural"  # (it needs torch first)
    assert extras["tfidf-linear"] is None and extras["fasttext"] is None


def test_without_shap_explaining_a_fasttext_run_names_the_explain_extra(tmp_path):
    data = write_csv(tmp_path / "small.csv", make_rows(120))
    script = f"""
from typer.testing import CliRunner
from textladder.cli import app
import textladder
run = textladder.train({str(data)!r}, model="fasttext", out={str(tmp_path / "runs")!r}, epochs=3)
r = CliRunner()
why = r.invoke(app, ["explain", str(run.path), "went for a run"])
print(why.exit_code, repr(why.stderr))
linear = textladder.train({str(data)!r}, out={str(tmp_path / "runs")!r}, min_df=1)
print(r.invoke(app, ["explain", str(linear.path), "went for a run"]).exit_code)
"""
    done = _without(["shap"], script)
    assert done.returncode == 0, done.stderr[-3000:]
    explained, linear = done.stdout.strip().splitlines()[-2:]
    assert explained.startswith("1 ") and "textladder[explain]" in explained and "Traceback" not in explained
    assert linear == "0"  # tfidf-linear explains exactly, without SHAP


def test_without_pyarrow_parquet_names_its_extra_and_dataframes_still_work(tmp_path):
    """Parquet is the [parquet] extra; DataFrames given to the API are saved as CSV, so they need no pyarrow."""
    import pandas as pd

    rows = make_rows(120)
    data = write_csv(tmp_path / "small.csv", rows)
    pd.DataFrame(rows).to_parquet(tmp_path / "small.parquet")  # (this process has pyarrow)
    script = f"""
from typer.testing import CliRunner
from textladder.cli import app
import pandas as pd, textladder
r = CliRunner()
read = r.invoke(app, ["train", {str(tmp_path / "small.parquet")!r}, "--out", {str(tmp_path / "runs")!r}])
print(read.exit_code, repr(read.stderr))
run = textladder.train(pd.read_csv({str(data)!r}), out={str(tmp_path / "runs")!r}, min_df=1)
written = r.invoke(app, ["predict", str(run.path), {str(data)!r}, "-o", {str(tmp_path / "p.parquet")!r}])
print(written.exit_code, repr(written.stderr))
print(textladder.predict(run, ["today I went to the gym", ""])[["id", "predicted"]].values.tolist())
"""
    done = _without(["pyarrow"], script)
    assert done.returncode == 0, done.stderr[-3000:]
    read, written, predicted = done.stdout.strip().splitlines()[-3:]
    for line, what in ((read, "reading"), (written, "writing")):
        code, stderr = line.split(" ", 1)
        assert code == "1" and f"{what} " in stderr and 'pip install "textladder[parquet]"' in stderr, line
        assert stderr.count("\\n") == 1 and "Traceback" not in stderr
    assert not (tmp_path / "p.parquet").exists()
    ids, labels = zip(*eval(predicted))  # an empty text is a row too: every text gets its prediction, in order
    assert ids == ("1", "2") and labels[0] == "exercise", predicted
