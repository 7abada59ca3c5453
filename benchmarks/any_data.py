"""The auto ladder on data with an official split, as a new user runs it, against a plain scikit-learn
baseline on the same split, scored once on the official test rows.

    cd benchmarks && ../.venv/bin/python any_data.py [--data sst5,happydb] [--budget 1800] [--out DIR]

``sst5``: ``../shared/data/sst5/sst5.csv`` with its official train/val/test split (``split="split"``, as
``--split-col split``); ``happydb``: ``hm_train.csv`` with the reference split. For each dataset: the
baseline (scikit-learn TF-IDF on word 1-2-grams, sublinear tf, + LinearSVC, fitted on train), then
``textladder.climb(config="auto", budget=...)``; it prints every run (validation, test, what it was
trained on), the pick (:func:`textladder.best` where the installed textladder has it, else the top of
the leaderboard by validation), the best single rung on test (for looking only: it is chosen by test),
and the time spent against the budget. ``--reuse`` tabulates a runs folder climbed before.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from _common import HM_TRAIN, machine, print_table

import textladder
from textladder.api import run_config
from textladder.data import split_dataset
from textladder.data.split import SplitConfig
from textladder.runs import Run, load_data, list_runs

SST5 = HM_TRAIN.parent.parent / "sst5" / "sst5.csv"
DATASETS = {"sst5": (SST5, {"split": "split"}), "happydb": (HM_TRAIN, {})}
PUBLISHED = {"sst5": "RNTN 0.457, CNN 0.48, Tree-LSTM 0.51, BERT-base 0.532", "happydb": "blog 0.924 / 0.941"}


def baseline(path: Path, options: dict, seed: int) -> dict:
    """scikit-learn TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True) + LinearSVC on the split's train
    rows; accuracy and macro-F1 on validation and test."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    config = run_config(path, **options)
    ds = load_data(config.data)
    _, split = split_dataset(ds, SplitConfig(seed=seed, method=config.split.method))
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LinearSVC())
    model.fit(ds.texts[split.train], ds.labels[split.train])
    out = {}
    for part, rows in (("val", split.val), ("test", split.test)):
        pred = model.predict(ds.texts[rows])
        out[part] = (accuracy_score(ds.labels[rows], pred), f1_score(ds.labels[rows], pred, average="macro"))
    return out


def label(run: Run) -> str:
    return run.config.model if run.config.model != "ensemble" else run.name.rsplit("-", 3)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="sst5,happydb")
    ap.add_argument("--budget", type=float, default=1800, help="seconds for each dataset's auto ladder")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, default=Path("/tmp/textladder-bench-any"))
    ap.add_argument("--reuse", action="store_true", help="tabulate the runs folder of an earlier climb")
    args = ap.parse_args()
    for name in args.data.split(","):
        path, options = DATASETS[name]
        runs_dir = args.out / name
        load = os.getloadavg()[0]
        base = baseline(path, options, args.seed)
        spent = None
        if not args.reuse:
            t = time.time()
            textladder.climb(path, config="auto", budget=args.budget, out=runs_dir, seed=args.seed, **options)
            spent = time.time() - t
        runs = list_runs(runs_dir)
        board = textladder.leaderboard(runs_dir)
        pick = (textladder.best(runs_dir) if hasattr(textladder, "best")
                else Run.open(runs_dir / board["run"].iloc[0]))
        rows = [{"run": "scikit-learn TF-IDF(1,2, sublinear) + LinearSVC", "trained on": "train",
                 "val acc": f"{base['val'][0]:.4f}", "test acc": f"{base['test'][0]:.4f}",
                 "test macro-F1": f"{base['test'][1]:.4f}"}]
        for run in (Run.open(runs_dir / r) for r in board["run"]):
            v, te = run.metrics["val"], run.metrics["test"]
            rows.append({"run": label(run) + (" (pick)" if run.name == pick.name else ""),
                         "trained on": run.trained_on, "val acc": f"{v['accuracy']:.4f}",
                         "test acc": f"{te['accuracy']:.4f}", "test macro-F1": f"{te['macro_f1']:.4f}"})
        took = f"{spent:.0f} s spent of {args.budget:.0f} s ({spent / args.budget:.2f}x)" if spent else "reused"
        print_table(rows, f"{name}: auto ladder, ranked by validation; {took}; {machine()}; load average "
                          f"{load:.2f} at start")
        singles = [r for r in runs if r.config.model != "ensemble"]
        top_single = max(singles, key=lambda r: r.metrics["test"]["accuracy"])
        pt = pick.metrics["test"]["accuracy"]
        print(f"\n{name}: pick {pick.name} test accuracy {pt:.4f} ({pt / base['test'][0]:.3f}x the baseline's "
              f"{base['test'][0]:.4f}); best single rung on test {label(top_single)} "
              f"{top_single.metrics['test']['accuracy']:.4f}; published: {PUBLISHED[name]}")


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("textladder").setLevel(logging.INFO)
    np.seterr(all="ignore")
    main()
