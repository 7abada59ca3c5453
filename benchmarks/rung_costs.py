"""What each rung costs to train, for the ladder's overall time estimate (``train_cost`` in each model
class): every registered rung trained on two HappyDB samples of different sizes for one epoch, and
on the larger for three where it has epochs, through ``textladder.training.train`` (reading,
training, scoring, plots: all of a rung's time). Straight lines through the points give the fixed
seconds, the seconds per 1,000 train rows, and those per 1,000 train rows per epoch.

    cd benchmarks && ../.venv/bin/python rung_costs.py [--rungs tfidf-linear,fasttext] [--sizes 3000 12000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
from _common import HM_TRAIN, machine, print_table

from textladder.config import DataConfig, RunConfig
from textladder.models import get, names
from textladder.runs import Run
from textladder.training import train

SMALL = {"transformer": (300, 900)}  # minutes an epoch on a CPU: smaller samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rungs", default=",".join(n for n in names() if n != "ensemble"))
    parser.add_argument("--sizes", type=int, nargs=2, default=(3000, 12000))
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    frame = pd.read_csv(HM_TRAIN, dtype=str, keep_default_na=False).sample(frac=1.0, random_state=0)
    tmp = Path(tempfile.mkdtemp(prefix="rung-costs-"))
    rows = []
    for rung in args.rungs.split(","):
        cls = get(rung)
        small, large = SMALL.get(rung, args.sizes)
        epochs = "epochs" in cls.Params.model_fields
        points = {}
        for size, n_epochs in [(small, 1), (large, 1)] + ([(large, 3)] if epochs else []):
            data = tmp / f"sample-{size}.csv"
            if not data.exists():
                frame.head(size).to_csv(data, index=False)
            params = {"epochs": n_epochs, "patience": 5} if epochs and rung != "fasttext" else {}
            if rung == "fasttext":
                params = {"epochs": n_epochs}
            config = RunConfig(model=rung, params=params, data=DataConfig(path=str(data)))
            t = time.perf_counter()
            run = Run.open(train(config, tmp / "runs"))
            points[size, n_epochs] = (len(run.split_ids["train"]), time.perf_counter() - t)
        (n1, t1), (n2, t2) = points[small, 1], points[large, 1]
        per_epoch = max((points[large, 3][1] - t2) / 2 / n2 * 1000, 0.0) if epochs else 0.0
        once = max((t2 - t1) / (n2 - n1) * 1000 - per_epoch, 0.0)
        fixed = max(t1 - (once + per_epoch) * n1 / 1000, 0.0)
        rows.append({"rung": rung, "train rows": f"{n1:,} / {n2:,}",
                     "seconds (1 epoch; 3 epochs)": f"{t1:.1f} / {t2:.1f}"
                     + (f"; {points[large, 3][1]:.1f}" if epochs else ""),
                     "fixed s": f"{fixed:.1f}", "s per 1k rows": f"{once:.2f}", "per epoch": f"{per_epoch:.2f}",
                     "declared": ", ".join(f"{x:g}" for x in cls.train_cost)})
        print(rows[-1], flush=True)
    print_table(rows, "Rung costs (one epoch where a rung has epochs)")
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
