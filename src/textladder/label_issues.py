"""Which labels look wrong? Confident learning over out-of-fold probabilities, and conflicting duplicates.

A model that never saw a row (its out-of-fold prediction, from ``train --cv K``) and is sure of another
class than the row's label points at a label worth a second look. Confident learning (Northcutt et al.,
2021; the ``cleanlab`` library, chosen because it is the reference implementation, maintained, and
needs nothing but numpy, pandas and scikit-learn) estimates from those probabilities how many rows of
each class carry each other label, and flags that many, the least likely first. Rows are ranked by
``score = 1 - p(given label)``: the out-of-fold probability that the given label is wrong.

When several runs of the same rows were cross-validated, their out-of-fold probabilities are averaged
(models of different families make different mistakes). When none was, the best run on validation is
cross-validated first (it becomes a run of its own, reused next time).

Texts that are the same once case, punctuation and spacing are set aside but carry different labels are
listed apart (``FILE.duplicates.csv``): one of them is wrong, whatever a model thinks.

Example:
    >>> found = find_label_issues("hm_train.csv", "runs")  # doctest: +SKIP
    >>> found.issues.head(3)[["id", "given_label", "suggested_label", "score"]]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from textladder.errors import TextladderError

log = logging.getLogger("textladder")

ISSUES_FILE = "label_issues.csv"  # RUNS/label_issues.csv: the last finding, which the report shows
COLUMNS = ["id", "text", "given_label", "suggested_label", "score"]


@dataclass
class LabelIssues:
    """What :func:`find_label_issues` found: ``issues`` (columns ``id, text, given_label, suggested_label,
    score``, most likely wrong first), ``duplicates`` (conflicting near-duplicate texts), ``runs`` (the
    runs whose out-of-fold probabilities were used), ``rows`` (how many rows were checked)."""

    issues: pd.DataFrame
    duplicates: pd.DataFrame
    runs: list[str] = field(default_factory=list)
    rows: int = 0


def normalise(text: str) -> str:
    """A text with case, punctuation and spacing set aside: what near-duplicates share.

    Example:
        >>> normalise("Went to the GYM!!  today") == normalise("went to the gym today")
        True
    """
    return " ".join(re.findall(r"\w+", str(text).lower()))


def conflicting_duplicates(ids, texts, labels) -> pd.DataFrame:
    """Rows whose normalised text (:func:`normalise`) also occurs with another label: ``group`` (one number
    per text), ``id``, ``text``, ``label``, ``labels`` (the group's labels and counts) and ``majority``,
    the largest groups first."""
    frame = pd.DataFrame({"id": np.asarray(ids, dtype=object), "text": np.asarray(texts, dtype=object),
                          "label": np.asarray(labels, dtype=object)})
    frame["key"] = frame["text"].map(normalise)
    frame = frame[frame["key"] != ""]
    n_labels = frame.groupby("key")["label"].transform("nunique")
    clash = frame[n_labels > 1].copy()
    if clash.empty:
        return pd.DataFrame(columns=["group", "id", "text", "label", "labels", "majority"])
    counts = {k: g.value_counts().to_dict() for k, g in clash.groupby("key")["label"]}  # most common first
    described = {k: ", ".join(f"{label} {n}" for label, n in v.items()) for k, v in counts.items()}
    majority = {k: next(iter(v)) for k, v in counts.items()}
    sizes = clash.groupby("key").size().sort_values(ascending=False, kind="stable")
    group = {k: i for i, k in enumerate(sizes.index, 1)}
    clash["group"] = clash["key"].map(group)
    clash["labels"] = clash["key"].map(described)
    clash["majority"] = clash["key"].map(majority)
    return clash.sort_values(["group", "label"], kind="stable")[["group", "id", "text", "label", "labels", "majority"]]


def rank_issues(labels: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows flagged by confident learning, most likely wrong first; score of every row)`` for label
    indices ``labels`` and out-of-fold probabilities ``proba``; ``score = 1 - p(given label)``."""
    from cleanlab.filter import find_label_issues as cleanlab_find

    proba = np.asarray(proba, dtype=np.float64)
    proba = proba / proba.sum(axis=1, keepdims=True)
    flagged = cleanlab_find(labels, proba, return_indices_ranked_by="self_confidence", n_jobs=1)
    score = 1.0 - proba[np.arange(len(labels)), labels]
    return np.asarray(flagged, dtype=np.int64), score


def out_of_fold(runs_dir: str | Path, data_path: str | Path, cv: int = 5, progress: bool = False):
    """The out-of-fold probabilities of the rows of ``data_path``: the mean over every run in ``runs_dir``
    cross-validated on that file with the same rows, classes and split (the best run's), else those of
    a new cross-validated run of the best non-ensemble run there (a tfidf-linear run when there is
    none). Returns ``(runs, ids, true labels, probabilities, classes)``."""
    from textladder.config import DataConfig, RunConfig
    from textladder.runs import OOF_PREDICTIONS, Run, leaderboard, list_runs
    from textladder.training import train

    runs_dir = Path(runs_dir)
    runs = list_runs(runs_dir) if runs_dir.is_dir() else []
    target = Path(data_path).resolve()
    mine = [r for r in runs if Path(r.config.data.path).resolve() == target]
    with_oof = [r for r in mine if (r.path / OOF_PREDICTIONS).is_file()]
    if not with_oof:
        candidates = [r for r in mine if r.config.model != "ensemble"]
        if candidates:
            best = Run.open(runs_dir / leaderboard(candidates)[0]["run"])
            config = best.config.model_copy(update={"cv": cv, "fit_on": "train+val"})
            log.info("no run of %s has out-of-fold predictions: cross-validating the best run on validation, %s "
                     "(%s), with %d folds", data_path, best.name, best.config.model, cv)
        else:
            config = RunConfig(model="tfidf-linear", cv=cv, fit_on="train+val", data=DataConfig(path=str(data_path)))
            log.info("no run of %s in %s: cross-validating tfidf-linear with %d folds", data_path, runs_dir, cv)
        with_oof = [Run.open(train(config, runs_dir, progress=progress))]
    ranked = [Run.open(runs_dir / row["run"]) for row in leaderboard(with_oof)]
    first = ranked[0]
    ids, _ = first.predictions("oof")
    key = sorted(ids)
    usable, probas = [], []
    for r in ranked:
        rids, p = r.predictions("oof")
        if r.classes == first.classes and sorted(rids) == key:  # the same rows and classes: in ids' order
            order = {k: i for i, k in enumerate(rids)}
            usable.append(r)
            probas.append(p[[order[k] for k in ids]])
    left = [r.name for r in ranked if r not in usable]
    if left:
        log.warning("left out runs cross-validated over other rows or classes: %s", ", ".join(left))
    return [r.name for r in usable], ids, first.truth("oof"), np.mean(probas, axis=0), first.classes


def find_label_issues(data: str | Path, runs_dir: str | Path = "runs", cv: int = 5, top: int | None = None,
                      progress: bool = False) -> LabelIssues:
    """Rank the train+val rows of ``data`` whose label looks wrong (see the module docstring) and list the
    conflicting duplicates of the whole file. ``top`` keeps that many issues.

    Example:
        >>> found = find_label_issues("hm_train.csv", "runs", top=100)  # doctest: +SKIP
    """
    from textladder.runs import Run, load_data

    runs, ids, y, proba, classes = out_of_fold(runs_dir, data, cv=cv, progress=progress)
    ds = load_data(Run.open(Path(runs_dir) / runs[0]).config)
    text_of = dict(zip(ds.ids.tolist(), ds.texts.tolist()))
    missing = [i for i in ids if i not in text_of]
    if missing:
        raise TextladderError(f"{data}: {len(missing)} rows of the cross-validated runs are no longer in the file "
                              f"(first id: {missing[0]})")
    flagged, score = rank_issues(y, proba)
    if top is not None:
        flagged = flagged[:top]
    names = np.asarray(classes, dtype=object)
    issues = pd.DataFrame({
        "id": np.asarray(ids, dtype=object)[flagged],
        "text": [text_of[ids[i]] for i in flagged],
        "given_label": names[y[flagged]],
        "suggested_label": names[proba[flagged].argmax(axis=1)],
        "score": score[flagged].round(6),
    }, columns=COLUMNS)
    duplicates = conflicting_duplicates(ds.ids, ds.texts, ds.labels)
    log.info("%d of %d rows flagged; %d rows in %d groups of conflicting duplicates", len(issues), len(ids),
             len(duplicates), duplicates["group"].nunique() if len(duplicates) else 0)
    return LabelIssues(issues, duplicates, runs, len(ids))


def duplicates_path(path: str | Path) -> Path:
    """``FILE.duplicates.csv`` beside ``FILE.csv``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.duplicates.csv")


def write(found: LabelIssues, path: str | Path) -> list[Path]:
    """Write the issues to ``path`` and the conflicting duplicates beside it, atomically."""
    from textladder.files import atomic_file, lock

    written = []
    for frame, target in ((found.issues, Path(path)), (found.duplicates, duplicates_path(path))):
        with lock(target), atomic_file(target) as tmp:
            frame.to_csv(tmp, index=False)
        written.append(target)
    return written
