"""``textladder ladder --config auto --budget B`` on HappyDB and on a second dataset, against a plain
scikit-learn TF-IDF + LinearSVC baseline on the same split.

    cd benchmarks && ../.venv/bin/python auto.py [--data happydb,fortunes] [--budget 1800] [--out DIR]

(``fortunes`` needs ``apt-get install fortunes``; see datasets.py.) For each dataset: the baseline,
then the auto ladder (search every rung within the budget, refit the winners, stack, greedy). Prints
one row per run (validation, test, what it was trained on), each rung's searched/default ratio on
validation, the best single model and the best ensemble chosen on validation (test scored once), the
time actually spent, and on HappyDB the accuracy of both against the human labels of the test rows.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import HM_TRAIN, machine, print_table

from textladder.auto import AutoPlan, climb_auto
from textladder.config import DataConfig
from textladder.data import load_dataset, make_split
from textladder.data.split import SplitConfig
from textladder.runs import Run

HUMAN = HM_TRAIN.parent / "ground_truth_train.csv"


def baseline(path: Path, seed: int) -> dict:
    """scikit-learn's TfidfVectorizer + LinearSVC, defaults, on textladder's split of ``path``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    ds = load_dataset(path)
    split = make_split(ds.labels, SplitConfig(seed=seed).resolve(ds.format, len(ds)))
    model = make_pipeline(TfidfVectorizer(), LinearSVC()).fit(ds.texts[split.train], ds.labels[split.train])
    out = {}
    for part, rows in (("val", split.val), ("test", split.test)):
        pred = model.predict(ds.texts[rows])
        out[part] = (accuracy_score(ds.labels[rows], pred), f1_score(ds.labels[rows], pred, average="macro"))
    return out


def human_accuracy(run: Run) -> tuple[float, int]:
    """Accuracy of a run's test predictions against the human labels of the rows that have one."""
    pred = pd.read_csv(run.path / "test_predictions.csv", usecols=["id", "predicted"], dtype={"id": str})
    human = pd.read_csv(HUMAN, dtype={"hmid": str})
    joined = pred.merge(human, left_on="id", right_on="hmid")
    return float((joined["predicted"] == joined["ground_truth_category"]).mean()), len(joined)


def diversity(runs: list[Run]) -> list[dict]:
    """Why an ensemble gains what it gains, on validation: each member's accuracy, how often it agrees with
    the best member, and how many of the best member's mistakes it gets right; then the oracle (any
    member right). Refits are read through the validation predictions of the runs that chose them."""
    preds = {}
    for run in runs:
        saved = run.predictions("val")
        if saved is not None:
            preds[run.name] = (run, saved[1].argmax(1))
    if len(preds) < 2:
        return []
    first = next(iter(preds.values()))[0]
    from textladder.data.dataset import encode
    from textladder.runs import run_split

    y = encode(run_split(first, "val")[0].labels, first.classes)
    best = max(preds, key=lambda n: (preds[n][1] == y).mean())
    wrong = preds[best][1] != y
    rows = []
    for name, (run, p) in preds.items():
        rows.append({"member": f"{run.config.model} ({run.trained_on})", "val acc": f"{(p == y).mean():.4f}",
                     "agrees with the best": f"{(p == preds[best][1]).mean():.4f}",
                     "right where the best is wrong": f"{(p[wrong] == y[wrong]).mean():.4f}"})
    oracle = np.any([p == y for _, p in preds.values()], axis=0).mean()
    rows.append({"member": "oracle (any member right)", "val acc": f"{oracle:.4f}", "agrees with the best": "",
                 "right where the best is wrong": ""})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="happydb,fortunes")
    ap.add_argument("--budget", type=float, default=1800, help="seconds for each dataset's auto ladder")
    ap.add_argument("--metric", default="accuracy", help="what the searches maximise on validation")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, default=Path("/tmp/textladder-bench-auto"))
    args = ap.parse_args()
    for name in args.data.split(","):
        if name == "happydb":
            path = HM_TRAIN
        else:
            from datasets import fortunes_csv

            path = fortunes_csv(args.out / "fortunes.csv")
        load = os.getloadavg()[0]
        base = baseline(path, args.seed)
        t = time.time()
        result = climb_auto(DataConfig(path=str(path)), args.out / name, args.budget, seed=args.seed,
                            plan=AutoPlan(metric=args.metric))
        spent = time.time() - t
        rows = [{"run": "TF-IDF + LinearSVC (scikit-learn defaults)", "trained on": "train",
                 "val acc": f"{base['val'][0]:.4f}", "val macro-F1": f"{base['val'][1]:.4f}",
                 "test acc": f"{base['test'][0]:.4f}", "test macro-F1": f"{base['test'][1]:.4f}"}]
        everything = result.runs + result.ensembles
        for run in sorted(everything, key=lambda r: -(r.choice_score(args.metric) or 0)):
            v, te = run.metrics["val"], run.metrics["test"]
            label = run.config.model if run.config.model != "ensemble" else run.name.rsplit("-", 3)[0]
            rows.append({"run": label, "trained on": run.trained_on, "val acc": f"{v['accuracy']:.4f}",
                         "val macro-F1": f"{v['macro_f1']:.4f}", "test acc": f"{te['accuracy']:.4f}",
                         "test macro-F1": f"{te['macro_f1']:.4f}"})
        print_table(rows, f"{name}: auto ladder, {args.budget:.0f} s budget ({spent:.0f} s spent), chosen on "
                          f"validation {args.metric}; {machine()}; load average {load:.2f} at start")
        ratios = [{"rung": m, f"default val {args.metric}": f"{d:.4f}" if d is not None else "-",
                   f"searched val {args.metric}": f"{result.searched[m].choice_score(args.metric):.4f}",
                   "ratio": f"{result.searched[m].choice_score(args.metric) / d:.4f}" if d else "-",
                   "note": result.dropped.get(m, "")}
                  for m, d in result.default_scores.items()]
        if ratios:
            print_table(ratios, f"{name}: each rung's searched score against its defaults (validation)")
        singles = [r for r in everything if r.config.model != "ensemble"]
        best_single = max(singles, key=lambda r: (r.choice_score(args.metric) or 0, r.trained_on != "train"))
        ensembles = result.ensembles
        best_ens = max(ensembles, key=lambda r: r.choice_score(args.metric) or 0) if ensembles else None
        summary = []
        refits = [r for r in singles if r.trained_on != "train"]
        best_refit = max(refits, key=lambda r: r.choice_score(args.metric) or 0) if refits else None
        for label, run in (("best single", best_single), ("best single refit", best_refit), ("best ensemble", best_ens)):
            if run is None:
                continue
            te = run.metrics["test"]
            row = {"": label, "run": run.name, "val " + args.metric: f"{run.choice_score(args.metric):.4f}",
                   "test acc": f"{te['accuracy']:.4f}", "test macro-F1": f"{te['macro_f1']:.4f}",
                   "test acc / baseline": f"{te['accuracy'] / base['test'][0]:.4f}",
                   "val / baseline": f"{(run.metrics['val']['accuracy']) / base['val'][0]:.4f}"}
            if name == "happydb" and HUMAN.is_file():
                acc, n = human_accuracy(run)
                row["human-label acc"] = f"{acc:.4f} (n={n})"
            summary.append(row)
        print_table(summary, f"{name}: chosen on validation, test scored once")
        div = diversity([r for r in everything if r.config.model != "ensemble" and r.trained_on == "train"])
        if div:
            print_table(div, f"{name}: what the ensembles have to work with (validation, the train-only runs)")
        if result.dropped:
            print("dropped:", result.dropped)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
