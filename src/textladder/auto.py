"""``ladder --config auto --budget 30m``: search every family the budget allows, refit the winners, combine,
pick fairly, and end within the budget.

1. **Plan** from the data and the budget (:func:`plan_rungs`): the train rows and the mean words per text
   give each rung's cost (:meth:`TextClassifier.estimate_seconds`, which grows with the words a rung
   reads). A rung whose first trial (a neural rung: its first epoch, since its trials stop at the deadline
   epoch by epoch) would take more than :attr:`AutoPlan.max_trial_share` of the search time is left out,
   and says so. The fine-tuned ``transformer`` gets as many epochs (up to its default 4)
   as half the search time pays for, and on long texts (more sub-word tokens than it reads) the start and
   the end of each text (``truncation="head+tail"``).
2. **Probe** (cheapest rung first): each rung's first trials (its defaults and the winners of earlier
   searches), within a share of the search time that follows its prior expected gain
   (:attr:`AutoRung.gain`). The frozen encoder (``contextual``, encoded once and cached, its head searched
   in seconds) tells whether meaning pays on this data: the transformer is fine-tuned only when the
   frozen encoder's validation figure is within :attr:`AutoPlan.meaning_margin` of the best rung's.
   A rung far behind the leader after its first trials (``drop_margin``) gets no more search time (it still
   joins the ensembles: it may make different mistakes).
3. **Search on**: the search time left goes to the rungs still in, in proportion to their expected gain:
   their prior times ``exp(-(leader - score) / gain_scale)`` (the leader and the rungs near it get most).
4. **Refit** every rung searched on train+validation, the ones still in first, best first: cross-validated
   (out-of-fold predictions for stacking and for the pick) when the time left allows, else once, else not
   at all.
5. **Combine**: soft voting, stacking and greedy selection over them all (the refits, else the train-only
   runs), and over the cross-validated ones alone when only some are (they learn from every train+val row
   out of fold); the leader searches on with any time left, and is refit and combined again if it found
   better.
6. **Pick** (:func:`textladder.ranking.best`): the best run on a figure no search maximised.

Every search, neural trial and refit is bound by the budget's deadline (no epoch starts that would end
past it), and :attr:`AutoPlan.reserve` of it is kept for the ensembles and the report. Nothing here reads
a test row to choose; test is scored once per run, for the leaderboard.

Example:
    >>> [r.model for r in AutoPlan().rungs]
    ['tfidf-linear', 'fasttext', 'contextual', 'attention', 'transformer']
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from textladder.config import DataConfig, RunConfig
from textladder.data import split_dataset
from textladder.data.split import SplitConfig
from textladder.embeddings.encoder import WORDPIECES_PER_WORD
from textladder.errors import TextladderError
from textladder.climbing import ClimbResult, ClimbStep, duration
from textladder.climbing import climb as run_climb
from textladder.ensembles import EnsembleSpec, build_spec
from textladder.layout import OOF_PREDICTIONS
from textladder.models import get, make_params
from textladder.runs import Run, load_data
from textladder.training import train
from textladder.tuning import refit_config, search

log = logging.getLogger("textladder")


@dataclass
class AutoRung:
    model: str
    gain: float  # prior expected gain: its share of the search time before anything is measured
    fixed: dict[str, Any] = field(default_factory=dict)  # parameters every trial keeps
    first_trials: int = 3  # trials before the drop rule may stop it
    max_trials: int | None = None  # at most this many trials in each search of it (None: as the budget allows)
    needs_meaning: bool = False  # tried only when the frozen encoder shows that meaning pays on this data
    search_on: bool = True  # may search on after the probe with the time left


@dataclass
class AutoPlan:
    """What ``--config auto`` may climb, and its rules (see the module docstring)."""

    rungs: list[AutoRung] = field(default_factory=lambda: [
        AutoRung("tfidf-linear", 1.0),
        AutoRung("fasttext", 0.6),
        AutoRung("contextual", 0.6, first_trials=4),
        AutoRung("attention", 1.0, {"epochs": 6, "patience": 2}, first_trials=2),
        AutoRung("transformer", 2.0, max_trials=1, needs_meaning=True, search_on=False),
    ])
    search_fraction: float = 0.6  # of the whole budget
    max_trial_share: float = 0.5  # a rung whose first trial costs more of the search time is left out
    meaning_margin: float = 0.03  # the frozen encoder this close to the leader: fine-tuning is worth its cost
    drop_margin: float = 0.03  # this far behind the leader on validation after the first trials: dropped
    gain_scale: float = 0.02  # how fast the expected gain falls with the distance to the leader
    cv: int = 5
    metric: str = "macro_f1"

    def reserve(self, budget: float) -> float:
        """Seconds kept for the ensembles and the report."""
        return min(60.0, 0.1 * budget)

    def climb_into(self, step: ClimbStep, result: ClimbResult) -> None:
        """Plan, probe, search on, refit and combine within ``step.budget`` (a planner of
        :func:`textladder.climbing.climb`, which then picks and reports)."""
        _climb(step, result, self)


@dataclass
class DataProfile:
    """What the plan reads off the data: train rows, mean words per text, classes."""

    train_rows: int
    words: float
    classes: int
    p98_words: float | None = None  # the length a sequence rung reads by default (its 98th percentile)

    @classmethod
    def of(cls, data: DataConfig, split: SplitConfig) -> DataProfile:
        ds = load_data(data)
        _, parts = split_dataset(ds, split)
        lengths = np.fromiter((len(str(t).split()) for t in ds.texts[parts.train]), dtype=np.int64)
        return cls(len(parts.train), float(lengths.mean()), len(ds.classes), float(np.percentile(lengths, 98)))


def plan_rungs(plan: AutoPlan, profile: DataProfile, search_seconds: float) -> tuple[list[tuple[AutoRung, float]], dict]:
    """The rungs to climb, cheapest first, each with its fixed parameters adapted to the data and the
    estimated seconds of one trial; and why each rung left out is left out.

    Example:
        >>> rungs, left_out = plan_rungs(AutoPlan(), DataProfile(train_rows=8000, words=20, classes=5), 1000)
        >>> [(r.model, r.fixed.get("epochs")) for r, _ in rungs][-1]
        ('transformer', 3)
        >>> _, left_out = plan_rungs(AutoPlan(), DataProfile(train_rows=46000, words=21, classes=7), 300)
        >>> sorted(left_out)
        ['contextual', 'transformer']
    """
    chosen, left_out = [], {}
    limit = plan.max_trial_share * search_seconds
    for rung in plan.rungs:
        cls = get(rung.model)
        fixed = dict(rung.fixed)
        if getattr(cls, "cost_words", None) and "seq_len" in cls.Params.model_fields and "seq_len" not in fixed:
            fixed.update(_sequence_fit(cls, fixed, profile, limit))
        if rung.model == "transformer":
            fixed.update(_transformer_fit(cls, fixed, profile, limit))
            if fixed.get("epochs", 1) < 1:
                one = cls.estimate_seconds(make_params(rung.model, {**rung.fixed, "epochs": 1}), profile.train_rows,
                                           profile.words)
                left_out[rung.model] = (f"one fine-tuning epoch takes about {duration(one)}, more than "
                                        f"{plan.max_trial_share:.0%} of the search time ({duration(search_seconds)})")
                continue
        params = make_params(rung.model, fixed)
        cost = cls.estimate_seconds(params, profile.train_rows, profile.words)
        # a neural trial stops at the deadline, epoch by epoch: what must fit is its first epoch
        first = (cls.estimate_seconds(params.model_copy(update={"epochs": 1}), profile.train_rows, profile.words)
                 if cls.checkpointed else cost)
        if first > limit:
            what = "one epoch" if cls.checkpointed else "one trial"
            left_out[rung.model] = (f"{what} takes about {duration(first)}, more than {plan.max_trial_share:.0%} "
                                    f"of the search time ({duration(search_seconds)})")
            continue
        chosen.append((AutoRung(rung.model, rung.gain, fixed, rung.first_trials, rung.max_trials,
                                rung.needs_meaning, rung.search_on), cost))
    chosen.sort(key=lambda pair: (pair[0].needs_meaning, pair[1]))  # cheapest first; fine-tuning after the probe
    return chosen, left_out


def _sequence_fit(cls, fixed: dict, profile: DataProfile, limit: float) -> dict:
    """A sequence rung's length: the one it reads by default (the 98th percentile of the train texts) unless
    a trial would then cost more than ``limit`` seconds; then the longest that fits, at least 32 words (a
    trial costs as the words it reads: the mean length, capped by the sequence length).

    Example:
        >>> from textladder.models import get
        >>> _sequence_fit(get("attention"), {"epochs": 6}, DataProfile(3000, 250, 23, 600), 60)
        {'seq_len': 141}
        >>> _sequence_fit(get("attention"), {"epochs": 6}, DataProfile(46000, 21, 7, 80), 300)
        {}
    """
    if profile.p98_words is None:
        return {}
    params = make_params(cls.name, fixed)
    fixed_s, once, per_epoch = cls.train_cost
    per_word = profile.train_rows / 1000 * (once + per_epoch * getattr(params, "epochs", 1)) / cls.cost_words
    fits = (limit - fixed_s) / per_word if per_word > 0 else profile.p98_words
    if fits >= profile.words:
        return {}
    return {"seq_len": max(32, int(min(fits, profile.p98_words)))}


def _transformer_fit(cls, fixed: dict, profile: DataProfile, limit: float) -> dict:
    """The transformer's epochs (as many of its default as ``limit`` seconds pay for, 0 when not one) and, on
    texts longer than it reads, head+tail truncation."""
    params = make_params("transformer", fixed)
    out: dict = {}
    if "truncation" not in fixed and profile.words * WORDPIECES_PER_WORD > params.max_length:
        out["truncation"] = "head+tail"
    if "epochs" not in fixed:
        epochs = params.epochs
        while epochs >= 1 and cls.estimate_seconds(params.model_copy(update={"epochs": epochs}), profile.train_rows,
                                                   profile.words) > limit:
            epochs -= 1
        out.update(epochs=epochs, patience=max(1, min(params.patience, epochs)))
    return out


MIN_BUDGET = 45.0  # seconds: less cannot probe one rung, refit it and combine


def climb_auto(data: DataConfig, runs_dir: str | Path, budget: float, split: SplitConfig | None = None,
               seed: int = 42, plan: AutoPlan | None = None, report: bool = True, progress: bool = False,
               engine=None, tracker=None) -> ClimbResult:
    """Plan, search, refit, combine and pick within ``budget`` seconds (see the module docstring): the auto
    planner climbed by :func:`textladder.climbing.climb`. A second ladder in the same runs folder at the same time
    is refused. ``engine`` (Ray) runs each search's trials as Ray tasks, as many at once as the cluster has
    CPUs for; the refits, ensembles and report run here."""
    check_budget(budget)
    return run_climb(plan or AutoPlan(), data, runs_dir, split=split, seed=seed, budget=budget, report=report,
                     progress=progress, engine=engine, tracker=tracker)


def check_budget(budget: float) -> None:
    """Refuse a budget too short for the auto ladder (:data:`MIN_BUDGET`)."""
    if budget < MIN_BUDGET:
        raise TextladderError(f"a budget of {budget:.0f} s is too short for the auto ladder; give at least "
                              f"{MIN_BUDGET:.0f}s")


def _climb(step: ClimbStep, result: ClimbResult, plan: AutoPlan) -> None:
    data, runs_dir, split, seed, progress, engine = (step.data, step.runs_dir, step.split, step.seed, step.progress,
                                                     step.engine)
    budget = step.budget
    started = step.started
    deadline = started + budget
    reserve = plan.reserve(budget)
    search_end = started + plan.search_fraction * budget
    profile = DataProfile.of(data, split)
    rungs, left_out = plan_rungs(plan, profile, search_end - time.time())
    result.dropped.update(left_out)
    for model, why in left_out.items():
        log.info("auto: %s left out: %s", model, why)
    result.planned = {r.model: {"fixed": r.fixed, "trial_seconds": round(cost, 1)} for r, cost in rungs}
    log.info("auto: %d train rows, %.0f words a text, %d classes: %s", profile.train_rows, profile.words,
             profile.classes, ", ".join(f"{r.model} (a trial about {duration(c)})" for r, c in rungs))
    scores: dict[str, float] = {}  # rung -> best validation figure so far
    trials_of: dict[str, int] = {}  # rung -> trials of its probe

    def leader() -> float:
        return max(scores.values(), default=-1.0)

    def run_search(rung: AutoRung, seconds: float, trials: int | None, stop=None):
        config = RunConfig(model=rung.model, params=dict(rung.fixed), data=data, split=split, seed=seed)
        return search(config, runs_dir, budget=seconds, trials=trials, metric=plan.metric, progress=progress,
                      stop=stop, engine=engine, deadline=deadline - reserve)

    # 2. probe: each rung in turn, within a share of the search time by its prior gain; dropped when far behind
    for i, (rung, cost) in enumerate(rungs):
        if rung.needs_meaning and not _meaning_pays(rung, scores, plan, result):
            continue
        left = search_end - time.time()
        # a one-trial rung still to come (fine-tuning) has its trial's time kept for it
        kept_for = sum(1.15 * c for r, c in rungs[i + 1:] if r.max_trials == 1 and r.model not in result.dropped)
        if rung.max_trials == 1:  # one trial: the whole of it, when it fits what is left
            share = cost * 1.15 if cost * 1.15 < left else 0
        else:
            gains = sum(r.gain for r, _ in rungs[i:] if r.max_trials != 1)
            share = (left - kept_for) * rung.gain / gains if left > kept_for else 0
        if share < min(5.0, cost):
            result.dropped[rung.model] = f"no search time left (a trial takes about {duration(cost)})"
            log.info("auto: %s skipped: no search time left", rung.model)
            continue
        log.info("auto: searching %s for up to %s (a trial: about %s); %s of the %s budget spent", rung.model,
                 duration(share), duration(cost), duration(time.time() - started), duration(budget))
        lead = leader()

        def behind(study, rung=rung, lead=lead) -> str | None:
            import optuna

            done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
            return _behind(study.best_value, done, lead, plan) if done >= rung.first_trials else None

        res = _searched(result, rung, run_search, share, rung.max_trials, plan.metric, stop=behind)
        if res is None:
            continue
        result.default_scores[rung.model] = res.default_value
        stopped = res.stopped if res.stopped and not res.stopped.startswith("budget:") else None
        why = stopped or _behind(res.best_value, res.trials, lead, plan)  # also when its share ended first
        if why:
            result.dropped[rung.model] = why
            log.info("auto: %s dropped: %s", rung.model, why)
        scores[rung.model], trials_of[rung.model] = res.best_value, res.trials
    for model, value in scores.items():  # far behind the leader of every probe (the order must not matter)
        why = _behind(value, trials_of[model], leader(), plan)
        if why and model not in result.dropped:
            result.dropped[model] = why
            log.info("auto: %s dropped: %s", model, why)
    # 3. search on: the time left, by expected gain
    _search_on(result, rungs, scores, run_search, search_end, plan)
    # every rung searched joins the ensembles (a rung far behind got no more search time, but may still
    # make different mistakes); refits go to the rungs still in first, best first
    members = sorted(result.searched, key=lambda m: (m in result.dropped, -scores.get(m, 0)))
    # 4. refit, 5. combine
    for model in members:
        _refit(result, model, runs_dir, deadline - reserve, plan.cv)
    _combine(result, members, runs_dir)
    _leader_on(result, rungs, members, run_search, deadline - reserve, budget, plan, runs_dir)


def _meaning_pays(rung: AutoRung, scores: dict[str, float], plan: AutoPlan, result: ClimbResult) -> bool:
    """Whether the frozen encoder shows that meaning pays on this data (else ``rung`` is left out, and why)."""
    frozen = scores.get("contextual")
    others = [v for m, v in scores.items() if m != "contextual"]
    if frozen is None:
        result.dropped[rung.model] = "the frozen encoder (contextual) was not measured, so meaning is not known to pay"
    elif others and frozen < max(others) - plan.meaning_margin:
        result.dropped[rung.model] = (f"the frozen encoder's validation {plan.metric} ({frozen:.4f}) is more than "
                                      f"{plan.meaning_margin} behind the best rung's ({max(others):.4f}): on this "
                                      "data the words matter more than their meaning")
    else:
        return True
    log.info("auto: %s left out: %s", rung.model, result.dropped[rung.model])
    return False


def _behind(value: float, trials: int, leader: float, plan: AutoPlan) -> str | None:
    if leader >= 0 and value < leader - plan.drop_margin:
        return (f"validation {plan.metric} {value:.4f} after {trials} trials, more than {plan.drop_margin} behind the "
                f"leader ({leader:.4f})")
    return None


def _searched(result: ClimbResult, rung: AutoRung, run_search, seconds: float, trials: int | None, metric: str,
              stop=None):
    """Search ``rung`` (again); its best trial's run replaces the rung's earlier one when it is better on
    validation (the same best, written again, is deleted). Returns the search's result, or None when it
    failed (and says why in ``result.dropped`` when the rung has no run yet)."""
    try:
        res = run_search(rung, seconds, trials, stop)
    except TextladderError as exc:
        if rung.model not in result.searched:
            result.dropped[rung.model] = f"failed: {exc}"
        log.error("auto: %s failed: %s", rung.model, exc)
        return None
    before = result.searched.get(rung.model)
    if before is None:
        result.searched[rung.model] = res.run
    elif res.best_value > (before.metrics["val"].get(metric) or 0) + 1e-9:
        result.earlier.append(before)
        result.searched[rung.model] = res.run
    else:
        log.info("auto: %s found nothing better on validation", rung.model)
        shutil.rmtree(res.run.path, ignore_errors=True)
    return res


def _search_on(result: ClimbResult, rungs, scores: dict[str, float], run_search,
               search_end: float, plan: AutoPlan) -> None:
    """The search time left after the probe, shared by expected gain: each rung still in gets
    ``gain * exp(-(leader - score) / gain_scale)`` of it (a rung that does not search on gets none)."""
    open_rungs = [(r, c) for r, c in rungs if r.model in scores and r.model not in result.dropped and r.search_on]
    if not open_rungs:
        return
    lead = max(scores.values())
    weight = {r.model: r.gain * math.exp(-(lead - scores[r.model]) / plan.gain_scale) for r, _ in open_rungs}
    for rung, cost in sorted(open_rungs, key=lambda pair: -weight[pair[0].model]):
        left = search_end - time.time()
        total = sum(weight[r.model] for r, _ in open_rungs if r.model in weight)
        share = left * weight.pop(rung.model) / total if left > 0 and total > 0 else 0
        if share < max(5.0, cost):
            continue
        log.info("auto: %s searches on for %s (expected gain %.0f%% of the time left)", rung.model,
                 duration(share), 100 * share / left)
        res = _searched(result, rung, run_search, share, rung.max_trials, plan.metric)
        if res is not None:
            scores[rung.model] = max(scores[rung.model], res.best_value)


def _leader_on(result: ClimbResult, rungs, kept: list[str], run_search, deadline: float, budget: float,
               plan: AutoPlan, runs_dir: Path) -> None:
    """With time left after the refits (searches that ended early, cheap refits), the leading rung that may
    search on does; if it finds better on validation, it is refit and the ensembles are built again."""
    leaders = [m for m in kept if m not in result.dropped and next(r for r, _ in rungs if r.model == m).search_on]
    if not leaders:
        return
    leader = leaders[0]
    first = result.searched[leader]
    left = deadline - time.time() - 2 * _cost(first) * (plan.cv + 1)
    if left <= max(30.0, 0.05 * budget):
        return
    log.info("auto: %s left: %s searches on", duration(left), leader)
    rung = next(r for r, _ in rungs if r.model == leader)
    res = _searched(result, rung, run_search, left, rung.max_trials, plan.metric)
    if res is not None and result.searched[leader] is not first:
        if leader in result.refits:
            result.earlier.append(result.refits.pop(leader))
        _refit(result, leader, runs_dir, deadline, plan.cv)
        result.earlier += result.ensembles
        _combine(result, kept, runs_dir)


def _cost(run: Run) -> float:
    """About what training ``run``'s configuration again on train+val costs (1.3x its fit, with scoring)."""
    m = run.metrics  # a search's best trial is written without fitting again: its fit is in train_seconds
    return 1.3 * (m.get("train_seconds") or 60) + (m.get("total_seconds") or 0)


def _refit(result: ClimbResult, model: str, runs_dir: Path, deadline: float, cv: int) -> None:
    """Refit the best run of ``model`` on train+val: cross-validated when the time before ``deadline``
    allows it, else once; with no time at all, its train-only run stays the one the ensembles use."""
    run = result.searched[model]
    cost, left = _cost(run), deadline - time.time()
    try:
        if (cv + 1) * cost < left:
            log.info("auto: %s: %d-fold cross-validation and refit on train+val (about %s)", model, cv,
                     duration((cv + 1) * cost))
            path = train(run.config.model_copy(update={"cv": cv}), runs_dir, deadline=deadline)
        elif cost < left:
            log.info("auto: %s: refit on train+val (about %s; no time for cross-validation)", model, duration(cost))
            path = train(refit_config(run.config, run, get(model)), runs_dir, chosen_by=run.path, deadline=deadline)
        else:
            log.info("auto: %s: no time left to refit (about %s); its train-only run joins the ensembles", model,
                     duration(cost))
            return
    except TextladderError as exc:
        log.error("auto: refitting %s failed: %s", model, exc)
        return
    result.refits[model] = Run.open(path)


def _combine(result: ClimbResult, kept: list[str], runs_dir: Path) -> None:
    """Soft voting, stacking and greedy selection over the rungs' refits (else their train-only runs); when
    some of them were cross-validated and others not, also over the cross-validated ones alone, whose
    stacker and weights learn from every train+val row out of fold (the others' only from validation):
    the pick (:func:`textladder.ranking.best`) then chooses among them on figures no search maximised."""
    members = [result.refits.get(m) or result.searched[m] for m in kept]
    crossed = [r for r in members if (r.path / OOF_PREDICTIONS).is_file()]
    spec = EnsembleSpec(vote=["soft", "stack"], select="all", greedy=True)
    result.ensembles = []
    for group in ([crossed] if 2 <= len(crossed) < len(members) else []) + [members]:
        if len(group) >= 2:
            result.ensembles += build_spec(group, spec, runs_dir)
