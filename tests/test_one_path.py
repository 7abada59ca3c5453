"""One code path (issue 27): every command is its flags, one call to the Python API, and printing. So each
command and the same API call make the same run folders and frames; the package's modules import only
their own layer and the layers below it, with no cycle."""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_rows, write_csv
from typer.testing import CliRunner

import textladder
from textladder import auto
from textladder.cli import app
from textladder.runs import Run

runner = CliRunner()
SRC = Path(textladder.__file__).parent

# The layers, lowest first: a module may import its own layer and those below it, never one above.
LAYERS = [
    ("core", ["_version", "errors", "layout", "choices", "files", "threads", "engine", "data", "text", "embeddings", "viz",
              "metrics", "calibration", "balance", "features", "loop", "presets"]),
    ("models", ["explain", "models"]),
    ("config", ["config"]),
    ("runs", ["runs", "ranking", "tracking"]),
    ("scoring", ["prediction", "evaluation", "export", "serve"]),
    ("training", ["training"]),
    ("search and combining", ["tuning", "ensembles", "label_issues", "exploration", "reporting"]),
    ("climb", ["climbing", "ladder", "auto"]),
    ("api", ["api"]),
    ("cli", ["cli"]),
]


def _layer_of(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    for i, (_, names) in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and to the Layout of docs/guide/adding-a-rung.md")


def _imports() -> dict[str, set[str]]:
    """Every module's imports of the package (function-local ones too), as module names."""
    modules = {}
    for path in SRC.rglob("*.py"):
        name = ".".join(("textladder", *path.relative_to(SRC).with_suffix("").parts))
        modules[name.removesuffix(".__init__")] = path
    found = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("textladder"):
                targets |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                            for a in node.names}
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("textladder")}
        found[name] = {t for t in targets if t != name}
    return found


def test_every_module_imports_only_its_own_layer_and_those_below():
    upward = []
    for module, targets in _imports().items():
        if module == "textladder":  # the package root re-exports the API
            continue
        for target in targets:
            if target not in ("textladder", "textladder._version") and _layer_of(target) > _layer_of(module):
                upward.append(f"{module} ({LAYERS[_layer_of(module)][0]}) imports {target} "
                              f"({LAYERS[_layer_of(target)][0]})")
    assert not upward, "\n".join(upward)
    cli = _imports()["textladder.cli"]
    assert cli <= {"textladder", "textladder._version", "textladder.api", "textladder.errors", "textladder.choices"}


def test_the_layering_check_can_fail():
    assert _layer_of("textladder.runs") > _layer_of("textladder.models.base")
    with pytest.raises(AssertionError, match="no layer"):
        _layer_of("textladder.nowhere")


# -- the same work through the CLI and through the API ------------------------------------------------------
@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("one-path")
    return write_csv(root / "small.csv", make_rows(240, noise=0.2)), root


def _cli(*args: str) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return (result.stdout.strip().splitlines() or [""])[-1]


def _unnamed(value):
    """``value`` with the time and random part of every run name taken out (``tfidf-linear-20261206-...``)."""
    if isinstance(value, dict):
        return {k: _unnamed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unnamed(v) for v in value]
    return re.sub(r"-\d{8}-\d{6}-[0-9a-f]{4}$", "", value) if isinstance(value, str) else value


def _same_run(a: Run, b: Run) -> None:
    """The same configuration, figures, files and predictions (names, paths and times aside)."""
    ca, cb = (_unnamed(r.config.model_dump(mode="json")) for r in (a, b))
    assert ca == cb
    for part in ("val", "test"):
        for key in ("accuracy", "macro_f1", "per_class", "confusion_matrix", "ece"):
            assert a.metrics[part][key] == b.metrics[part][key], (part, key)
    for key in ("trained_on", "val_source", "cv", "pick"):
        assert a.metrics.get(key) == b.metrics.get(key), key
    files = [sorted(re.sub(r"-\d{8}-\d{6}-[0-9a-f]{4}/", "/", str(p.relative_to(r.path)))
                    for p in r.path.rglob("*") if p.is_file()) for r in (a, b)]
    assert files[0] == files[1]
    assert a.split_ids == b.split_ids
    np.testing.assert_array_equal(a.predictions("test")[1], b.predictions("test")[1])


def test_train_and_search_make_the_same_runs_as_the_api(data):
    csv, root = data
    _same_run(Run.open(_cli("train", csv, "--set", "min_df=1", "--out", root / "cli")),
              textladder.train(csv, out=root / "api", min_df=1))
    _same_run(Run.open(_cli("train", csv, "--model", "fasttext", "--epochs", "5", "--cv", "3", "--out", root / "cli")),
              textladder.train(csv, model="fasttext", out=root / "api", epochs=5, cv=3))
    by_cli = Run.open(_cli("search", csv, "--trials", "4", "--set", "min_df=1", "--out", root / "cli-search"))
    by_api = textladder.search(csv, trials=4, out=root / "api-search", min_df=1)
    _same_run(by_cli, by_api.run)
    trials = [pd.read_csv(next((root / f).glob("search-*.trials.csv"))) for f in ("cli-search", "api-search")]
    pd.testing.assert_series_equal(trials[0]["value"], trials[1]["value"])


def test_a_preset_ladder_and_the_auto_ladder_make_the_same_runs_as_the_api(data, monkeypatch):
    csv, root = data
    ladder = root / "two.toml"
    ladder.write_text('[[rung]]\nmodel = "tfidf-linear"\nset = { min_df = 1 }\n\n[[rung]]\nmodel = "fasttext"\n'
                      'set = { epochs = 5 }\n\n[ensemble]\nvote = ["soft", "stack"]\nselect = "all"\n')
    _cli("ladder", csv, "--config", ladder, "--out", root / "cli-ladder", "--no-report")
    board = textladder.climb(csv, config=ladder, out=root / "api-ladder", report=False)
    result = board.attrs["result"]
    assert result.trained == 2 and len(result.ensembles) == 2 and result.best is not None
    boards = [textladder.leaderboard(root / f) for f in ("cli-ladder", "api-ladder")]
    columns = ["model", "options", "trained_on", "val_macro_f1", "accuracy", "macro_f1"]
    pd.testing.assert_frame_equal(boards[0][columns], boards[1][columns])
    for name_cli, name_api in zip(boards[0]["run"], boards[1]["run"]):
        _same_run(Run.open(root / "cli-ladder" / name_cli), Run.open(root / "api-ladder" / name_api))
    # the auto ladder: one rung, three trials, no time-dependent searching on (so both runs are alike)
    plan = auto.AutoPlan(rungs=[auto.AutoRung("tfidf-linear", 1.0, {"min_df": 1}, max_trials=3, search_on=False)],
                         cv=2)
    monkeypatch.setattr(auto, "AutoPlan", lambda: plan)
    printed = runner.invoke(app, ["ladder", str(csv), "--config", "auto", "--budget", "1m", "--out",
                                  str(root / "cli-auto"), "--no-report"])
    assert printed.exit_code == 0, printed.output
    board = textladder.climb(csv, config="auto", budget="1m", out=root / "api-auto", report=False)
    picked = next(line for line in printed.stdout.splitlines() if line.startswith("pick: "))
    assert picked.split()[1].split("-")[:2] == board.attrs["best"].name.split("-")[:2]  # the same kind of run
    boards = [textladder.leaderboard(root / f) for f in ("cli-auto", "api-auto")]
    pd.testing.assert_frame_equal(boards[0][columns], boards[1][columns])
    for name_cli, name_api in zip(boards[0]["run"], boards[1]["run"]):
        _same_run(Run.open(root / "cli-auto" / name_cli), Run.open(root / "api-auto" / name_api))


def test_ensemble_evaluate_predict_label_issues_and_report_give_what_the_api_gives(data):
    csv, root = data
    folder = root / "members"
    members = [textladder.train(csv, out=folder, min_df=1).path,
               textladder.train(csv, model="fasttext", out=folder, epochs=5).path]
    _same_run(Run.open(_cli("ensemble", *members, "--vote", "stack", "--out", root / "cli-ens")),
              textladder.ensemble(members, vote="stack", out=root / "api-ens"))
    run = members[0]
    result = runner.invoke(app, ["evaluate", str(run), "--json", "--target-accuracy", "0.9"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads(json.dumps(
        textladder.evaluate(run, target_accuracy=0.9, out=root / "api-eval")))
    assert sorted(p.name for p in (run / "eval-test").iterdir()) == sorted(p.name for p in (root / "api-eval").iterdir())
    _cli("predict", run, csv, "-o", root / "cli.csv", "--min-confidence", "0.7")
    frame = textladder.predict(run, csv, min_confidence=0.7)
    pd.testing.assert_frame_equal(pd.read_csv(root / "cli.csv", dtype={"id": str, "predicted": str}),
                                  frame.reset_index(drop=True), check_dtype=False)
    for where in ("cli-issues", "api-issues"):  # each cross-validates the best run of its own copy of the members
        shutil.copytree(folder, root / where)
    _cli("label-issues", csv, "--runs", root / "cli-issues", "-o", root / "cli-issues.csv")
    found = textladder.find_label_issues(csv, runs=root / "api-issues", out=root / "api-issues.csv")
    assert found.path == root / "api-issues.csv" and (root / "api-issues" / "label_issues.csv").is_file()
    pd.testing.assert_frame_equal(pd.read_csv(root / "cli-issues.csv"), pd.read_csv(root / "api-issues.csv"))
    assert (root / "cli-issues" / "label_issues.csv").read_text() == (root / "cli-issues.csv").read_text()
    report_cli = Path(_cli("report", root / "cli-issues", "-o", root / "cli.html"))
    report_api = textladder.report(root / "api-issues", out=root / "api.html")
    assert report_cli.stat().st_size > 10_000 and report_api.stat().st_size > 10_000
    assert _sections(report_cli) == _sections(report_api)


def _sections(report: Path) -> list[str]:
    """The report's headings, in order (what it shows, whatever run names and times it holds)."""
    return re.findall(r"<h[23][^>]*>([^<]+)</h[23]>", report.read_text(encoding="utf-8"))
