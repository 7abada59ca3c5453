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

import numpy as np

from pydantic import BaseModel, ConfigDict, Field

from textladder.choices import VOTES, Vote, check
from textladder.config import RunConfig
from textladder.data.dataset import encode
from textladder.errors import TextladderError, option
from textladder.files import lock
from textladder.layout import CONFIG, MODEL_DIR, OOF_PREDICTIONS
from textladder.models.base import checked_proba
from textladder.models.voting import Ensemble, Stacker, combine
from textladder.runs import Run, list_runs, new_run_name, run_split, write_run

log = logging.getLogger("textladder")


def expand(paths: list[str | Path]) -> list[Run]:
    """Run folders as given; a folder of runs stands for every finished non-ensemble run in it."""
    runs: list[Run] = []
    for p in map(Path, paths):
        if (p / CONFIG).is_file() or not p.is_dir():
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


def _parse_top(select: str | None) -> int | None:
    """``top-k`` -> k; None or ``all`` -> None."""
    if select is None or select == "all":
        return None
    m = re.fullmatch(r"top-(\d+)", select)
    if not m or int(m.group(1)) < 1:
        raise TextladderError(f"{option('select')} takes top-K (K >= 1), all or greedy, not '{select}'")
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


def parse_select(select: str | None) -> int | str | None:
    """``top-k`` -> k; ``greedy`` -> "greedy"; None or ``all`` -> None."""
    if select == "greedy":
        return "greedy"
    return _parse_top(select)


def choose_members(paths: list[str | Path], select: str | None = None,
                   weights: list[float] | None = None) -> tuple[list[Run], bool]:
    """The runs ``paths`` stand for (:func:`expand`), the best ``select`` of them (``top-K`` by validation,
    :func:`select_top`; ``all`` or None: every one), and whether ``select`` is ``greedy`` (then
    :func:`build` chooses members and weights itself). ``weights`` go one per run in order, so they cannot
    be given with ``select``."""
    k = parse_select(select)
    if weights is not None and k is not None:
        raise TextladderError(f"{option('weights')} gives one weight per run in order; it cannot be combined with "
                              f"{option('select')}")
    members = expand(paths)
    return (select_top(members, k) if isinstance(k, int) else members), k == "greedy"


def member_predictions(runs: list[Run], part: str, val_ds=None, on_progress=None,
                       calibrated: bool = True) -> tuple[list[str], list[np.ndarray]] | None:
    """The members' saved predictions of ``part`` ("oof" or "val"), on the ids they share, in one order.

    "oof" is None unless every member was cross-validated over the same rows. "val" falls back on
    predicting the validation rows with a member's model when it saved none (runs from before
    ``val_predictions.csv``); a refit member must have saved them (its model has seen those rows).
    ``val_ds``: the validation rows, when the caller has read them already. ``calibrated``: each member's
    calibrated probabilities (else its own)."""
    saved = [r.predictions(part, calibrated) for r in runs]
    if part == "oof":
        if any(s is None for s in saved):
            return None
        ids = saved[0][0]
        if any(sorted(s[0]) != sorted(ids) for s in saved):
            return None
        order = [dict(zip(s[0], range(len(s[0])))) for s in saved]
        return ids, [s[1][[o[i] for i in ids]] for s, o in zip(saved, order)]
    ids = runs[0].split_ids["val"]
    probas = []
    for r, s in zip(runs, saved):
        if s is not None and s[0] == ids:
            probas.append(s[1])
            continue
        if r.trained_on != "train":
            raise TextladderError(f"{r.path}: saved no validation predictions, and its model was trained on the "
                                  "validation rows, so it cannot be scored there")
        if val_ds is None:
            val_ds = run_split(runs[0], "val", on_progress)[0]
        probas.append(checked_proba(r.load_model(calibrated=calibrated), val_ds.frame(), len(r.classes)))
    return ids, probas


def greedy_weights(probas: list[np.ndarray], y: np.ndarray, rounds: int = 50, metric: str = "accuracy") -> list[int]:
    """Caruana et al. (2004) forward selection with replacement: start empty and, ``rounds`` times, add the
    member whose addition gives the best ``metric`` of the mean probabilities (ties: lower log-loss);
    keep the picks of the best round. Returns how often each member was picked (0: left out).

    Example:
        >>> y = np.array([0, 1, 0, 1])
        >>> good = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.2, 0.8]])
        >>> bad = np.array([[0.4, 0.6], [0.6, 0.4], [0.5, 0.5], [0.5, 0.5]])
        >>> greedy_weights([good, bad], y, rounds=5)
        [1, 0]
    """
    from textladder.metrics import metrics as score

    classes = [str(i) for i in range(probas[0].shape[1])]
    counts = np.zeros(len(probas), dtype=int)
    total = np.zeros_like(probas[0], dtype=np.float64)
    best, best_counts = (-np.inf, np.inf), counts.copy()
    for n in range(1, rounds + 1):
        trials = []
        for p in probas:
            mean = (total + p) / n
            loss = float(-np.log(np.clip(mean[np.arange(len(y)), y], 1e-12, 1)).mean())
            trials.append((round(score(y, mean, classes)[metric], 10), round(-loss, 10)))
        j = max(range(len(probas)), key=lambda i: trials[i])
        counts[j] += 1
        total += probas[j]
        if trials[j] > best:
            best, best_counts = trials[j], counts.copy()
    return best_counts.tolist()


def build(runs: list[Run], vote: str = "soft", weights: list[float] | None = None,
          runs_dir: str | Path = "runs", name: str | None = None, on_progress=None, runtime: str = "auto",
          greedy: bool = False, calibrated: bool = True) -> Path:
    """Score the members on their shared validation and test rows, combine them, and write the ensemble's run
    folder. ``vote="stack"`` fits a meta-learner; ``greedy`` picks members and weights by forward selection
    (soft voting). Both learn from out-of-fold predictions when every member has them, otherwise from the
    validation predictions; neither reads a test row. The members' calibrated probabilities are combined,
    and the ensemble gets its own temperature on validation; ``calibrated=False`` combines their own
    probabilities and leaves the ensemble uncalibrated (to compare)."""
    check(vote, VOTES, "vote")
    check_members(runs)
    if weights is not None and len(weights) != len(runs):
        raise TextladderError(f"{option('weights')} has {len(weights)} values for {len(runs)} runs; give one per run")
    if greedy and (vote != "soft" or weights is not None):
        raise TextladderError(f"{option('select', 'greedy')} chooses soft-voting weights itself; leave out "
                              f"{option('vote')} and {option('weights')}")
    name = name or new_run_name(f"ensemble-{'greedy' if greedy else vote}")
    final = Path(runs_dir) / name
    if final.exists():
        raise TextladderError(f"{final} exists already; choose another name")
    with lock(final):
        return _build(runs, vote, weights, final, on_progress, runtime, greedy, calibrated)


def _build(runs: list[Run], vote: str, weights: list[float] | None, final: Path, on_progress, runtime: str,
           greedy: bool, calibrated: bool) -> Path:
    started = time.time()
    first = runs[0]
    classes = first.classes
    val_ds, test_ds = run_split(first, ("val", "test"), on_progress)
    y_val, y_test = encode(val_ds.labels, classes), encode(test_ds.labels, classes)
    _, member_val = member_predictions(runs, "val", val_ds, calibrated=calibrated)
    oof = member_predictions(runs, "oof", calibrated=calibrated)
    learned: dict = {}
    if oof is not None:  # the figure it is picked by: out of fold, cross-fitted where it learns something
        learned["pick"] = _pick_figures(oof[1], _truth(runs, oof[0], classes), vote, weights, greedy,
                                        first.config.seed)
        if not (greedy or vote == "stack"):
            oof = None  # nothing to learn: the members' validation predictions are combined as they are
    if oof is not None:
        truth = _truth(runs, oof[0], classes)
        fit_rows, fit_probas, fit_y = oof[0], oof[1], truth
        learned["learned_from"] = f"out-of-fold predictions of {len(oof[0]):,} train+val rows"
    else:
        fit_rows, fit_probas, fit_y = val_ds.ids.tolist(), member_val, y_val
        learned["learned_from"] = f"validation predictions of {len(y_val):,} rows"
    stacker = None
    proba_val = None
    if greedy:
        learned["candidates"] = [r.name for r in runs]
        counts = greedy_weights(fit_probas, fit_y)
        keep = [i for i, c in enumerate(counts) if c > 0]
        log.info("greedy selection: %s", ", ".join(f"{runs[i].name} x{counts[i]}" for i in keep))
        runs, member_val, weights = [runs[i] for i in keep], [member_val[i] for i in keep], [float(counts[i]) for i in keep]
        learned["greedy_counts"] = {r.name: int(counts[i]) for r, i in zip(runs, keep)}
        if len(runs) == 1:
            log.warning("greedy selection kept one run (%s): no mix of the others did better", runs[0].name)
    if vote == "stack":
        stacker = Stacker.fit(fit_probas, fit_y, len(classes))
        proba_val = _cross_fitted(fit_probas, fit_y, fit_rows, val_ds.ids.tolist(), len(classes), first.config.seed)
        learned["val_source"] = "cross-fitted: each validation row scored by a meta-learner fitted without it"
    model = Ensemble.of([r.load_model(runtime, calibrated) for r in runs], [r.path / MODEL_DIR for r in runs],
                        [r.name for r in runs], vote=vote, weights=weights, stacker=stacker,
                        calibrated_members=calibrated)
    t = time.time()
    member_test = model.member_probas(test_ds.frame())
    infer_seconds = time.time() - t
    if proba_val is None:
        proba_val = combine(member_val, vote, weights)
        if greedy:
            learned["val_source"] = "in-sample: greedy selection chose its weights on these predictions"
    features = sorted({f for r in runs for f in r.config.features})
    refits = any(r.trained_on != "train" for r in runs)  # its members have seen the validation rows
    config = RunConfig(model="ensemble", params=model.params.model_dump(), features=features,
                       data=first.config.data, split=first.config.split, seed=first.config.seed,
                       fit_on="train+val" if refits else "train")
    members = []
    for r, w, pv, pt in zip(runs, model.params.weights or [1.0] * len(runs), member_val, member_test):
        members.append({"run": r.name, "model": r.config.model, "weight": w, "trained_on": r.trained_on,
                        "val_macro_f1": r.choice_score("macro_f1"), "maximised": r.maximised,
                        "test_accuracy": float((pt.argmax(1) == y_test).mean()),
                        "val_accuracy": float((pv.argmax(1) == y_val).mean())})
    log.info("ensemble of %d runs, %s: %s", len(runs), "greedy selection" if greedy else f"{vote} voting",
             ", ".join(r.name for r in runs))
    return write_run(final, config, model, classes, first.class_counts,
                     {"method": first.split_ids.get("method"), "seed": first.split_ids.get("seed"),
                      "train": first.split_ids.get("train", [])},
                     val_ds, y_val, proba_val, test_ds, y_test, combine(member_test, vote, weights, stacker), {
                         "train_seconds": round(time.time() - started, 3),  # its own: scoring, fitting a stacker
                         "members_train_seconds": round(sum(r.metrics.get("train_seconds") or 0 for r in runs), 3),
                         "test_predict_seconds": round(infer_seconds, 3),
                         "total_seconds": round(time.time() - started, 3),
                         "train_rows": len(first.split_ids.get("train", [])),
                         "members": members, **learned,
                     }, calibrated=calibrated)


def _truth(runs: list[Run], ids: list[str], classes: list[str]) -> np.ndarray:
    """The true labels of out-of-fold rows, as the members' ``oof_predictions.csv`` record them."""
    import pandas as pd

    frame = pd.read_csv(runs[0].path / OOF_PREDICTIONS, usecols=["id", "true"], dtype={"id": str},
                        keep_default_na=False)
    truth = dict(zip(frame["id"].astype(str), frame["true"].astype(str)))
    return encode(np.asarray([truth[i] for i in ids], dtype=object), classes)


def _folds(y: np.ndarray, seed: int, folds: int = 5):
    """Stratified folds of ``y`` (plain ones when a class has a single row)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    counts = np.bincount(y)
    smallest = int(counts[counts > 0].min())
    splitter = (StratifiedKFold(max(2, min(folds, smallest)), shuffle=True, random_state=seed) if smallest >= 2
                else KFold(folds, shuffle=True, random_state=seed))
    return splitter.split(np.zeros(len(y)), y)


def _cross_fitted(probas: list[np.ndarray], y: np.ndarray, rows: list[str] | None, val_ids: list[str] | None,
                  n_classes: int, seed: int, folds: int = 5) -> np.ndarray:
    """The meta-learner's predictions of the validation rows, each by a meta-learner fitted on the other
    folds of ``rows`` (which hold the validation rows): an honest validation score for stacking. With
    ``val_ids`` None, those of every row."""
    out = np.zeros((len(y), n_classes))
    for fit_idx, held in _folds(y, seed, folds):
        out[held] = Stacker.fit([p[fit_idx] for p in probas], y[fit_idx], n_classes).predict_proba(
            [p[held] for p in probas])
    if val_ids is None:
        return out
    position = {r: i for i, r in enumerate(rows)}
    return out[[position[i] for i in val_ids]]


def _pick_figures(probas: list[np.ndarray], y: np.ndarray, vote: str, weights: list[float] | None, greedy: bool,
                  seed: int) -> dict:
    """Accuracy and macro-F1 of the ensemble on its members' out-of-fold predictions of every train+val row:
    what it learns (stacking's meta-learner, greedy selection's weights) fitted on the other folds of the
    row it predicts, so that no figure is one the ensemble was chosen on."""
    from textladder.metrics import metrics as score
    n_classes = probas[0].shape[1]
    if vote == "stack":
        proba = _cross_fitted(probas, y, None, None, n_classes, seed)
        how = "a meta-learner fitted on the other folds"
    elif greedy:
        proba = np.zeros((len(y), n_classes))
        for fit_idx, held in _folds(y, seed):
            counts = greedy_weights([p[fit_idx] for p in probas], y[fit_idx])
            keep = [i for i, c in enumerate(counts) if c > 0]
            proba[held] = combine([probas[i][held] for i in keep], "soft", [float(counts[i]) for i in keep])
        how = "weights chosen on the other folds"
    else:
        proba = combine(probas, vote, weights)
        how = f"{vote} voting"
    figures = score(y, proba, [str(i) for i in range(n_classes)])
    return {"accuracy": figures["accuracy"], "macro_f1": figures["macro_f1"],
            "source": f"out-of-fold predictions of {len(y):,} train+val rows ({how})"}


class EnsembleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vote: list[Vote] = Field(default_factory=lambda: ["soft", "hard"])
    select: str = "top-5"
    greedy: bool = Field(False, description="also build a greedy-selection ensemble (Caruana) from every rung")


def existing_ensemble(runs_dir: Path, members: list[str], vote: str) -> Run | None:
    """An unweighted ensemble run in ``runs_dir`` of exactly these members and vote (``vote="greedy"``: a
    greedy selection from exactly these candidates), else None."""
    for run in list_runs(runs_dir):
        p = run.config.params
        if run.config.model != "ensemble":
            continue
        if vote == "greedy":
            if run.metrics.get("candidates") == members:
                return run
        elif p.get("members") == members and p.get("vote") == vote and p.get("weights") is None:
            return run
    return None


def build_spec(runs: list[Run], spec: EnsembleSpec, runs_dir: Path) -> list[Run]:
    """The ensembles ``spec`` asks for over ``runs`` (each read back if it exists already): one per vote over
    the runs ``spec.select`` keeps, and a greedy selection over all of them."""
    k = parse_select(spec.select)
    if k == "greedy":
        raise TextladderError("ensemble.select takes top-K or all; ask for greedy selection with greedy = true")
    members = select_top(runs, k)
    names = [r.name for r in members]
    out = []
    for vote in [*spec.vote, *(["greedy"] if spec.greedy else [])]:
        chosen = [r.name for r in runs] if vote == "greedy" else names
        done = existing_ensemble(runs_dir, chosen, vote)
        if done is None:
            log.info("ensemble (%s) of %s ...", vote, ", ".join(chosen))
            done = Run.open(build(runs if vote == "greedy" else members, vote="soft" if vote == "greedy" else vote,
                                  runs_dir=runs_dir, greedy=vote == "greedy"))
        out.append(done)
        log.info("ensemble (%s): validation macro-F1 %.4f; test accuracy %.4f, macro-F1 %.4f", vote,
                 done.choice_score() or 0, done.metrics["test"]["accuracy"], done.metrics["test"]["macro_f1"])
    return out
