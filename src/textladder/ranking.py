"""Ranking runs and picking the one to use: the leaderboard (by validation, by the pick's figure, or by
test for looking only) and :func:`best`, the pick, on a figure no search has maximised. Test is never read
to choose.

Example:
    >>> RANK_BY
    ('val', 'pick', 'test')
"""

from __future__ import annotations

import logging
from pathlib import Path

from textladder.choices import check
from textladder.errors import TextladderError, option
from textladder.models import get
from textladder.runs import MAXIMISED, Run

log = logging.getLogger("textladder")


def _short(key: str, value) -> str:
    """An option's value for the leaderboard; an ensemble's members as their count."""
    if key == "members" and isinstance(value, list):
        return f"{len(value)} runs"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


RANK_BY = ("val", "pick", "test")


def leaderboard(runs: list[Run], by: str = "val") -> list[dict]:
    """One row per run: model, options that differ from defaults (and change something: see
    ``Params.inert``), the rows it was trained on, its validation macro-F1 (cross-validated mean when it
    has one), the figure the final model is picked by (:meth:`Run.pick_score`: ``pick_macro_f1``,
    ``pick_source``, ``maximised``), test accuracy and macro-F1, and training time. Ranked by the
    validation figure; ``by="pick"`` ranks as :func:`best` picks: figures no search maximised first, then
    by the pick figure; ``by="test"`` ranks by test macro-F1, which is for looking, not choosing: it logs a
    warning."""
    check(by, RANK_BY, option("by"))
    if by == "test":
        log.warning("ranking by test: fine for looking, but a model chosen by its test score has been fitted to "
                    "the test split, and its test score overstates what it will do on new data")
    rows = []
    for run in runs:
        cfg, m = run.config, run.metrics
        try:
            defaults = get(cfg.model).Params().model_dump()
            inert = get(cfg.model).Params(**cfg.params).inert()
        except Exception:
            defaults, inert = {}, set()
        options = {k: v for k, v in cfg.params.items() if defaults.get(k, object()) != v and k not in inert}
        test, val, cv = m.get("test", {}), m.get("val", {}), m.get("cv", {})
        rows.append({
            "run": run.name,
            "model": cfg.model,
            "options": " ".join(f"{k}={_short(k, v)}" for k, v in sorted(options.items())),
            "trained_on": run.trained_on,
            "val_macro_f1": run.choice_score("macro_f1"),
            "val_accuracy": val.get("accuracy"),
            "cv_macro_f1_std": (cv.get("macro_f1") or {}).get("std"),
            **dict(zip(("pick_macro_f1", "pick_source"), run.pick_score("macro_f1"))),
            "accuracy": test.get("accuracy"),
            "macro_f1": test.get("macro_f1"),
            "train_seconds": m.get("train_seconds"),
            "members_train_seconds": m.get("members_train_seconds"),  # an ensemble's members, trained before it
            "data": Path(cfg.data.path).name,
        })
    for row in rows:
        row["maximised"] = row["pick_source"] == MAXIMISED
    if by == "pick":
        rows.sort(key=lambda r: (r["maximised"], r["pick_macro_f1"] is None, -(r["pick_macro_f1"] or 0),
                                 -(r["val_accuracy"] or 0)))
        return rows
    key = "val_macro_f1" if by == "val" else "macro_f1"
    rows.sort(key=lambda r: (r[key] is None, -(r[key] or 0), -(r["val_accuracy"] or 0)))
    return rows


def best(runs: list[Run]) -> Run:
    """The run to use: the best macro-F1 on a figure no search has maximised (out-of-fold over train+val, or
    the validation rows of a run nothing was chosen on), so that a search's best trial, whose validation
    figure is the best of many draws, does not win by luck; when every run's figure is maximised, the best
    of them, with a warning. Never a test figure.

    Example:
        >>> best(list_runs("runs")).path  # doctest: +SKIP
        PosixPath('runs/ensemble-stack-20261206-101500-1a2b')
    """
    if not runs:
        raise TextladderError("no finished runs to pick from")
    rows = leaderboard(runs, by="pick")
    first = rows[0]
    if first["maximised"]:
        log.warning("every run's validation figure is the best of several tried on those rows, so %s's (%.4f) "
                    "reads high; cross-validate it (--cv) for a figure that is not", first["run"],
                    first["pick_macro_f1"] or 0)
    return next(r for r in runs if r.name == first["run"])
