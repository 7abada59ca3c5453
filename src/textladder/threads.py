"""How many threads the neural rungs use: chosen for a busy, shared machine, and measured.

torch's CPU kernels run on an OpenMP thread pool whose threads spin for a while when they run out of
work. Beside other busy processes, a pool as wide as the machine spins on cores those processes want:
one attention epoch on HappyDB took 236.8 s of wall and 230.9 s of CPU with two busy loops beside it,
against 28.2 s and 45.7 s idle (docs/BENCHMARKS.md "Threads on a busy machine"). Measured remedies:
passive waiting (``OMP_WAIT_POLICY=PASSIVE``) fixes the busy case (57.8 s) but costs the idle one
(49.2 s: the recurrent rungs' parallel regions are too short to wake sleeping threads for); a shorter
spin (``GOMP_SPINCOUNT=10000``) is fastest idle (23.5 s) and still slow busy (115.4 s); **one thread**
takes 28.7 s idle and 48.5 s busy, at 31 s of CPU. So each neural rung declares the most threads worth
its while (``max_threads``: 1 for the sequence rungs, whose matrices are small; every CPU for the
pretrained encoders, whose matrix products fill a core each), and the pool is never wider than the
CPUs this process may actually use: its affinity mask and, in a container, its CPU quota
(:func:`available_cpus`), not the machine's core count. ``--threads N`` (or
``TEXTLADDER_THREADS``) overrides both; ``OMP_NUM_THREADS`` is respected (Ray sets it to a task's CPUs).

Example:
    >>> thread_count(3)
    3
"""

from __future__ import annotations

import os

ENV = "TEXTLADDER_THREADS"


def thread_count(threads: int | None = None, cap: int | None = None) -> int:
    """``threads``, else ``$TEXTLADDER_THREADS``, else ``$OMP_NUM_THREADS`` (what a Ray task gets: its CPUs),
    else the CPUs available to this process, at most ``cap`` (a rung's ``max_threads``)."""
    if threads:
        return int(threads)
    for name in (ENV, "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    n = available_cpus()
    return min(n, cap) if cap else n


def apply(threads: int | None = None, cap: int | None = None) -> int:
    """Set torch's intra-op thread count (:func:`thread_count`); returns it."""
    import torch

    n = thread_count(threads, cap)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def available_cpus() -> int:
    """The CPUs this process may use (its affinity mask and, in a container, its CPU quota)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:  # cgroup v2 quota: "max 100000" or "200000 100000"
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        if quota != "max":
            n = min(n, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)
