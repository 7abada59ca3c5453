"""How many threads the neural rungs use, and how they wait: chosen for a busy, shared machine.

torch's CPU kernels run on an OpenMP thread pool. By default its threads spin for a while when they
run out of work, waiting for the next parallel region; on a machine whose cores other processes also
want, the spinning threads burn the CPU those processes (and the other torch threads) need, and an
epoch takes several times the CPU it takes on an idle machine (docs/BENCHMARKS.md "Threads on a busy
machine"). So textladder asks OpenMP to wait passively (``OMP_WAIT_POLICY=PASSIVE``, set when
textladder is imported, before torch loads, unless the environment sets it already) and sizes
torch's pool to the CPUs this process may actually use: its affinity mask and, in a container, its
CPU quota (:func:`textladder.engine.available_cpus`), not the machine's core count. ``--threads N``
(or ``TEXTLADDER_THREADS``) overrides the count, and ``OMP_NUM_THREADS`` is respected (Ray sets it to
a task's CPUs).

Example:
    >>> thread_count(3)
    3
"""

from __future__ import annotations

import os

ENV = "TEXTLADDER_THREADS"


def thread_count(threads: int | None = None) -> int:
    """``threads``, else ``$TEXTLADDER_THREADS``, else ``$OMP_NUM_THREADS`` (what a Ray task gets: its CPUs),
    else the CPUs available to this process."""
    if threads:
        return int(threads)
    for name in (ENV, "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    from textladder.engine import available_cpus

    return available_cpus()


def apply(threads: int | None = None) -> int:
    """Set torch's intra-op thread count (and OpenMP's, for what starts later); returns it."""
    import torch

    n = thread_count(threads)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
