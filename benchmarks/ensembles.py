"""A whole ladder (preset quick or full) on the HappyDB reference split, its ensembles, and the time it took.

    .venv/bin/python benchmarks/ensembles.py [--config quick|full|FILE] [--out DIR] [--also-select top-3,all]

Runs exactly what ``textladder ladder`` runs (``textladder.ladder.climb``): rungs already finished
in ``--out`` are read back, the others trained; then the ladder's soft and hard voting ensembles
(members picked by validation macro-F1) and the report. Prints every rung, then every ensemble,
beside the blog's figures (single model 0.924, ensemble 0.941) and the target (soft >= 0.95), with
the wall time of this call and the summed training time of the rungs. ``--also-select`` builds
more ensembles of the same rungs with other member counts, to see how the choice matters.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from _common import HM_TRAIN, machine, print_table

from textladder.config import DataConfig
from textladder.ensembles import build, existing_ensemble, parse_select, select_top
from textladder.ladder import climb, load_ladder
from textladder.ranking import leaderboard
from textladder.runs import Run

BLOG_SINGLE, BLOG_ENSEMBLE, TARGET = 0.924, 0.941, 0.95


def _ensemble_row(run: Run, label: str) -> dict:
    test, val = run.metrics["test"], run.metrics["val"]
    return {"run": label, "test acc": f"{test['accuracy']:.4f}", "macro-F1": f"{test['macro_f1']:.4f}",
            "val macro-F1": f"{val['macro_f1']:.4f}", "train s": f"{run.metrics['train_seconds']:.0f}",
            "blog": f"{BLOG_ENSEMBLE}",
            "target": (f">= {TARGET}: " + ("met" if test["accuracy"] >= TARGET else "MISSED"))
            if run.config.params["vote"] == "soft" else "-"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="quick")
    ap.add_argument("--out", type=Path, default=None, help="default /tmp/textladder-bench-CONFIG")
    ap.add_argument("--also-select", default="", help="comma-separated top-K or all: more soft/hard ensembles")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("textladder").setLevel(logging.INFO)
    out = args.out or Path(f"/tmp/textladder-bench-{Path(args.config).stem}")
    spec = load_ladder(args.config)
    started = time.time()
    result = climb(spec, DataConfig(path=str(HM_TRAIN)), out)
    wall = time.time() - started
    ensembles = [(f"ensemble {r.config.params['vote']} ({spec.ensemble.select}: "
                  f"{len(r.config.params['members'])} runs)", r) for r in result.ensembles]
    for select in filter(None, args.also_select.split(",")):
        members = select_top(result.runs, parse_select(select))
        for vote in ("soft", "hard"):
            run = (existing_ensemble(out, [m.name for m in members], vote)
                   or Run.open(build(members, vote=vote, runs_dir=out)))
            ensembles.append((f"ensemble {vote} ({select}: {len(members)} runs)", run))
    members = set(result.ensembles[0].config.params["members"]) if result.ensembles else set()
    options = {row["run"]: row["options"] for row in leaderboard(result.runs)}  # those that differ from defaults
    rows = []
    for run in sorted(result.runs, key=lambda r: -r.metrics["val"]["macro_f1"]):
        test = run.metrics["test"]
        label = " ".join(filter(None, [run.config.model, options[run.name].replace("seed=42", "").strip(),
                                       "(class-weight)" if run.config.balance == "class-weight" else ""]))
        rows.append({"run": label + (" *" if run.name in members else ""),
                     "test acc": f"{test['accuracy']:.4f}", "macro-F1": f"{test['macro_f1']:.4f}",
                     "val macro-F1": f"{run.metrics['val']['macro_f1']:.4f}",
                     "train s": f"{run.metrics['train_seconds']:.0f}", "blog": "-", "target": "-"})
    rows += [_ensemble_row(r, label) for label, r in ensembles]
    trained = sum(r.metrics["train_seconds"] for r in result.runs)
    print_table(rows, f"ladder '{args.config}' on the HappyDB reference split (test 6,000 rows), runs in {out}; "
                      f"* = member of the ladder's ensembles (picked by validation macro-F1); {machine()}")
    print(f"\nwall time of this call {wall:.0f} s ({result.trained} rungs trained, {result.reused} read back); "
          f"training time of all {len(result.runs)} rungs summed {trained:.0f} s; blog: single {BLOG_SINGLE}, "
          f"ensemble {BLOG_ENSEMBLE}; report: {result.report}")
    if result.failed:
        print("FAILED:", result.failed)


if __name__ == "__main__":
    main()
