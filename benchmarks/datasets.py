"""Datasets the benchmarks build offline, beside HappyDB.

``fortunes``: the Debian ``fortunes`` package (``apt-get install fortunes``; fortune-mod's data
files, public domain or freely distributable), one row per fortune, labelled by the file it comes
from (art, computers, cookie, definitions, ...: the 40 files with at least 20 fortunes; 15,193
rows, skewed about 42 to 1). A hard, many-class, skewed text task that no HappyDB setting was tuned
on. Written as CSV with columns ``id,text,label``.

    cd benchmarks && ../.venv/bin/python datasets.py fortunes /tmp/fortunes.csv
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

FORTUNES = Path("/usr/share/games/fortunes")


def fortunes_csv(out: Path, min_rows: int = 20, folder: Path = FORTUNES) -> Path:
    """Write the fortunes dataset to ``out``; a clear error when the package is not installed."""
    files = sorted(p for p in folder.glob("*") if p.is_file() and p.suffix == "" and p.with_suffix(".dat").is_file()) \
        if folder.is_dir() else []
    if not files:
        raise SystemExit(f"{folder}: no fortune files; install them with: apt-get install fortunes")
    rows = []
    for path in files:
        entries = [e.strip() for e in path.read_text(encoding="utf-8", errors="replace").split("\n%\n")]
        entries = [" ".join(e.split()) for e in entries if e and e != "%"]
        if len(entries) >= min_rows:
            rows += [(f"{path.name}-{i}", text, path.name) for i, text in enumerate(entries)]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text", "label"])
        w.writerows(rows)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "fortunes":
        raise SystemExit("usage: datasets.py fortunes OUT.csv")
    print(fortunes_csv(Path(sys.argv[2])))
