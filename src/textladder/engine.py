"""Where the work runs: here, one piece after another (``local``), or as Ray tasks (``ray``).

Ray is an optional extra (``pip install 'textladder[ray]'``), imported only when ``--engine ray`` asks
for it. Without an address a local Ray instance is started, sized to this machine (or ``num_cpus``);
with one (``--ray-address ray://HOST:10001`` or ``auto``) the work joins that cluster. On a cluster the
runs folder and the data must be at a path every node can reach (a shared file system): the tasks
read the data and write their run folders there themselves, exactly as the local engine does.

Each task declares what it needs (``cpus_per_task``, ``gpus_per_task``); Ray sets a task's thread
count (``OMP_NUM_THREADS``) to its CPUs, so tasks sharing a machine do not fight over its cores.

Example:
    >>> Engine.local().name
    'local'
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from textladder.choices import check
from textladder.errors import TextladderError, option
from textladder.threads import available_cpus

log = logging.getLogger("textladder")

ENGINES = ("local", "ray")


def import_ray():
    """``ray``, or a clear error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise TextladderError("the Ray engine needs Ray: pip install 'textladder[ray]'") from None
    return ray


@dataclass
class Engine:
    """Runs ``fn(item)`` for many items: here, in order, or as Ray tasks at once."""

    name: str = "local"
    address: str | None = None
    num_cpus: int | None = None
    cpus_per_task: float = 1.0
    gpus_per_task: float = 0.0
    _started: bool = False

    @classmethod
    def local(cls) -> Engine:
        return cls("local")

    @classmethod
    def make(cls, name: str = "local", address: str | None = None, num_cpus: int | None = None,
             cpus_per_task: float = 1.0, gpus_per_task: float = 0.0) -> Engine:
        """The engine ``name`` (``local`` or ``ray``); ``address`` joins a Ray cluster."""
        check(name, ENGINES, "engine")
        if name == "local" and address:
            raise TextladderError(f"{option('ray-address')} goes with {option('engine', 'ray')}")
        return cls(name, address, num_cpus, cpus_per_task, gpus_per_task)

    def start(self):
        """Connect to (or start) Ray once; returns the ``ray`` module."""
        ray = import_ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "ignore_reinit_error": True,
                                      "logging_level": logging.WARNING}
            if self.address:
                kwargs["address"] = self.address
            else:
                kwargs["num_cpus"] = self.num_cpus or available_cpus()
            try:
                ray.init(**kwargs)
            except Exception as exc:  # noqa: BLE001 - whatever stops Ray, say it in one line
                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
                raise TextladderError(f"could not start {where}: {type(exc).__name__}: {exc}") from None
            self._started = True
            log.info("Ray: %s, %s CPUs", self.address or "local instance",
                     int(ray.cluster_resources().get("CPU", 0)))
        return ray

    def map(self, fn: Callable, items: Iterable, *args) -> Iterator[tuple[Any, Any, BaseException | None]]:
        """``(item, fn(item, *args), None)`` or ``(item, None, error)`` for each item, as each finishes: in
        order here; as Ray tasks (``fn`` must be importable by the workers) in the order they finish."""
        items = list(items)
        if self.name == "local":
            for item in items:
                try:
                    yield item, fn(item, *args), None
                except Exception as exc:  # noqa: BLE001 - the caller reports it and goes on
                    yield item, None, exc
            return
        ray = self.start()
        task = ray.remote(num_cpus=self.cpus_per_task, num_gpus=self.gpus_per_task, max_retries=0)(fn)
        pending = {task.remote(item, *args): item for item in items}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                ref = done[0]
                item = pending.pop(ref)
                try:
                    yield item, ray.get(ref), None
                except Exception as exc:  # noqa: BLE001 - a task's failure, re-raised here by Ray
                    yield item, None, task_error(exc)
        finally:
            for ref in pending:  # interrupted: stop what still runs (its temporary folders stay hidden)
                ray.cancel(ref, force=True)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Shut down the Ray instance this engine started (a cluster joined is left running)."""
        if self._started:
            import ray

            ray.shutdown()
            self._started = False


def task_error(exc: BaseException) -> BaseException:
    """The task's own exception inside Ray's wrapper (``RayTaskError``), so that it reads as a local failure."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc
