"""Screenshot a textladder report in headless Chromium (the picture in docs/).

    .venv/bin/python benchmarks/report_screenshot.py RUNS_DIR/report.html docs/report.png [--height 2200]

Opens the page offline, waits for Bokeh to draw, fails on any console error, and saves the top
``--height`` pixels of the page at 1300 px wide.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--height", type=int, default=2200)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("no chromium on this machine (apt-get install chromium)")
    problems = []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=browser, args=["--no-sandbox", "--disable-gpu",
                                                             "--disable-background-networking"])
        page = b.new_context(offline=True, viewport={"width": 1300, "height": args.height}).new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(args.report.resolve().as_uri())
        page.locator("canvas").first.wait_for(timeout=30_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(args.out), clip={"x": 0, "y": 0, "width": 1300, "height": args.height})
        b.close()
    if problems:
        raise SystemExit(f"console errors: {problems}")
    print(args.out)


if __name__ == "__main__":
    main()
