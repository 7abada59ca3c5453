"""Peak memory and throughput of `textladder predict` on 100k and 1M rows: streaming keeps memory flat.

    .venv/bin/python benchmarks/predict_memory.py [--rows 100000,1000000]

Trains the default tfidf-linear rung on the reference split, writes CSV files
of N rows (HappyDB texts repeated), runs the real CLI on each in a fresh
process and reports its peak RSS and rows per second.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import HM_TRAIN, machine, print_table

from textladder.data import load_dataset

CLI = [sys.executable, "-m", "textladder.cli"]
PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def write_rows(path: Path, texts: list[str], n: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text"])
        for i in range(n):
            w.writerow([i, texts[i % len(texts)]])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", default="100000,1000000")
    args = ap.parse_args()
    sizes = [int(x) for x in args.rows.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = subprocess.run(CLI + ["train", str(HM_TRAIN), "--out", str(tmp / "runs")], check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
        texts = load_dataset(HM_TRAIN).texts.tolist()
        rows = []
        for n in sizes:
            src = tmp / f"in_{n}.csv"
            write_rows(src, texts, n)
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", PEAK, *CLI, "predict", run, str(src), "-o",
                                  str(tmp / f"out_{n}.parquet")], check=True, capture_output=True, text=True)
            elapsed = time.perf_counter() - start
            peak_mb = int(out.stdout.strip()) / 1024
            rows.append({"rows": f"{n:,}", "input MB": f"{src.stat().st_size / 2**20:.0f}",
                         "peak RSS MB": f"{peak_mb:.0f}", "seconds": f"{elapsed:.1f}",
                         "rows/s": f"{n / elapsed:,.0f}"})
            print(f"done: {n:,} rows", flush=True)
        first = float(rows[0]["peak RSS MB"])
        for r in rows:
            r["RSS / first"] = f"{float(r['peak RSS MB']) / first:.2f}"
        print_table(rows, f"textladder predict (tfidf-linear, chunks of 10,000 rows, CSV in, Parquet out); {machine()}")


if __name__ == "__main__":
    main()
