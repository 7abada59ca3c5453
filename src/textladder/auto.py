"""``ladder --config auto --budget 30m``: search every rung within one time budget, refit the winners, combine.

The budget is spent in three parts, cheap rungs first:

1. **Search** (about 60% of it): each rung of :attr:`AutoPlan.rungs` in turn is searched on validation
   (:func:`textladder.tuning.search`) for its share, plus what earlier rungs left unspent. After its first
   trials, a rung far behind the leader on validation (more than ``drop_margin`` of the metric) gets no more.
2. **Refit**: every rung kept is retrained on train+validation: cross-validated (``cv`` folds, out-of-fold
   predictions for stacking) when the time left allows it at the rung's measured cost, else one refit.
3. **Combine**: soft voting, stacking and greedy selection over the refit runs.
4. **Time left** (searches that ended early, cheap refits): the leading rung searches on; if it finds better
   on validation, it is refit and the ensembles are built again. Then the leaderboard (ranked by
   validation) and the report.

Nothing here reads a test row to choose; test is scored once per run, for the leaderboard.

Example:
    >>> plan = AutoPlan()
    >>> [r.model for r in plan.rungs]
    ['tfidf-linear', 'fasttext', 'attention']
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textladder.config import DataConfig, RunConfig
from textladder.data.split import SplitConfig
from textladder.errors import TextladderError
from textladder.files import lock
from textladder.ladder import duration
from textladder.runs import Run

log = logging.getLogger("textladder")


@dataclass
class AutoRung:
    model: str
    share: float  # of the search budget
    fixed: dict[str, Any] = field(default_factory=dict)  # parameters every trial keeps
    first_trials: int = 3  # trials before the drop rule may stop it
    max_trials: int | None = None  # at most this many trials in each search of it (None: as the budget allows)


@dataclass
class AutoPlan:
    """What ``--config auto`` climbs. The attention BiLSTM is capped at 6 epochs so that a trial fits the budget."""

    rungs: list[AutoRung] = field(default_factory=lambda: [
        AutoRung("tfidf-linear", 0.30),
        AutoRung("fasttext", 0.20),
        AutoRung("attention", 0.50, {"epochs": 6, "patience": 2}, first_trials=2),
    ])
    search_fraction: float = 0.6  # of the whole budget
    drop_margin: float = 0.03  # this far behind the leader on validation after the first trials: dropped
    cv: int = 5
    metric: str = "macro_f1"


@dataclass
class AutoResult:
    searched: dict[str, Run] = field(default_factory=dict)  # rung -> best trial, trained on train
    refits: dict[str, Run] = field(default_factory=dict)  # rung -> refit on train+val
    dropped: dict[str, str] = field(default_factory=dict)  # rung -> why
    ensembles: list[Run] = field(default_factory=list)
    default_scores: dict[str, float | None] = field(default_factory=dict)  # rung -> its defaults' validation score
    seconds: float = 0.0
    report: Path | None = None

    earlier: list[Run] = field(default_factory=list)  # runs a later, better search replaced (still on the leaderboard)

    @property
    def runs(self) -> list[Run]:
        return [*self.searched.values(), *self.refits.values(), *(r for r in self.earlier if r.config.model != "ensemble")]


def climb_auto(data: DataConfig, runs_dir: str | Path, budget: float, split: SplitConfig | None = None,
               seed: int = 42, plan: AutoPlan | None = None, report: bool = True, progress: bool = False,
               engine=None) -> AutoResult:
    """Search, refit and combine within ``budget`` seconds (see the module docstring). A second ladder in the
    same runs folder at the same time is refused. ``engine`` (Ray) runs each search's trials as Ray tasks,
    as many at once as the cluster has CPUs for; the refits, ensembles and report run here."""
    if budget < 10:
        raise TextladderError(f"a budget of {budget:.0f} s is too short for the auto ladder")
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    with lock(runs_dir / "ladder"):
        return _climb(data, runs_dir, budget, split or SplitConfig(seed=seed), seed, plan or AutoPlan(), report,
                      progress, engine)


def _climb(data, runs_dir, budget, split, seed, plan: AutoPlan, report, progress, engine=None) -> AutoResult:
    from textladder.tuning import search

    started = time.time()
    deadline = started + budget
    result = AutoResult()
    search_end = started + plan.search_fraction * budget
    total_share = sum(r.share for r in plan.rungs)
    best_val = -1.0
    for i, rung in enumerate(plan.rungs):
        left = search_end - time.time()
        share = left * rung.share / sum(r.share for r in plan.rungs[i:]) if left > 0 else 0
        if share < 5:
            result.dropped[rung.model] = "no search budget left"
            log.info("auto: %s skipped: no search budget left", rung.model)
            continue
        config = RunConfig(model=rung.model, params=dict(rung.fixed), data=data, split=split, seed=seed)
        log.info("auto: searching %s for up to %.0f s (%.0f%% of the search budget); %s of the %s budget spent",
                 rung.model, share, 100 * rung.share / total_share, duration(time.time() - started), duration(budget))
        leader = best_val

        def behind_by(value: float, trials: int) -> str | None:
            if value < leader - plan.drop_margin:
                return (f"validation {plan.metric} {value:.4f} after {trials} trials, more than {plan.drop_margin} "
                        f"behind the leader ({leader:.4f})")
            return None

        def behind(study, rung=rung) -> str | None:
            import optuna

            done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
            return behind_by(study.best_value, done) if done >= rung.first_trials else None

        try:
            res = search(config, runs_dir, budget=share, trials=rung.max_trials, metric=plan.metric, progress=progress,
                         stop=behind, engine=engine)
        except TextladderError as exc:
            result.dropped[rung.model] = f"failed: {exc}"
            log.error("auto: %s failed: %s", rung.model, exc)
            continue
        res.stopped = res.stopped or behind_by(res.best_value, res.trials)  # also when its share ended first
        if res.stopped:
            result.dropped[rung.model] = res.stopped
            log.info("auto: %s dropped: %s", rung.model, res.stopped)
        result.searched[rung.model] = res.run
        result.default_scores[rung.model] = res.default_value
        if rung.model not in result.dropped:
            best_val = max(best_val, res.best_value)
    kept = sorted((m for m in result.searched if m not in result.dropped),
                  key=lambda m: result.searched[m].choice_score(plan.metric) or 0, reverse=True)
    reserve = min(60.0, 0.1 * budget)  # kept for the ensembles and the report
    for model in kept:
        _refit(result, model, runs_dir, deadline - time.time() - reserve, plan.cv)
    _combine(result, kept, runs_dir)
    # time left (the searches ended early, the refits were cheap): the leader searches on, and if it finds
    # better on validation it is refit and the ensembles are built again
    if kept:
        leader = kept[0]
        first = result.searched[leader]
        left = deadline - time.time() - reserve - 2 * _cost(first) * (plan.cv + 1)
        if left > max(30.0, 0.05 * budget):
            log.info("auto: %.0f s left: %s searches on", left, leader)
            config = RunConfig(model=leader, params=dict(_rung(plan, leader).fixed), data=data, split=split, seed=seed)
            try:
                res = search(config, runs_dir, budget=left, trials=_rung(plan, leader).max_trials, metric=plan.metric,
                             progress=progress, engine=engine)
            except TextladderError as exc:
                log.error("auto: searching %s on failed: %s", leader, exc)
            else:
                if res.best_value > (first.choice_score(plan.metric) or 0) + 1e-9:
                    result.earlier += [first, *([result.refits.pop(leader)] if leader in result.refits else [])]
                    result.searched[leader] = res.run
                    _refit(result, leader, runs_dir, deadline - time.time() - reserve, plan.cv)
                    result.earlier += result.ensembles
                    _combine(result, kept, runs_dir)
                else:  # the same best, written again: not a run of its own
                    import shutil

                    log.info("auto: %s found nothing better on validation", leader)
                    shutil.rmtree(res.run.path, ignore_errors=True)
    if report and result.searched:
        from textladder.reporting import write_report

        result.report = write_report(runs_dir, runs=result.runs + result.ensembles +
                                     [r for r in result.earlier if r.config.model == "ensemble"])
    result.seconds = time.time() - started
    return result


def _rung(plan: AutoPlan, model: str) -> AutoRung:
    return next(r for r in plan.rungs if r.model == model)


def _cost(run: Run) -> float:
    """About what training ``run``'s configuration again on train+val costs (1.2x its rows)."""
    m = run.metrics  # a search's best trial is written without fitting again: its fit is in train_seconds
    return 1.3 * (m.get("train_seconds") or 60) + (m.get("total_seconds") or 0)


def _refit(result: AutoResult, model: str, runs_dir: Path, left: float, cv: int) -> None:
    """Refit the best run of ``model`` on train+val: cross-validated when ``left`` seconds allow it, else
    once; with no time at all, its train-only run stays the one the ensembles use."""
    from textladder.models import get
    from textladder.tuning import refit_config
    from textladder.training import train

    run = result.searched[model]
    cost = _cost(run)
    try:
        if (cv + 1) * cost < left:
            log.info("auto: %s: %d-fold cross-validation and refit on train+val (about %.0f s)", model, cv,
                     (cv + 1) * cost)
            path = train(run.config.model_copy(update={"cv": cv}), runs_dir)
        elif cost < left:
            log.info("auto: %s: refit on train+val (about %.0f s; no time for cross-validation)", model, cost)
            path = train(refit_config(run.config, run, get(model)), runs_dir, chosen_by=run.path)
        else:
            log.info("auto: %s: no time left to refit; its train-only run joins the ensembles", model)
            return
    except TextladderError as exc:
        log.error("auto: refitting %s failed: %s", model, exc)
        return
    result.refits[model] = Run.open(path)


def _combine(result: AutoResult, kept: list[str], runs_dir: Path) -> None:
    """Soft voting, stacking and greedy selection over the kept rungs' refits (else their train-only runs)."""
    members = [result.refits.get(m) or result.searched[m] for m in kept]
    if len(members) >= 2:
        from textladder.ladder import EnsembleSpec, ensembles

        result.ensembles = ensembles(members, EnsembleSpec(vote=["soft", "stack"], select="all", greedy=True),
                                     runs_dir)
