"""What each class-imbalance remedy, and the period input, do to the minority classes.

    .venv/bin/python benchmarks/imbalance.py [--models tfidf-linear,bilstm2] [--balance none,class-weight,...]
                                             [--features none,period] [--out DIR]

For each model, each ``--balance`` option, with and without ``--features period``, on the
HappyDB reference split: test accuracy, macro-F1, and the recall of the two smallest classes
(nature, exercise), with the change against the same model's ``none`` run. Runs already
finished in ``--out`` are read back, so an interrupted benchmark goes on. ``smote`` on a
sequence rung is refused by textladder (a row says so).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import HM_TRAIN, finished, machine, parse_sets, print_table

from textladder.balance import METHODS
from textladder.config import DataConfig, RunConfig
from textladder.errors import TextladderError
from textladder.models import get
from textladder.runs import Run
from textladder.train import train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="tfidf-linear,bilstm2")
    ap.add_argument("--balance", default=",".join(METHODS))
    ap.add_argument("--features", default="none,period")
    ap.add_argument("--out", type=Path, default=Path("/tmp/textladder-bench-imbalance"))
    ap.add_argument("--set", dest="sets", action="append", default=[], help="MODEL:KEY=VALUE")
    args = ap.parse_args()
    sets: dict[str, dict] = {}
    for item in args.sets:
        model, kv = item.split(":", 1)
        sets.setdefault(model, {}).update(parse_sets([kv]))
    rows = []
    for model in args.models.split(","):
        base = None
        for features in args.features.split(","):
            for balance in args.balance.split(","):
                feats = [] if features == "none" else [features]
                config = RunConfig(model=model, params=sets.get(model, {}), balance=balance, features=feats,
                                   data=DataConfig(path=str(HM_TRAIN)))
                label = f"{model} --balance {balance}" + (" --features period" if feats else "")
                if balance == "smote" and not get(model).supports_smote:
                    rows.append({"run": label, "test acc": "refused", "macro-F1": "", "recall nature": "",
                                 "recall exercise": "", "Δ macro-F1": "", "Δ recall exercise": "", "train s": ""})
                    continue
                run = finished(args.out, config)
                if run is None:
                    print(f"training {label} ...", flush=True)
                    try:
                        run = Run.open(train(config, args.out))
                    except TextladderError as exc:
                        print(f"refused: {exc}")
                        continue
                t = run.metrics["test"]
                rec = {c: t["per_class"][c]["recall"] for c in ("nature", "exercise")}
                if balance == "none" and not feats:
                    base = (t["macro_f1"], rec["exercise"])
                rows.append({
                    "run": label, "test acc": f"{t['accuracy']:.4f}", "macro-F1": f"{t['macro_f1']:.4f}",
                    "recall nature": f"{rec['nature']:.3f}", "recall exercise": f"{rec['exercise']:.3f}",
                    "Δ macro-F1": "" if base is None else f"{t['macro_f1'] - base[0]:+.4f}",
                    "Δ recall exercise": "" if base is None else f"{rec['exercise'] - base[1]:+.3f}",
                    "train s": f"{run.metrics['train_seconds']:.0f}",
                })
                print(f"done: {label}: {rows[-1]}", flush=True)
    print_table(rows, f"class imbalance on the HappyDB reference split (test 6,000 rows); {machine()}")


if __name__ == "__main__":
    main()
