"""What each class-imbalance remedy, and the period input, do to the minority classes.

    .venv/bin/python benchmarks/imbalance.py [--models tfidf-linear,bilstm2] [--balance none,class-weight,...]
                                             [--features none,period] [--seeds 42,1,2] [--out DIR]

For each model, each ``--balance`` option, with and without ``--features period``, on the
HappyDB reference split: test accuracy, macro-F1, and the recall of the two smallest classes
(nature, exercise), with the change against the same model's ``none`` run. With several
``--seeds`` every configuration is trained once per seed and the table gives the mean, the
spread (sample standard deviation, ``±``) and ``Δ`` as the mean of the per-seed differences
against ``none`` with the same seed. Runs already finished in ``--out`` are read back, so an
interrupted benchmark goes on. ``smote`` on a sequence rung is refused by textladder (a row
says so).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from _common import HM_TRAIN, finished, machine, parse_sets, print_table

from textladder.choices import BALANCE as METHODS
from textladder.config import DataConfig, RunConfig
from textladder.errors import TextladderError
from textladder.models import get
from textladder.runs import Run
from textladder.training import train


def _fmt(values: list[float], digits: int, sign: bool = False) -> str:
    mean = statistics.fmean(values)
    text = f"{mean:+.{digits}f}" if sign else f"{mean:.{digits}f}"
    if len(values) > 1:
        text += f" ± {statistics.stdev(values):.{digits}f}"
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="tfidf-linear,bilstm2")
    ap.add_argument("--balance", default=",".join(METHODS))
    ap.add_argument("--features", default="none,period")
    ap.add_argument("--seeds", default="42", help="comma-separated seeds; each configuration is trained once per seed")
    ap.add_argument("--out", type=Path, default=Path("/tmp/textladder-bench-imbalance"))
    ap.add_argument("--set", dest="sets", action="append", default=[], help="MODEL:KEY=VALUE")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    sets: dict[str, dict] = {}
    for item in args.sets:
        model, kv = item.split(":", 1)
        sets.setdefault(model, {}).update(parse_sets([kv]))
    rows = []
    for model in args.models.split(","):
        base: dict[int, tuple[float, float]] = {}
        for features in args.features.split(","):
            for balance in args.balance.split(","):
                feats = [] if features == "none" else [features]
                label = f"{model} --balance {balance}" + (" --features period" if feats else "")
                if balance == "smote" and not get(model).supports_smote:
                    rows.append({"run": label, "seeds": "", "test acc": "refused", "macro-F1": "",
                                 "recall nature": "", "recall exercise": "", "Δ macro-F1": "",
                                 "Δ recall exercise": "", "train s": ""})
                    continue
                got: dict[str, list[float]] = {k: [] for k in ("acc", "f1", "nature", "exercise", "d_f1", "d_ex", "s")}
                for seed in seeds:
                    config = RunConfig(model=model, params=sets.get(model, {}), balance=balance, features=feats,
                                       seed=seed, data=DataConfig(path=str(HM_TRAIN)))
                    run = finished(args.out, config)
                    if run is None:
                        print(f"training {label} (seed {seed}) ...", flush=True)
                        try:
                            run = Run.open(train(config, args.out))
                        except TextladderError as exc:
                            print(f"refused: {exc}")
                            break
                    t = run.metrics["test"]
                    f1, ex = t["macro_f1"], t["per_class"]["exercise"]["recall"]
                    if balance == "none" and not feats:
                        base[seed] = (f1, ex)
                    got["acc"].append(t["accuracy"])
                    got["f1"].append(f1)
                    got["nature"].append(t["per_class"]["nature"]["recall"])
                    got["exercise"].append(ex)
                    got["s"].append(run.metrics["train_seconds"])
                    if seed in base:
                        got["d_f1"].append(f1 - base[seed][0])
                        got["d_ex"].append(ex - base[seed][1])
                    print(f"done: {label} (seed {seed}): acc {t['accuracy']:.4f} macro-F1 {f1:.4f}", flush=True)
                if not got["acc"]:
                    continue
                rows.append({
                    "run": label, "seeds": len(got["acc"]),
                    "test acc": _fmt(got["acc"], 4), "macro-F1": _fmt(got["f1"], 4),
                    "recall nature": _fmt(got["nature"], 3), "recall exercise": _fmt(got["exercise"], 3),
                    "Δ macro-F1": _fmt(got["d_f1"], 4, sign=True) if got["d_f1"] else "",
                    "Δ recall exercise": _fmt(got["d_ex"], 3, sign=True) if got["d_ex"] else "",
                    "train s": f"{statistics.fmean(got['s']):.0f}",
                })
    print_table(rows, f"class imbalance on the HappyDB reference split (test 6,000 rows), seeds {args.seeds}; "
                      f"{machine()}")


if __name__ == "__main__":
    main()
