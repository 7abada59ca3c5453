"""``textladder search`` on HappyDB's reference split: the searched configuration against the defaults.

    cd benchmarks && ../.venv/bin/python search.py [--models tfidf-linear,fasttext] [--budget 600] [--out DIR]

For each rung, a search with a time budget (seconds; the study in ``--out`` continues if run again),
then the best trial trained again and scored once on test, beside the rung's defaults trained the
same way. Prints validation and test accuracy and macro-F1, the ratio searched/default, the trials
and the time.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from _common import HM_TRAIN, finished, machine, print_table, train_or_resume

from textladder.config import DataConfig, RunConfig
from textladder.runs import Run
from textladder.tuning import search


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="tfidf-linear,fasttext")
    ap.add_argument("--budget", type=float, default=600, help="seconds of search per rung")
    ap.add_argument("--metric", default="accuracy")
    ap.add_argument("--out", type=Path, default=Path("/tmp/textladder-bench-search"))
    args = ap.parse_args()
    rows = []
    load = os.getloadavg()[0]
    for model in args.models.split(","):
        config = RunConfig(model=model, data=DataConfig(path=str(HM_TRAIN)))
        default = finished(args.out, config)
        default = default if default is not None else Run.open(train_or_resume(config, args.out))
        t = time.time()
        result = search(config, args.out, budget=args.budget, metric=args.metric)
        for label, run in (("defaults", default), ("searched", result.run)):
            v, te = run.metrics["val"], run.metrics["test"]
            rows.append({"rung": model, "config": label, "val acc": f"{v['accuracy']:.4f}",
                         "val macro-F1": f"{v['macro_f1']:.4f}", "test acc": f"{te['accuracy']:.4f}",
                         "test macro-F1": f"{te['macro_f1']:.4f}",
                         "test acc ratio": f"{te['accuracy'] / default.metrics['test']['accuracy']:.4f}",
                         "trials": "-" if label == "defaults" else result.trials,
                         "seconds": f"{run.metrics['train_seconds']:.0f}" if label == "defaults"
                         else f"{time.time() - t:.0f}"})
        best = {k: v for k, v in result.run.config.params.items() if k != "seed"}
        print(f"{model}: best trial (validation {args.metric} {result.best_value:.4f}): {best}", flush=True)
    print_table(rows, f"search on the reference split, {args.budget:.0f} s budget per rung, chosen on validation "
                      f"{args.metric}, test scored once; {machine()}; load average {load:.2f} at start")


if __name__ == "__main__":
    main()
