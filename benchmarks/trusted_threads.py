"""How many OpenMP threads the boosted trees of `label-issues --trusted` should use: the whole trusted
ranking (`trusted_scores`) on 900 synthetic rows, with scikit-learn's default pool (every core) and with
one thread, on an idle machine and beside a busy loop (`yes > /dev/null`, one core). Medians of 3.

    cd benchmarks && ../.venv/bin/python trusted_threads.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from unittest import mock

import numpy as np
from _common import machine, print_table

import textladder.label_issues as li


def one_run(threads: int | None) -> float:
    rng = np.random.default_rng(0)
    n = 900
    given = rng.integers(0, 3, n)
    p = np.eye(3)[given] * 0.7 + 0.1
    people = given.copy()
    people[:60] = (people[:60] + 1) % 3
    texts = np.array([f"w{i % 50} w{i % 7} day{i}" for i in range(n)])
    from threadpoolctl import threadpool_limits

    # trusted_scores asks for one thread; this gives it ``threads`` instead (None: no limit, the default pool)
    with mock.patch("threadpoolctl.threadpool_limits", lambda *a, **k: threadpool_limits(threads, user_api="openmp")):
        t = time.perf_counter()
        li.trusted_scores(texts, given, [p], np.arange(0, n, 2), people[::2])
        return time.perf_counter() - t


def main() -> None:
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    one_run(1)  # warm up imports
    rows = []
    for load in ("idle", "beside a busy loop"):
        busy = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) if load != "idle" else None
        try:
            time.sleep(0.5)
            default = statistics.median(one_run(None) for _ in range(3))
            single = statistics.median(one_run(1) for _ in range(3))
        finally:
            if busy:
                busy.kill()
        rows.append({"machine": load, "default pool (s)": f"{default:.2f}", "one thread (s)": f"{single:.2f}",
                     "default / one": f"{default / single:.2f}"})
    print_table(rows, "label-issues --trusted on 900 rows: the boosted trees' OpenMP threads")


if __name__ == "__main__":
    main()
