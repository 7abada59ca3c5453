"""The local engine against Ray on this machine, side by side: the quick ladder, a 20-trial search, and
batch scoring with 1 and 2 Ray CPUs.

    cd benchmarks && ../.venv/bin/python scale.py --out /tmp/bench-scale

Each pair runs in the same process, one after the other, into fresh runs folders. Ray is a local
instance; its start-up is counted in its wall time (it is what a user waits for).
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import pandas as pd
from _common import HM_TRAIN, machine, print_table

from textladder.config import DataConfig, RunConfig
from textladder.engine import Engine
from textladder.ladder import climb, load_ladder
from textladder.tuning import search


def ladder(out: Path) -> list[dict]:
    rows = []
    spec = load_ladder("quick")
    for name in ("local", "ray"):
        folder = out / f"ladder-{name}"
        shutil.rmtree(folder, ignore_errors=True)
        engine = Engine.make(name, num_cpus=2) if name == "ray" else Engine.local()
        t = time.time()
        result = climb(spec, DataConfig(path=str(HM_TRAIN)), folder, report=False, engine=engine)
        seconds = time.time() - t
        engine.stop()
        best = max(result.ensembles, key=lambda r: r.choice_score() or 0)
        rows.append({"engine": name, "rungs": result.trained, "wall s": round(seconds, 1),
                     "best ensemble test accuracy": f"{best.metrics['test']['accuracy']:.4f}"})
    rows[1]["local / ray"] = f"{rows[0]['wall s'] / rows[1]['wall s']:.2f}x"
    rows[0]["local / ray"] = "1.00x"
    return rows


def search_pair(out: Path, trials: int = 20) -> list[dict]:
    rows = []
    config = RunConfig(model="tfidf-linear", data=DataConfig(path=str(HM_TRAIN)))
    for name in ("local", "ray"):
        folder = out / f"search-{name}"
        shutil.rmtree(folder, ignore_errors=True)
        engine = Engine.make(name, num_cpus=2) if name == "ray" else Engine.local()
        t = time.time()
        result = search(config, folder, trials=trials, engine=engine)
        seconds = time.time() - t
        engine.stop()
        rows.append({"engine": name, "trials": result.trials, "wall s": round(seconds, 1),
                     "best validation macro-F1": f"{result.best_value:.4f}",
                     "test accuracy of the best": f"{result.run.metrics['test']['accuracy']:.4f}"})
    rows[0]["local / ray"], rows[1]["local / ray"] = "1.00x", f"{rows[0]['wall s'] / rows[1]['wall s']:.2f}x"
    return rows


def scoring(out: Path, copies: int = 3) -> list[dict]:
    from textladder.prediction import predict_file, predict_ray
    from textladder.runs import list_runs

    run = next(r for r in list_runs(out / "ladder-local")
               if r.config.model == "tfidf-linear" and not r.config.params.get("char_ngrams"))
    inputs = out / "inputs"
    shutil.rmtree(inputs, ignore_errors=True)
    inputs.mkdir()
    for i in range(copies):
        shutil.copy(HM_TRAIN, inputs / f"part{i}.csv")
    rows = []
    t = time.time()
    n = sum(predict_file(run, f, out / f"local{i}.csv").rows for i, f in enumerate(sorted(inputs.iterdir())))
    local = time.time() - t
    rows.append({"engine": "local (one file after another)", "CPUs": 1, "rows": n, "wall s": round(local, 1),
                 "rows/s": round(n / local)})
    for cpus in (1, 2):
        engine = Engine.make("ray", num_cpus=cpus)
        target = out / f"scored-ray{cpus}"
        shutil.rmtree(target, ignore_errors=True)
        engine.start()
        t = time.time()
        done = predict_ray(run, [inputs], target, engine)
        seconds = time.time() - t
        engine.stop()
        rows.append({"engine": "ray", "CPUs": cpus, "rows": done.rows, "wall s": round(seconds, 1),
                     "rows/s": round(done.rows / seconds)})
    same = pd.concat([pd.read_parquet(f) for f in (out / "scored-ray2").glob("*.parquet")]).sort_values("id")
    local_rows = pd.concat([pd.read_csv(out / f"local{i}.csv", dtype={"id": str}) for i in range(copies)]).sort_values("id")
    agree = (same["predicted"].to_numpy() == local_rows["predicted"].to_numpy()).mean()
    rows[-1]["same labels as local"] = f"{agree:.2%}"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-scale"))
    parser.add_argument("--skip", nargs="*", default=[], choices=["ladder", "search", "scoring"])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    if "ladder" not in args.skip:
        print_table(ladder(args.out), "The quick ladder (4 rungs; ensembles built on the driver), local against Ray with 2 CPUs")
    if "search" not in args.skip:
        print_table(search_pair(args.out), "A 20-trial tfidf-linear search, local against Ray with 2 CPUs")
    if "scoring" not in args.skip:
        print_table(scoring(args.out), "Batch scoring of 3 copies of hm_train.csv (180,963 rows) with tfidf-linear")
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
