"""Every neural rung on the HappyDB reference split, against the blog's figures, in one table.

    .venv/bin/python benchmarks/ladder.py [--rungs lstm,bilstm,...] [--out DIR] [--set KEY=VALUE ...] [--label L]

Each rung is trained through ``textladder.training.train`` (so every run folder,
history and learning curve is there to look at in ``--out``) with its default
options. A rung that already has a finished run with the same options in
``--out`` is read back, not retrained, and an interrupted neural rung goes on from its last
finished epoch, so an interrupted benchmark goes on.
Prints test accuracy, macro-F1, F1 of the two smallest classes (nature,
exercise), training time, time per epoch, and the blog's figure beside ours.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import HM_TRAIN, finished, machine, parse_sets, print_table, train_or_resume

from textladder.config import DataConfig, RunConfig
from textladder.models import make_params

# The blog's validation accuracy per rung (contextual: its ELMo model's test accuracy), and our
# target on test accuracy (contextual: above the frozen-embedding + logistic-regression baseline,
# 0.841; fasttext: 0.895 in under a minute of training; transformer: 0.94).
BLOG = {"tfidf-linear": None, "w2v-dense": 0.463, "w2v-dense2": 0.467, "lstm": 0.855, "bilstm": 0.864,
        "bilstm2": 0.899, "gru": None, "bigru": None, "contextual": 0.924}
TARGET = {"lstm": 0.855, "bilstm": 0.864, "bilstm2": 0.899, "w2v-dense": 0.70, "w2v-dense2": 0.70,
          "fasttext": 0.895, "contextual": 0.842, "transformer": 0.94}
DEFAULT_RUNGS = ["w2v-dense", "w2v-dense2", "lstm", "bilstm", "bilstm2", "gru", "bigru", "cnn", "attention",
                 "capsule", "fasttext", "contextual", "transformer"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rungs", default=",".join(DEFAULT_RUNGS))
    ap.add_argument("--out", type=Path, default=Path("/tmp/textladder-bench-ladder"))
    ap.add_argument("--set", dest="sets", action="append", default=[], help="KEY=VALUE for every rung")
    ap.add_argument("--label", default="", help="suffix of the rung's name in the table")
    args = ap.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("textladder").setLevel(logging.INFO)  # one line per epoch while a rung trains
    extra = parse_sets(args.sets)
    rows = []
    for rung in args.rungs.split(","):
        params = {k: v for k, v in extra.items() if k in make_params(rung, {}).model_fields}
        config = RunConfig(model=rung, params=params, data=DataConfig(path=str(HM_TRAIN)))
        run = finished(args.out, config)
        if run is None:
            from textladder.runs import Run

            print(f"training {rung} {params or ''} ...", flush=True)
            run = Run.open(train_or_resume(config, args.out))
        m = run.metrics
        test = m["test"]
        history = []
        if (run.path / "history.csv").is_file():
            import pandas as pd

            history = pd.read_csv(run.path / "history.csv").to_dict("records")
        per_epoch = sum(h["seconds"] for h in history) / len(history) if history else None
        target = TARGET.get(rung)
        rows.append({
            "rung": rung + (f" {args.label}" if args.label else ""),
            "test acc": f"{test['accuracy']:.4f}",
            "macro-F1": f"{test['macro_f1']:.4f}",
            "F1 nature": f"{test['per_class']['nature']['f1']:.3f}",
            "F1 exercise": f"{test['per_class']['exercise']['f1']:.3f}",
            "train s": f"{m['train_seconds']:.0f}",
            "s / epoch": "-" if per_epoch is None else f"{per_epoch:.1f}",
            "epochs (best)": f"{len(history)} ({m.get('model_report', {}).get('best_epoch', '-')})" if history else "-",
            "blog val acc": "-" if BLOG.get(rung) is None else f"{BLOG[rung]:.3f}",
            "target": "-" if target is None else f">= {target:.3f} {'met' if test['accuracy'] >= target else 'MISSED'}",
        })
        print(f"done: {rung}: test accuracy {test['accuracy']:.4f}, macro-F1 {test['macro_f1']:.4f} ({run.path})",
              flush=True)
    print_table(rows, f"neural ladder on the HappyDB reference split (test 6,000 rows); {machine()}")


if __name__ == "__main__":
    main()
