"""The same ladder on the local engine and on Ray gives the same runs: the quick preset on the first 6,000
HappyDB rows, through the Python API (``textladder.climb(..., engine=...)``, what ``textladder ladder
--engine ray`` calls), every rung's test figures side by side and the largest difference between their
test probabilities.

    cd benchmarks && ../.venv/bin/python engines.py --out /tmp/bench-engines

Ray is a local instance with 2 CPUs: each rung is a Ray task with one CPU (and one BLAS thread), the local
engine trains them one after another with both.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import HM_TRAIN, machine, print_table

import textladder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/textladder-bench-engines"))
    parser.add_argument("--rows", type=int, default=6000)
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    data = args.out / "slice.csv"
    pd.read_csv(HM_TRAIN, nrows=args.rows, dtype=str, keep_default_na=False).to_csv(data, index=False)
    boards, seconds = {}, {}
    for engine in ("local", "ray"):
        t = time.time()
        boards[engine] = textladder.climb(data, config="quick", out=args.out / engine, report=False, engine=engine)
        seconds[engine] = time.time() - t
    rows = []
    local, ray = (boards[e].attrs["result"] for e in ("local", "ray"))
    for i, (a, b) in enumerate(zip([*local.runs, *local.ensembles], [*ray.runs, *ray.ensembles]), 1):
        pa, pb = a.predictions("test")[1], b.predictions("test")[1]
        vote = f" ({a.config.params['vote']})" if a.config.model == "ensemble" else ""
        rows.append({"run": f"{i}. {a.config.model}{vote}",
                     "local test acc": f"{a.metrics['test']['accuracy']:.4f}",
                     "ray test acc": f"{b.metrics['test']['accuracy']:.4f}",
                     "local macro-F1": f"{a.metrics['test']['macro_f1']:.4f}",
                     "ray macro-F1": f"{b.metrics['test']['macro_f1']:.4f}",
                     "rows predicted differently": int((pa.argmax(1) != pb.argmax(1)).sum()),
                     "largest probability difference": f"{float(np.abs(pa - pb).max()):.2e}"})
    print_table(rows, f"quick preset on {args.rows:,} HappyDB rows, local vs Ray ({machine()}); "
                      f"local {seconds['local']:.0f} s, Ray {seconds['ray']:.0f} s")


if __name__ == "__main__":
    main()
