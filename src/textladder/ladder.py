"""Climb a ladder of rungs in one call: train what is not finished yet, vote, rank, report.

A ladder is a TOML file (or a shipped preset, ``quick`` or ``full``; see ``textladder/presets``)::

    [[rung]]
    model = "tfidf-linear"
    set = { char_ngrams = true }     # model parameters, as --set
    balance = "none"                 # as --balance
    features = []                    # as --features

    [ensemble]
    vote = ["soft", "hard"]          # one ensemble run per vote: soft, hard, stack
    select = "top-5"                 # members: the best by validation macro-F1 (or "all")
    greedy = false                   # also forward selection with replacement over every rung

A rung whose run is already finished in the runs folder (same model, options, data and split) is
read back; an interrupted neural rung goes on from its last finished epoch. A rung that fails is
reported and the ladder goes on with the others.

Example:
    >>> cfg = load_ladder("quick")
    >>> [r.model for r in cfg.rungs][:2]
    ['tfidf-linear', 'tfidf-linear']
"""

from __future__ import annotations

import csv
import logging
import time
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from textladder.choices import Balance, Feature
from textladder.climbing import ClimbResult, ClimbStep, duration
from textladder.climbing import climb as run_climb
from textladder.config import DataConfig, RunConfig, resolve
from textladder.data.formats import detect
from textladder.data.reader import columns_of, estimated_rows
from textladder.data.split import SplitConfig
from textladder.ensembles import EnsembleSpec, build_spec
from textladder.errors import TextladderError
from textladder.models import get, make_params
from textladder.runs import Run, data_sha256, list_runs
from textladder.training import train

log = logging.getLogger("textladder")

PRESETS = ("quick", "full")


class Rung(BaseModel):
    """One rung: a model and its options, as ``textladder train`` takes them."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    model: str
    set: dict[str, Any] = Field(default_factory=dict)
    balance: Balance = "none"
    features: list[Feature] = Field(default_factory=list)

    def label(self) -> str:
        extra = [f"{k}={v}" for k, v in sorted(self.set.items())]
        extra += [f"balance={self.balance}"] if self.balance != "none" else []
        extra += [f"features={','.join(self.features)}"] if self.features else []
        return " ".join([self.model, *extra])


class Ladder(BaseModel):
    """A ladder file: the rungs in order, then the ensembles built from them."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    description: str = ""
    seed: int = 42
    rungs: list[Rung] = Field(alias="rung", min_length=1)
    ensemble: EnsembleSpec | None = Field(default_factory=EnsembleSpec)

    def climb_into(self, step: ClimbStep, result: ClimbResult) -> None:
        """Train (or read back) every rung, in order, then build the ensembles (a planner of
        :func:`textladder.climbing.climb`)."""
        _climb_into(self, step, result)


def load_ladder(name_or_path: str | Path) -> Ladder:
    """A shipped preset by name (``quick``, ``full``) or a TOML file; errors name the file and line."""
    text, where = None, str(name_or_path)
    if str(name_or_path) in PRESETS:
        text = resources.files("textladder.presets").joinpath(f"{name_or_path}.toml").read_text(encoding="utf-8")
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise TextladderError(f"{path}: no such ladder file (or preset: {', '.join(PRESETS)})")
        text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TextladderError(f"{where}: invalid TOML: {exc}") from None
    try:
        ladder = Ladder.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = ".".join(str(p) for p in e["loc"])
        raise TextladderError(f"{where}: {loc}: {e['msg']}") from None
    for i, rung in enumerate(ladder.rungs, 1):
        try:
            make_params(rung.model, rung.set)
        except TextladderError as exc:
            raise TextladderError(f"{where}: rung {i}: {exc}") from None
    return ladder


def finished(runs_dir: str | Path, config: RunConfig) -> Run | None:
    """A finished run in ``runs_dir`` of this config (model, parameters through today's defaults, balance,
    features, the same data file contents and split), else None."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return None
    try:
        _, wanted = resolve(config)
    except TextladderError:
        return None  # train() refuses it with the reason
    sha = None
    for run in list_runs(runs_dir):
        c = run.config
        if (c.model, c.features, c.seed, c.fit_on, c.cv) != (config.model, config.features, config.seed,
                                                              config.fit_on, config.cv):
            continue
        try:  # through today's Params: options added since the run was made take their defaults
            _, saved = resolve(c)
        except Exception:  # noqa: BLE001 - a run whose options no longer exist is not this config
            continue
        if (saved.params, saved.balance) != (wanted.params, wanted.balance):
            continue
        given = ("min_class_rows", "split_col", "test_path", "val_path", "corrections")
        if any(getattr(c.data, k) != getattr(config.data, k) for k in given):
            continue
        if sha is None:
            sha = data_sha256(config.data)
        if c.data.sha256 != sha or c.split != config.split.resolve(c.data.format or "", c.data.rows,
                                                                   given=config.data.given_split):
            continue
        return run
    return None


def train_or_resume(config: RunConfig, runs_dir: str | Path, progress: bool = False) -> Path | None:
    """Train ``config`` into ``runs_dir``, going on from an interrupted run of the same config if there is one."""
    if not get(config.model).checkpointed:  # trains in one step: nothing to resume
        return train(config, runs_dir)
    try:
        return train(config, runs_dir, resume=True, progress=progress)
    except TextladderError as exc:
        if "nothing to resume" not in str(exc):
            raise
    return train(config, runs_dir, progress=progress)


def climb(ladder: Ladder, data: DataConfig, runs_dir: str | Path, split: SplitConfig | None = None,
          report: bool = True, progress: bool = False, engine=None, tracker=None) -> ClimbResult:
    """Train (or read back) every rung, build the ensembles, and write ``RUNS_DIR/report.html``
    (:func:`textladder.climbing.climb` with this ladder as the planner). A second ladder climbing into the
    same runs folder at the same time is refused. ``engine`` (a :class:`~textladder.engine.Engine`) trains
    the rungs as Ray tasks at once instead of one after another; ``tracker`` (a
    :class:`~textladder.tracking.Tracker`) logs the ladder as a parent run and every run under it."""
    return run_climb(ladder, data, runs_dir, split=split, seed=ladder.seed, report=report, progress=progress,
                     engine=engine, tracker=tracker)


def _train_rung(item: tuple, runs_dir: Path, progress: bool) -> str | None:
    """Train one rung (``item``: its number, the ladder's length, its label and config); a Ray task too."""
    i, n, label, config = item
    log.info("rung %d/%d %s: training ...", i, n, label)
    path = train_or_resume(config, runs_dir, progress=progress)
    return None if path is None else str(path)


def train_rows(data: DataConfig, split: SplitConfig) -> int | None:
    """About how many train rows ``data`` gives under ``split`` (for estimates), or None."""
    try:
        rows = estimated_rows(data.path)
        fmt = detect(columns_of(data.path))
    except (OSError, TextladderError, csv.Error, ValueError):
        return None
    return split.resolve(fmt.name if fmt is not None else "generic", rows, given=data.given_split).train_rows(rows)


class LadderClock:
    """The ladder's overall estimate: each rung's and ensemble's declared cost
    (:meth:`TextClassifier.estimate_seconds`), scaled by how long the rungs trained so far took
    against theirs; a log line when the ladder starts and after each rung."""

    REPORT = 8.0  # seconds for the report

    def __init__(self, configs: dict[int, RunConfig], ensembles: int, rows: int | None):
        self.started, self.spent, self.expected = time.time(), 0.0, 0.0
        self.left: dict[int, float] = {}
        if rows is not None:
            for i, config in configs.items():
                cls = get(config.model)
                try:
                    self.left[i] = cls.estimate_seconds(cls.Params(**config.params), rows)
                except (ValidationError, TypeError):
                    self.left[i] = cls.estimate_seconds(cls.Params(), rows)
        fixed, once, _ = get("ensemble").train_cost  # scoring the members' saved predictions
        self.after = (fixed + (rows or 0) / 1000 * once) * ensembles + self.REPORT
        self.known = rows is not None and bool(configs)

    def remaining(self) -> float:
        scale = min(max(self.spent / self.expected, 0.25), 4.0) if self.expected else 1.0
        return scale * (sum(self.left.values()) + self.after)

    def start(self) -> None:
        if self.known:
            log.info("ladder: %d rungs to train, then the ensembles and the report: about %s (each rung's "
                     "measured cost on a 2-core machine; corrected as rungs finish)", len(self.left),
                     duration(self.remaining()))

    def finished(self, i: int) -> None:
        """Rung ``i`` is done (trained or failed): log the time so far and the estimate of the rest."""
        if i not in self.left:
            return
        elapsed = time.time() - self.started
        self.expected += self.left.pop(i)
        self.spent = elapsed
        n = len(self.left)
        log.info("ladder: %s so far; about %s left (%d rung%s to go)", duration(elapsed), duration(self.remaining()),
                 n, "" if n == 1 else "s")


def _climb_into(ladder: Ladder, step: ClimbStep, result: ClimbResult) -> None:
    """Train (or read back) every rung of ``ladder``, then build its ensembles (the planner of a preset)."""
    data, runs_dir, split, engine, progress = step.data, step.runs_dir, step.split, step.engine, step.progress
    n = len(ladder.rungs)
    found: dict[int, Run] = {}
    todo = []
    for i, rung in enumerate(ladder.rungs, 1):
        config = RunConfig(model=rung.model, params=dict(rung.set), balance=rung.balance,
                           features=list(rung.features), data=data, split=split,
                           seed=ladder.seed)
        done = finished(runs_dir, config)
        if done is not None:
            log.info("rung %d/%d %s: finished already (%s)", i, n, rung.label(), done.name)
            found[i] = done
            result.reused += 1
        else:
            todo.append((i, n, rung.label(), config))
    if todo and engine.name != "local":
        log.info("%d rungs to train on %s", len(todo), engine.name)
    clock = None
    if todo and engine.name == "local":
        votes = len(ladder.ensemble.vote) + ladder.ensemble.greedy if ladder.ensemble is not None else 0
        clock = LadderClock({i: config for i, _, _, config in todo}, votes,
                            train_rows(data, todo[0][3].split))
        clock.start()
    for (i, _, label, _), path, exc in engine.map(_train_rung, todo, runs_dir, progress and engine.name == "local"):
        if exc is not None:  # one broken rung does not stop the ladder
            log.error("rung %d/%d %s failed: %s", i, n, label, exc)
            result.failed.append((label, str(exc)))
            result.dropped[label] = f"failed: {exc}"
            if clock is not None:
                clock.finished(i)
            continue
        if path is None:  # an extra DDP process
            continue
        run = Run.open(path)
        found[i] = run
        result.trained += 1
        log.info("rung %d/%d %s: test accuracy %.4f, macro-F1 %.4f (%.0f s)", i, n, label,
                 run.metrics["test"]["accuracy"], run.metrics["test"]["macro_f1"], run.metrics.get("train_seconds", 0))
        if clock is not None:
            clock.finished(i)
    result.ladder = [found[i] for i in sorted(found)]  # in the ladder's order, however the engine finished them
    if ladder.ensemble is not None and len(result.runs) >= 2:
        result.ensembles = build_spec(result.runs, ladder.ensemble, runs_dir)
