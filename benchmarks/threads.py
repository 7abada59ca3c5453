"""Threads on a busy machine: one `attention` epoch on HappyDB's reference split, idle and beside two
CPU-bound busy loops, before (torch's default thread count and OpenMP's default waiting) and after
(textladder's thread count: the rung's ``max_threads``, 1 for the sequence rungs), with the other
remedies tried beside them (passive waiting, a short spin, one thread).

    cd benchmarks && ../.venv/bin/python threads.py [--rows 46172]

Each measurement is a fresh process (OpenMP reads its settings once, when torch loads); "before" keeps
torch's own thread count (textladder's choice is switched off in that process). Reported: wall time and
the process's CPU time (all its threads), and the ratio of CPU under load to CPU idle.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _common import HM_TRAIN, machine, print_table

CHILD = r"""
import json, os, sys, time
if sys.argv[1] == "before":
    wait = os.environ.get("OMP_WAIT_POLICY", "(default)")  # what OpenMP reads when torch loads, just below
    import torch
    import textladder
else:
    import textladder
    wait = os.environ.get("OMP_WAIT_POLICY", "(default)")
    import torch
from textladder.data import load_dataset, make_split, SplitConfig
from textladder.models import build
ds = load_dataset(sys.argv[2])
split = make_split(ds.labels, SplitConfig(method="reference").resolve(ds.format, len(ds)))
rows = int(sys.argv[3])
tr, va = ds.subset(split.train[:rows]), ds.subset(split.val)
model = build("attention", {"epochs": 1})
c0, t0 = time.process_time(), time.time()
if sys.argv[1] == "before":  # torch's own default pool, as before textladder sized it
    import textladder.threads as th
    th.apply = lambda threads=None, cap=None: torch.get_num_threads()
model.fit(tr.frame(), tr.labels, va.frame(), va.labels)
print(json.dumps({"wall": time.time() - t0, "cpu": time.process_time() - c0, "threads": torch.get_num_threads(),
                  "wait": wait}))
"""


VARIANTS = {  # name: (how the child imports, extra environment)
    "before": ("before", {}),
    "after": ("after", {}),
    "passive": ("before", {"OMP_WAIT_POLICY": "PASSIVE"}),
    "spin 10k": ("before", {"GOMP_SPINCOUNT": "10000"}),
    "1 thread": ("before", {"OMP_NUM_THREADS": "1"}),
}


def measure(variant: str, rows: int, busy: int) -> dict:
    kind, extra = VARIANTS[variant]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "TEXTLADDER_THREADS")}
    env.update(extra)
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    try:
        time.sleep(1 if busy else 20)  # idle: let the last measurement's busy loops leave the load average
        load = os.getloadavg()[0]
        out = subprocess.run([sys.executable, "-c", CHILD, kind, str(HM_TRAIN), str(rows)], env=env, check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
    finally:
        for p in loops:
            p.kill()
            p.wait()
    got = json.loads(out)
    return {"code": variant, "machine": f"{busy} busy loops" if busy else "idle", "threads": got["threads"],
            "OMP_WAIT_POLICY": got["wait"], "wall s": round(got["wall"], 1), "CPU s": round(got["cpu"], 1),
            "load avg at start": f"{load:.2f}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=46_172, help="train rows in the epoch (default: all)")
    parser.add_argument("--variants", nargs="+", default=["before", "after"], choices=list(VARIANTS),
                        help="before: torch's defaults; after: textladder's; passive: OMP_WAIT_POLICY=PASSIVE; "
                             "spin 10k: GOMP_SPINCOUNT=10000; 1 thread: OMP_NUM_THREADS=1")
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    rows = []
    for variant in args.variants:
        idle = measure(variant, args.rows, 0)
        busy = measure(variant, args.rows, 2)
        busy["CPU busy / idle"] = f"{busy['CPU s'] / idle['CPU s']:.2f}"
        idle["CPU busy / idle"] = ""
        rows += [idle, busy]
    print_table(rows, f"One attention epoch ({args.rows:,} train rows, validation on 8,149), idle and beside two busy loops")


if __name__ == "__main__":
    main()
