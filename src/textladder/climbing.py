"""One climb for every ladder. A *planner* says what to train, search and combine: a preset or TOML
ladder (:class:`textladder.ladder.Ladder`: its rungs in order, then its ensembles) or the auto ladder
(:class:`textladder.auto.AutoPlan`: plan from the data, search every family the budget allows, refit,
combine). :func:`climb` runs either the same way: one lock on the runs folder, one
:class:`ClimbResult`, then the pick (:func:`textladder.ranking.best`), the report and the tracking call.

A planner is any object with ``climb_into(step: ClimbStep, result: ClimbResult) -> None``.

Example:
    >>> from textladder.ladder import load_ladder
    >>> hasattr(load_ladder("quick"), "climb_into")
    True
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from textladder.config import DataConfig
from textladder.data.split import SplitConfig
from textladder.engine import Engine
from textladder.files import lock
from textladder.reporting import write_report
from textladder.ranking import best
from textladder.runs import Run

log = logging.getLogger("textladder")


@dataclass
class ClimbResult:
    """What a climb did, whichever planner planned it."""

    ladder: list[Run] = field(default_factory=list)  # a preset's rungs, in the ladder's order
    searched: dict[str, Run] = field(default_factory=dict)  # auto: rung -> best trial, trained on train
    refits: dict[str, Run] = field(default_factory=dict)  # auto: rung -> refit on train+val
    earlier: list[Run] = field(default_factory=list)  # auto: runs a later, better search replaced
    ensembles: list[Run] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (rung, error): rungs that failed
    dropped: dict[str, str] = field(default_factory=dict)  # rung -> why it was left out, failed, or got no more search
    trained: int = 0  # rungs trained by this climb (a preset's)
    reused: int = 0  # rungs read back, finished already (a preset's)
    default_scores: dict[str, float | None] = field(default_factory=dict)  # auto: rung -> its defaults' validation score
    planned: dict[str, dict] = field(default_factory=dict)  # auto: rung -> fixed parameters and estimated trial cost
    budget: float | None = None  # seconds (auto), else None
    seconds: float = 0.0
    report: Path | None = None
    best: Run | None = None  # the pick (textladder.ranking.best)

    @property
    def runs(self) -> list[Run]:
        """Every rung's run (no ensembles): a preset's in its order, else the searches', refits' and earlier ones."""
        return [*self.ladder, *self.searched.values(), *self.refits.values(),
                *(r for r in self.earlier if r.config.model != "ensemble")]


@dataclass
class ClimbStep:
    """What a planner climbs with: the data, the runs folder, the split, the engine and, for the auto ladder,
    the budget (its deadline counts from ``started``)."""

    data: DataConfig
    runs_dir: Path
    split: SplitConfig
    seed: int = 42
    progress: bool = False
    engine: Engine = field(default_factory=Engine.local)
    budget: float | None = None
    started: float = field(default_factory=time.time)


def duration(seconds: float) -> str:
    """``75`` -> ``1 min 15 s``; ``3700`` -> ``1 h 1 min`` (rounded down to minutes past an hour).

    Example:
        >>> duration(75), duration(3700), duration(9.4)
        ('1 min 15 s', '1 h 1 min', '9 s')
    """
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


class Planner(Protocol):
    def climb_into(self, step: ClimbStep, result: ClimbResult) -> None: ...


def climb(planner: Planner, data: DataConfig, runs_dir: str | Path, *, split: SplitConfig | None = None,
          seed: int = 42, budget: float | None = None, report: bool = True, progress: bool = False,
          engine: Engine | None = None, tracker: Any = None) -> ClimbResult:
    """Climb ``planner``'s ladder into ``runs_dir``: a second climb into the same folder at the same time is
    refused; then the pick, ``RUNS_DIR/report.html`` (``report``) and one MLflow parent run (``tracker``)."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    with lock(runs_dir / "ladder"):
        step = ClimbStep(data=data, runs_dir=runs_dir, split=split or SplitConfig(seed=seed), seed=seed,
                         progress=progress, engine=engine or Engine.local(), budget=budget)
        result = ClimbResult(budget=budget)
        planner.climb_into(step, result)
        if result.runs:
            result.best = best(result.runs + result.ensembles)
            if report:
                shown = result.runs + result.ensembles + [r for r in result.earlier if r.config.model == "ensemble"]
                result.report = write_report(runs_dir, runs=shown)
        result.seconds = time.time() - step.started
    if budget is not None and result.seconds > 1.1 * budget:  # a bug: every step is bound by the deadline
        log.warning("climb: %.0f s spent of a %.0f s budget", result.seconds, budget)
    if tracker is not None:
        tracker.log_ladder(result, data)
    return result
