"""Build an ensemble run from finished runs: check they fit together, pick the best, vote, write the folder.

An ensemble is a run folder like any other (``evaluate``, ``predict``, ``runs`` work on it); its
model is :class:`textladder.models.voting.Ensemble`. Members must share the label set and the
validation and test rows; ``select`` ranks them by validation macro-F1 (never by test).

Example:
    >>> from textladder.runs import list_runs  # doctest: +SKIP
    >>> build(select_top(list_runs("runs"), 5), vote="soft", runs_dir="runs")  # doctest: +SKIP
    PosixPath('runs/ensemble-soft-20261124-101500-1a2b')
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

from textladder.errors import TextladderError, option
from textladder.files import lock
from textladder.choices import VOTES, check
from textladder.runs import Run, list_runs, new_run_name

log = logging.getLogger("textladder")


def expand(paths: list[str | Path]) -> list[Run]:
    """Run folders as given; a folder of runs stands for every finished non-ensemble run in it."""
    runs: list[Run] = []
    for p in map(Path, paths):
        if (p / "config.json").is_file() or not p.is_dir():
            runs.append(Run.open(p))
        else:
            found = [r for r in list_runs(p) if r.config.model != "ensemble"]
            if not found:
                raise TextladderError(f"{p}: no finished runs in this folder")
            runs.extend(found)
    seen: dict[Path, Run] = {}
    for r in runs:
        seen.setdefault(r.path.resolve(), r)
    return list(seen.values())


def parse_select(select: str | None) -> int | None:
    """``top-k`` -> k; None or ``all`` -> None."""
    if select is None or select == "all":
        return None
    m = re.fullmatch(r"top-(\d+)", select)
    if not m or int(m.group(1)) < 1:
        raise TextladderError(f"{option('select')} takes top-K (K >= 1) or all, not '{select}'")
    return int(m.group(1))


def select_top(runs: list[Run], k: int | None) -> list[Run]:
    """The ``k`` runs with the best validation macro-F1 (cross-validated mean where a run has one; ties:
    validation accuracy, then the order given), best first; all of them when ``k`` is None. Test figures
    are never looked at."""
    def key(r: Run) -> tuple[float, float]:
        score = r.choice_score("macro_f1")
        if score is None:
            raise TextladderError(f"{r.path}: no validation macro-F1 in metrics.json, so it cannot be ranked")
        return score, r.choice_score("accuracy") or 0.0

    ranked = sorted(runs, key=key, reverse=True)
    return ranked if k is None else ranked[:k]


def check_members(runs: list[Run]) -> None:
    """Refuse runs that cannot vote together: fewer than two, repeated names, different label sets or splits."""
    if len(runs) < 2:
        raise TextladderError(f"an ensemble needs at least 2 runs, got {len(runs)}")
    names = [r.name for r in runs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise TextladderError(f"two members are both called '{repeated[0]}'; rename one run folder")
    first = runs[0]
    for r in runs[1:]:
        if r.classes != first.classes:
            raise TextladderError(
                f"{r.name} has different labels from {first.name} ({', '.join(r.classes)} against "
                f"{', '.join(first.classes)}); ensemble members must share one label set")
        for part in ("test", "val"):
            a, b = first.split_ids[part], r.split_ids[part]
            if a != b:
                differ = len(set(a) ^ set(b))
                raise TextladderError(
                    f"{r.name} and {first.name} have different {part} splits ({len(b):,} and {len(a):,} rows, "
                    f"{differ:,} ids in only one); train the members on the same data, split and seed")


def build(runs: list[Run], vote: str = "soft", weights: list[float] | None = None,
          runs_dir: str | Path = "runs", name: str | None = None, on_progress=None, runtime: str = "auto") -> Path:
    """Score the members on their shared validation and test rows, vote, and write the ensemble's run folder."""
    check(vote, VOTES, "vote")
    check_members(runs)
    if weights is not None and len(weights) != len(runs):
        raise TextladderError(f"{option('weights')} has {len(weights)} values for {len(runs)} runs; give one per run")
    name = name or new_run_name(f"ensemble-{vote}")
    final = Path(runs_dir) / name
    if final.exists():
        raise TextladderError(f"{final} exists already; choose another name")
    with lock(final):
        return _build(runs, vote, weights, final, on_progress, runtime)


def _build(runs: list[Run], vote: str, weights: list[float] | None, final: Path, on_progress, runtime: str) -> Path:
    from textladder.config import RunConfig
    from textladder.models.voting import Ensemble, combine
    from textladder.runs import MODEL_DIR, encode, run_split, write_run

    started = time.time()
    first = runs[0]
    model = Ensemble.of([r.load_model(runtime) for r in runs], [r.path / MODEL_DIR for r in runs], [r.name for r in runs],
                        vote=vote, weights=weights)
    val_ds, test_ds = run_split(first, ("val", "test"), on_progress)
    classes = first.classes
    member_val = model.member_probas(val_ds.frame())
    t = time.time()
    member_test = model.member_probas(test_ds.frame())
    infer_seconds = time.time() - t
    features = sorted({f for r in runs for f in r.config.features})
    config = RunConfig(model="ensemble", params=model.params.model_dump(), features=features,
                       data=first.config.data, split=first.config.split, seed=first.config.seed)
    y_val, y_test = encode(val_ds.labels, classes), encode(test_ds.labels, classes)
    members = []
    for r, w, pv, pt in zip(runs, model.params.weights or [1.0] * len(runs), member_val, member_test):
        members.append({"run": r.name, "model": r.config.model, "weight": w,
                        "val_macro_f1": r.metrics["val"]["macro_f1"],
                        "test_accuracy": float((pt.argmax(1) == y_test).mean()),
                        "val_accuracy": float((pv.argmax(1) == y_val).mean())})
    log.info("ensemble of %d runs, %s voting: %s", len(runs), vote, ", ".join(r.name for r in runs))
    return write_run(final, config, model, classes, first.class_counts,
                     {"method": first.split_ids.get("method"), "seed": first.split_ids.get("seed"),
                      "train": first.split_ids.get("train", [])},
                     val_ds, y_val, combine(member_val, vote, weights), test_ds, y_test,
                     combine(member_test, vote, weights), {
                         "train_seconds": round(sum(r.metrics.get("train_seconds") or 0 for r in runs), 3),
                         "test_predict_seconds": round(infer_seconds, 3),
                         "total_seconds": round(time.time() - started, 3),
                         "train_rows": len(first.split_ids.get("train", [])),
                         "members": members,
                     })

