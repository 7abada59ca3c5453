"""Review label issues in a browser (issue 28): the page label-issues writes opens offline in headless Chromium,
a person corrects three rows and saves; the corrections CSV then changes those labels in a new run."""

from __future__ import annotations

import os
import random
import shutil

import pandas as pd
import pytest
from conftest import make_rows, write_csv
from typer.testing import CliRunner

from textladder.cli import app
from textladder.runs import Run, load_data

runner = CliRunner()
CLASSES = ["achievement", "affection", "exercise"]


def test_a_person_corrects_three_rows_in_the_browser_and_the_next_run_has_their_labels(tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Chromium for the review test (.ci/run installs Debian's chromium)")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    rows = make_rows(300, seed=4)
    rng = random.Random(3)
    for row in rows[::12]:  # a few wrong labels to find
        row["predicted_category"] = rng.choice([c for c in CLASSES if c != row["predicted_category"]])
    data = write_csv(tmp_path / "data.csv", rows)
    page_path = tmp_path / "review.html"
    result = runner.invoke(app, ["label-issues", str(data), "--runs", str(tmp_path / "runs"), "--budget", "20s",
                                 "--html", str(page_path)])
    assert result.exit_code == 0, result.output
    issues = pd.read_csv(tmp_path / "runs" / "label_issues.csv", dtype={"id": str})
    assert len(issues) >= 3
    problems, saved = [], tmp_path / "corrections.csv"
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=browser, args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                                                             "--disable-background-networking"])
        try:
            context = b.new_context(offline=True, accept_downloads=True)
            page = context.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            page.goto(page_path.as_uri())
            table = page.locator("tbody tr")
            assert table.count() == len(issues)
            table.nth(0).locator("button.accept").click()  # the suggestion, twice
            table.nth(1).locator("button.accept").click()
            third = issues.iloc[2]  # a label of the person's own: neither the given nor the suggested one
            own = next(c for c in CLASSES if c not in (third["given_label"], third["suggested_label"]))
            table.nth(2).locator("select").select_option(own)
            assert page.locator("#count").inner_text() == "3 rows changed"
            with page.expect_download() as download:
                page.locator("#save").click()
            download.value.save_as(saved)
        finally:
            b.close()
    assert not problems, problems
    corrections = pd.read_csv(saved, dtype=str)
    wanted = {issues.iloc[0]["id"]: issues.iloc[0]["suggested_label"], issues.iloc[1]["id"]: issues.iloc[1]["suggested_label"],
              third["id"]: own}
    assert corrections.columns.tolist() == ["id", "label"] and dict(zip(corrections["id"], corrections["label"])) == wanted
    # retrain with them: the run records the file, and those three rows carry the people's labels
    trained = runner.invoke(app, ["train", str(data), "--out", str(tmp_path / "runs"), "--set", "min_df=1",
                                  "--corrections", str(saved)])
    assert trained.exit_code == 0, trained.output
    run = Run.open(trained.stdout.strip().splitlines()[-1])
    assert run.config.data.corrections == str(saved)
    ds = load_data(run.config)
    labels = dict(zip(ds.ids.tolist(), ds.labels.tolist()))
    assert {i: labels[i] for i in wanted} == wanted
    given = {r["hmid"]: r["predicted_category"] for r in rows}
    assert all(given[i] != wanted[i] for i in wanted)  # they did change
