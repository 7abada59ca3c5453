"""The one-command ladder and its HTML report (opened in headless Chromium)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_rows, write_csv
from typer.testing import CliRunner

from textladder.cli import app
from textladder.config import DataConfig, RunConfig
from textladder.data.split import SplitConfig
from textladder.ladder import load_ladder
from textladder.runs import Run, list_runs

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]

LADDER = """
description = "two quick rungs"

[[rung]]
model = "tfidf-linear"
set = { min_df = 1 }

[[rung]]
model = "fasttext"
set = { epochs = 5 }

[[rung]]
model = "tfidf-linear"
set = { min_df = 1, char_ngrams = true }

[ensemble]
vote = ["soft", "hard"]
select = "top-2"
"""


@pytest.fixture(scope="module")
def climbed(tmp_path_factory):
    root = tmp_path_factory.mktemp("ladder")
    data = write_csv(root / "small.csv", make_rows(240))
    (root / "ladder.toml").write_text(LADDER)
    runs = root / "runs"
    result = runner.invoke(app, ["ladder", str(data), "--config", str(root / "ladder.toml"), "--out", str(runs)])
    assert result.exit_code == 0, result.output
    return root, data, runs, result


def test_ladder_trains_every_rung_builds_both_ensembles_and_reports(climbed):
    root, data, runs, result = climbed
    found = list_runs(runs)
    models = sorted(r.config.model for r in found)
    assert models == ["ensemble", "ensemble", "fasttext", "tfidf-linear", "tfidf-linear"]
    ensembles = [r for r in found if r.config.model == "ensemble"]
    assert sorted(r.config.params["vote"] for r in ensembles) == ["hard", "soft"]
    assert all(len(r.config.params["members"]) == 2 for r in ensembles)  # top-2 by validation
    assert "3 rungs trained, 0 read back, 2 ensembles" in result.stdout
    report = Path(result.stdout.strip().splitlines()[-1])
    assert report == runs / "report.html" and report.stat().st_size > 100_000


def test_ladder_again_reads_everything_back(climbed):
    root, data, runs, _ = climbed
    before = sorted(p.name for p in runs.iterdir())
    result = runner.invoke(app, ["ladder", str(data), "--config", str(root / "ladder.toml"), "--out", str(runs)])
    assert result.exit_code == 0, result.output
    assert "0 rungs trained, 3 read back, 2 ensembles" in result.stdout
    assert sorted(p.name for p in runs.iterdir()) == before


def test_a_failing_rung_is_reported_and_the_others_go_on(tmp_path):
    data = write_csv(tmp_path / "small.csv", make_rows(240))
    (tmp_path / "l.toml").write_text('[[rung]]\nmodel = "tfidf-linear"\nset = { min_df = 1 }\n\n'
                                     '[[rung]]\nmodel = "fasttext"\nbalance = "class-weight"\n')
    result = runner.invoke(app, ["ladder", str(data), "-c", str(tmp_path / "l.toml"), "-o", str(tmp_path / "r"),
                                 "--no-report"])
    assert result.exit_code == 1
    assert "failed: fasttext balance=class-weight" in result.output and "oversample" in result.output
    assert [r.config.model for r in list_runs(tmp_path / "r")] == ["tfidf-linear"]


def test_bad_ladder_files_say_where(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rung]]\nmodel = "tfidf-linear"\nset = { min_df = }\n')
    result = runner.invoke(app, ["ladder", "x.csv", "-c", str(bad)])
    assert result.exit_code == 1 and "bad.toml: invalid TOML" in result.output and "line 3" in result.output
    bad.write_text('[[rung]]\nmodel = "tfidf-linear"\nset = { min_dff = 1 }\n')
    result = runner.invoke(app, ["ladder", "x.csv", "-c", str(bad)])
    assert result.exit_code == 1 and "rung 1" in result.output and "min_dff" in result.output
    result = runner.invoke(app, ["ladder", "x.csv", "-c", "fastest"])
    assert result.exit_code == 1 and "quick, full" in result.output


def test_presets_list_real_rungs():
    quick, full = load_ladder("quick"), load_ladder("full")
    assert {r.model for r in quick.rungs} <= {r.model for r in full.rungs}
    assert {"transformer", "contextual", "attention", "capsule", "cnn", "fasttext", "bilstm2"} <= \
        {r.model for r in full.rungs}
    assert quick.ensemble is not None and full.ensemble is not None


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_renders_in_headless_chromium_without_console_errors(climbed, tmp_path):
    """Opens the report as a file:// page with the network off; fails on any console error or page error."""
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Chromium for the report test (.ci/run installs Debian's chromium)")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    _, _, runs, _ = climbed
    problems = []
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=browser, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            context = b.new_context(offline=True, viewport={"width": 1300, "height": 900})
            page = context.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            page.goto((runs / "report.html").as_uri())
            page.locator("canvas").first.wait_for(timeout=20_000)  # Bokeh draws in shadow roots
            page.wait_for_timeout(500)
            assert page.locator("canvas").count() >= 3  # the score chart and both word maps
            assert "textladder report" in page.title()
            assert page.locator("table tr").count() >= 1 + 5  # header rows + 5 runs
            assert page.get_by_text("Word maps").count() == 1
            assert page.get_by_text("Can its confidence be trusted?").count() == 1
            assert page.get_by_text("Why it says what it says").count() == 1
            # the screenshots are kept where TEXTLADDER_TEST_ARTEFACTS says (scripts/test.sh: test-artefacts/)
            shots = Path(os.environ.get("TEXTLADDER_TEST_ARTEFACTS") or tmp_path)
            shots.mkdir(parents=True, exist_ok=True)
            for width in (1400, 800):  # no horizontal overflow: the page is as wide as the window
                page.set_viewport_size({"width": width, "height": 900})
                page.wait_for_timeout(300)
                assert page.evaluate("document.documentElement.scrollWidth") <= width, width
                page.screenshot(path=str(shots / f"report-{width}.png"), full_page=True)
        finally:
            b.close()
    assert problems == []
    assert all((shots / f"report-{w}.png").stat().st_size > 10_000 for w in (1400, 800))


def test_report_command_writes_elsewhere_and_refuses_an_empty_folder(climbed, tmp_path):
    _, _, runs, _ = climbed
    result = runner.invoke(app, ["report", str(runs), "--out", str(tmp_path / "r.html"), "--top-words", "20"])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text()
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', page)  # nothing to fetch
    assert "<script" in page and "data:image/png;base64," in page
    assert all(Run(r.path).name in page for r in list_runs(runs))
    # each run: per-class precision and recall, and the confusion matrix in counts and normalised
    assert page.count('class="per-class"') == len(list_runs(runs)) == 5
    assert page.count("confusion_matrix.png") == page.count("confusion_matrix_normalized.png") == 5
    fasttext_run = next(r for r in list_runs(runs) if r.config.model == "fasttext")  # the only rung with word vectors
    assert (f'Words of <a href="#run-{fasttext_run.name}">{fasttext_run.name}</a> (fasttext), the best run on '
            "validation that has word vectors") in page
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["report", str(empty)])
    assert result.exit_code == 1 and "no finished runs" in result.output


def test_report_compares_with_a_second_label(climbed, tmp_path):
    _, data, runs, _ = climbed
    test_ids = list_runs(runs)[0].split_ids["test"]
    frame = pd.read_csv(data, dtype=str, keep_default_na=False)
    frame = frame[frame["hmid"].isin(test_ids[:10])]
    # the second label: the given one, but "exercise" everywhere on the first 4 of those rows
    second = frame[["hmid", "predicted_category"]].reset_index(drop=True)
    second.loc[:3, "predicted_category"] = "exercise"
    second.to_csv(tmp_path / "people.csv", index=False)
    agree = (second["predicted_category"] == frame["predicted_category"].reset_index(drop=True)).mean()
    result = runner.invoke(app, ["report", str(runs), "--out", str(tmp_path / "r.html"), "--second-label",
                                 str(tmp_path / "people.csv")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text()
    assert "Agreement with a second label" in page and f"<td>{agree:.4f}</td></tr>" in page
    bad = runner.invoke(app, ["report", str(runs), "--out", str(tmp_path / "s.html"), "--second-label", "nope"])
    assert bad.exit_code == 1 and "neither a column" in bad.output


def test_the_ladder_says_how_long_it_will_take_and_corrects_itself(climbed, tmp_path):
    """An overall estimate when the ladder starts and after each rung: each rung's declared cost
    (estimate_seconds), scaled by how the finished rungs compared with theirs."""
    import time

    from textladder.ladder import LadderClock, train_rows
    from textladder.models import get

    _, data, _, result = climbed
    assert "ladder: 3 rungs to train, then the ensembles and the report: about" in result.output
    assert "left (0 rungs to go)" in result.output
    assert abs(train_rows(DataConfig(path=str(data)), SplitConfig()) - 183) <= 2  # 240 rows: 10% test, 15% val
    configs = {1: RunConfig(model="attention", params={"epochs": 4}, data=DataConfig(path=str(data))),
               2: RunConfig(model="fasttext", data=DataConfig(path=str(data)))}
    clock = LadderClock(configs, ensembles=2, rows=46_000)
    first = get("attention").estimate_seconds(get("attention").Params(epochs=4), 46_000)
    second = get("fasttext").estimate_seconds(get("fasttext").Params(), 46_000)
    assert first > 4 * second > 0  # four epochs of a BiLSTM cost more than fastText
    assert clock.remaining() == pytest.approx(first + second + clock.after)
    clock.started = time.time() - 2 * first  # the first rung took twice its estimate on this machine
    clock.finished(1)
    assert clock.remaining() == pytest.approx(2 * (second + clock.after), rel=0.01)
