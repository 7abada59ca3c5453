"""Threads on a busy machine: one `attention` epoch on HappyDB's reference split, idle and beside two
CPU-bound busy loops, before (OpenMP's default waiting, torch's default thread count) and after
(textladder's passive waiting and thread count).

    cd benchmarks && ../.venv/bin/python threads.py [--rows 46172]

Each measurement is a fresh process (OpenMP reads its settings once, when torch loads); "before" loads
torch before textladder, so textladder's setting comes too late to count. Reported: wall time and the
process's CPU time (all its threads), and the ratio of CPU under load to CPU idle.
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
import json, os, sys, time, resource
if sys.argv[1] == "before":
    import torch  # OpenMP starts with its own defaults, before textladder can set anything
    import textladder
else:
    import textladder
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
    th.apply = lambda threads=None: torch.get_num_threads()
model.fit(tr.frame(), tr.labels, va.frame(), va.labels)
print(json.dumps({"wall": time.time() - t0, "cpu": time.process_time() - c0, "threads": torch.get_num_threads(),
                  "wait": os.environ.get("OMP_WAIT_POLICY", "(default)")}))
"""


def measure(kind: str, rows: int, busy: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "TEXTLADDER_THREADS")}
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    try:
        time.sleep(1 if busy else 0)
        load = os.getloadavg()[0]
        out = subprocess.run([sys.executable, "-c", CHILD, kind, str(HM_TRAIN), str(rows)], env=env, check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
    finally:
        for p in loops:
            p.kill()
            p.wait()
    got = json.loads(out)
    return {"code": kind, "machine": f"{busy} busy loops" if busy else "idle", "threads": got["threads"],
            "OMP_WAIT_POLICY": got["wait"], "wall s": round(got["wall"], 1), "CPU s": round(got["cpu"], 1),
            "load avg at start": f"{load:.2f}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=46_172, help="train rows in the epoch (default: all)")
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    rows = []
    for kind in ("before", "after"):
        idle = measure(kind, args.rows, 0)
        busy = measure(kind, args.rows, 2)
        busy["CPU busy / idle"] = f"{busy['CPU s'] / idle['CPU s']:.2f}"
        idle["CPU busy / idle"] = ""
        rows += [idle, busy]
    rows[3]["wall under load, after / before"] = f"{rows[3]['wall s'] / rows[1]['wall s']:.2f}"
    for r in rows[:3]:
        r["wall under load, after / before"] = ""
    print_table(rows, f"One attention epoch ({args.rows:,} train rows, validation on 8,149), idle and beside two busy loops")


if __name__ == "__main__":
    main()
