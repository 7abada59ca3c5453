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

Confident learning finds labels that are wrong at random (a mis-click, a tired annotator). It cannot
find the systematic mistakes of whatever made the labels (another classifier, a rule, a hurried team):
models trained on those labels learn the same mistakes. When people have checked some of the rows
(``trusted``: a column of the data or a file of id and label), :func:`trusted_scores` learns from them
*where* the given labels go wrong: a gradient-boosted classifier of "people disagree with the given
label" on the runs' out-of-fold probabilities (the given label's probability, the top class's, their
margin, the entropy, every class's) and on a text model trained on the checked labels. A checked row's
score comes from models that never saw its own checked label (cross-fitted), so the ranking of the
checked rows measures the finder honestly; the unchecked rows are scored by models fitted on every
checked row. Rows are then ranked by ``score`` = the learned probability that people would disagree
with the given label, and as many are flagged as the scores add up to (the number of wrong labels the
model expects).

Example:
    >>> found = find_label_issues("hm_train.csv", "runs")  # doctest: +SKIP
    >>> found.issues.head(3)[["id", "given_label", "suggested_label", "score"]]  # doctest: +SKIP
    >>> checked = find_label_issues("hm_train.csv", "runs", trusted="ground_truth_train.csv")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from textladder.config import DataConfig, RunConfig
from textladder.data.reader import LINE, file_kind, read_id_labels
from textladder.errors import DataError, TextladderError
from textladder.files import atomic_file, lock
from textladder.ranking import leaderboard
from textladder.runs import OOF_PREDICTIONS, Run, list_runs, load_data
from textladder.training import train

log = logging.getLogger("textladder")

COLUMNS = ["id", "text", "given_label", "suggested_label", "score"]
TRUSTED_COLUMN = "trusted_label"  # added to the issues when rows were checked by people: their label, if any
MIN_DISAGREEMENTS = 10  # checked rows that disagree with the given label needed to learn from them


@dataclass
class LabelIssues:
    """What :func:`find_label_issues` found: ``issues`` (columns ``id, text, given_label, suggested_label,
    score``, most likely wrong first), ``duplicates`` (conflicting near-duplicate texts), ``runs`` (the
    runs whose out-of-fold probabilities were used), ``rows`` (how many rows were checked)."""

    issues: pd.DataFrame
    duplicates: pd.DataFrame
    runs: list[str] = field(default_factory=list)
    rows: int = 0
    trusted: int = 0  # rows checked by people that were learned from (0: confident learning)
    path: Path | None = None  # where the issues were written (the duplicates: duplicates_path(path)), if they were


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


def _splits(strata: np.ndarray, folds: int, seed: int):
    """Stratified folds of ``strata`` (plain shuffled folds when a stratum is smaller than ``folds``)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    counts = np.unique(strata, return_counts=True)[1]
    splitter = (StratifiedKFold(folds, shuffle=True, random_state=seed) if counts.min() >= folds
                else KFold(folds, shuffle=True, random_state=seed))
    return list(splitter.split(np.zeros(len(strata)), strata))


def _text_model(texts: np.ndarray, labels: np.ndarray, k: int, predict: np.ndarray) -> np.ndarray:
    """Class probabilities of ``predict`` from a unigram TF-IDF logistic regression fitted on ``texts`` and
    their (checked) ``labels``; classes missing from ``labels`` get 0."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    out = np.zeros((len(predict), k))
    present = np.unique(labels)
    if len(present) < 2:
        out[:, present] = 1.0
        return out
    vec = TfidfVectorizer(token_pattern=r"\b\w+\b", sublinear_tf=True)
    model = LogisticRegression(C=10, max_iter=3000).fit(vec.fit_transform(texts), labels)
    out[:, model.classes_] = model.predict_proba(vec.transform(predict))
    return out


def _probability_features(probas: list[np.ndarray], given: np.ndarray) -> np.ndarray:
    """Per row, for each run: p(given label), the top probability, the top-two margin, the entropy and
    every class's probability; then the given label, one-hot."""
    rows = np.arange(len(given))
    columns = []
    for p in probas:
        p = np.clip(p / p.sum(axis=1, keepdims=True), 1e-12, 1.0)
        top = np.sort(p, axis=1)
        columns += [p[rows, given][:, None], top[:, -1:], (top[:, -1] - top[:, -2])[:, None],
                    -(p * np.log(p)).sum(axis=1, keepdims=True), p]
    columns.append(np.eye(probas[0].shape[1])[given])
    return np.hstack(columns)


def trusted_scores(texts, given, probas: list[np.ndarray], checked: np.ndarray, checked_labels: np.ndarray,
                   folds: int = 5, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """``(score, suggestion)`` for every row: the probability that people would disagree with its
    ``given`` label index, learned from the rows ``checked`` (indices) whose checked label indices are
    ``checked_labels``, and the class people would most likely give instead (never the given one).

    ``probas`` are the runs' out-of-fold probabilities (one array per run). A checked row is scored by
    models that never saw its checked label (``folds`` cross-fitting); the other rows by models fitted on
    every checked row. Raises :class:`TextladderError` when fewer than ``MIN_DISAGREEMENTS`` checked rows
    disagree (or agree) with their given label: there is nothing to learn from.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> given = rng.integers(0, 2, 400); p = np.eye(2)[given] * 0.8 + 0.1
        >>> p[:40] = 0.5  # the model hesitates on the first 40 rows; people disagree with 20 of them
        >>> people = given.copy(); people[:20] = 1 - people[:20]
        >>> checked = np.arange(400)
        >>> score, _ = trusted_scores(np.array(["a b"] * 400), given, [p], checked, people[checked])
        >>> bool(score[:40].mean() > 0.3 > score[40:].mean())
        True
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    texts = np.asarray(texts, dtype=object)
    given = np.asarray(given)
    checked = np.asarray(checked)
    checked_labels = np.asarray(checked_labels)
    k = probas[0].shape[1]
    wrong = (checked_labels != given[checked]).astype(int)
    if min(wrong.sum(), len(wrong) - wrong.sum()) < MIN_DISAGREEMENTS:
        raise TextladderError(f"of the {len(wrong):,} checked rows, {int(wrong.sum()):,} disagree with their given "
                              f"label: at least {MIN_DISAGREEMENTS} that disagree and {MIN_DISAGREEMENTS} that agree "
                              "are needed to learn where the labels go wrong")
    base = _probability_features(probas, given)
    rows = np.arange(len(given))

    def features(idx: np.ndarray, people: np.ndarray) -> np.ndarray:
        return np.hstack([base[idx], people[np.arange(len(idx)), given[idx]][:, None], people])

    def meta(x: np.ndarray, y: np.ndarray):
        return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                              early_stopping=False, random_state=seed).fit(x, y)

    def cross_fitted_people(idx: np.ndarray, labels: np.ndarray) -> np.ndarray:
        out = np.zeros((len(idx), k))
        for a, b in _splits(labels, folds, seed):
            out[b] = _text_model(texts[idx[a]], labels[a], k, texts[idx[b]])
        return out

    score = np.zeros(len(given))
    people = np.zeros((len(given), k))
    rest = np.setdiff1d(rows, checked)
    # One OpenMP thread for the boosted trees: on a few thousand rows more gain nothing, and a pool that
    # spins while another process holds a core was 2-5 times slower (docs/BENCHMARKS.md)
    with threadpool_limits(1, user_api="openmp"):
        if len(rest):
            log.info("scoring the %d unchecked rows with models fitted on the %d checked rows", len(rest),
                     len(checked))
            people[rest] = _text_model(texts[checked], checked_labels, k, texts[rest])
            model = meta(features(checked, cross_fitted_people(checked, checked_labels)), wrong)
            score[rest] = model.predict_proba(features(rest, people[rest]))[:, 1]
        for fold, (a, b) in enumerate(_splits(wrong, folds, seed), 1):
            log.info("scoring the checked rows, fold %d of %d (models that never saw their checked labels)", fold,
                     folds)
            inner = cross_fitted_people(checked[a], checked_labels[a])
            people[checked[b]] = _text_model(texts[checked[a]], checked_labels[a], k, texts[checked[b]])
            model = meta(features(checked[a], inner), wrong[a])
            score[checked[b]] = model.predict_proba(features(checked[b], people[checked[b]]))[:, 1]
    instead = (people + np.mean(probas, axis=0)) / 2
    instead[rows, given] = -1.0
    return score, instead.argmax(axis=1)


def out_of_fold(runs_dir: str | Path, data_path: str | Path, cv: int = 5, progress: bool = False,
                data_config=None, split=None):
    """The out-of-fold probabilities of the rows of ``data_path``: those of every run in ``runs_dir``
    cross-validated on that file with the same rows, classes and split (the best run's), else those of
    a new cross-validated run of the best non-ensemble run there (a tfidf-linear run when there is
    none). ``data_config`` and ``split`` (a :class:`~textladder.config.DataConfig` and a
    :class:`~textladder.data.SplitConfig`) say how to read and split the file: only runs with the same
    given split (split column or test file) count, and a new run uses them.
    Returns ``(runs, ids, true labels, one probability array per run, classes)``."""
    runs_dir = Path(runs_dir)
    runs = list_runs(runs_dir) if runs_dir.is_dir() else []
    target = Path(data_path).resolve()
    given = ("split_col", "test_path", "val_path")
    mine = [r for r in runs if Path(r.config.data.path).resolve() == target
            and (data_config is None or all(getattr(r.config.data, k) == getattr(data_config, k) for k in given))]
    with_oof = [r for r in mine if (r.path / OOF_PREDICTIONS).is_file()]
    if not with_oof:
        candidates = [r for r in mine if r.config.model != "ensemble"]
        if candidates:
            best = Run.open(runs_dir / leaderboard(candidates)[0]["run"])
            config = best.config.model_copy(update={"cv": cv, "fit_on": "train+val"})
            log.info("no run of %s has out-of-fold predictions: cross-validating the best run on validation, %s "
                     "(%s), with %d folds", data_path, best.name, best.config.model, cv)
        else:
            config = RunConfig(model="tfidf-linear", cv=cv, fit_on="train+val",
                               data=data_config or DataConfig(path=str(data_path)),
                               **({"split": split, "seed": split.seed} if split is not None else {}))
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
    return [r.name for r in usable], ids, first.truth("oof"), probas, first.classes


def find_label_issues(data: str | Path, runs_dir: str | Path = "runs", cv: int = 5, top: int | None = None,
                      progress: bool = False, trusted: str | Path | None = None, seed: int = 42,
                      data_config=None, split=None) -> LabelIssues:
    """Rank the train+val rows of ``data`` whose label looks wrong (see the module docstring) and list the
    conflicting duplicates of the whole file. ``top`` keeps that many issues. ``trusted``: labels people
    checked, a column of ``data`` (empty where unchecked) or a CSV/Parquet file of id and label; the
    ranking is then learned from them (:func:`trusted_scores`) instead of confident learning, as many
    rows are flagged as the scores add up to, and ``top`` lists the ``top`` most likely wrong rows even
    beyond them; ``seed`` draws its folds. ``data_config`` and ``split``: how to read and split ``data``
    (a given split's test rows are never scored), as :func:`out_of_fold` takes them.

    Example:
        >>> found = find_label_issues("hm_train.csv", "runs", top=100)  # doctest: +SKIP
    """
    runs, ids, y, probas, classes = out_of_fold(runs_dir, data, cv=cv, progress=progress, data_config=data_config,
                                                split=split)
    config = Run.open(Path(runs_dir) / runs[0]).config
    ds = load_data(config)
    text_of = dict(zip(ds.ids.tolist(), ds.texts.tolist()))
    missing = [i for i in ids if i not in text_of]
    if missing:
        raise TextladderError(f"{data}: {len(missing)} rows of the cross-validated runs are no longer in the file "
                              f"(first id: {missing[0]})")
    names = np.asarray(classes, dtype=object)
    texts = [text_of[i] for i in ids]
    checked_column = None  # people's label per row, with --trusted
    used = 0
    if trusted is None:
        proba = np.mean(probas, axis=0)
        flagged, score = rank_issues(y, proba)
        suggested = proba.argmax(axis=1)
    else:
        checked, checked_labels = _checked_rows(trusted, data, config.data.id_col, ids, classes)
        used = len(checked)
        log.info("learning where the labels go wrong from %d rows checked by people (%d disagree with the given "
                 "label), with the out-of-fold probabilities of %s", used, int((checked_labels != y[checked]).sum()),
                 ", ".join(runs))
        score, suggested = trusted_scores(texts, y, probas, checked, checked_labels, seed=seed)
        expected = max(1, int(round(score.sum())))  # the wrong labels the model expects
        flagged = np.argsort(-score, kind="stable")[:top or expected]
        checked_column = np.full(len(ids), "", dtype=object)
        checked_column[checked] = names[checked_labels]
    if top is not None:
        flagged = flagged[:top]
    issues = pd.DataFrame({
        "id": np.asarray(ids, dtype=object)[flagged],
        "text": [texts[i] for i in flagged],
        "given_label": names[y[flagged]],
        "suggested_label": names[suggested[flagged]],
        "score": score[flagged].round(6),
    }, columns=COLUMNS)
    if checked_column is not None:
        issues[TRUSTED_COLUMN] = checked_column[flagged]
    duplicates = conflicting_duplicates(ds.ids, ds.texts, ds.labels)
    log.info("%d of %d rows flagged; %d rows in %d groups of conflicting duplicates", len(issues), len(ids),
             len(duplicates), duplicates["group"].nunique() if len(duplicates) else 0)
    return LabelIssues(issues, duplicates, runs, len(ids), used)


def _checked_rows(source: str | Path, data: str | Path, id_col: str | None, ids,
                  classes) -> tuple[np.ndarray, np.ndarray]:
    """``(row indices, label indices)`` of the rows among ``ids`` that people checked (``source``: see
    :func:`textladder.data.reader.read_id_labels`). A checked label that is not a class is an error naming
    its file and line; checked rows outside ``ids`` (the test split) are left out, and said so."""
    frame, path = read_id_labels(source, data, id_col)
    index = {c: i for i, c in enumerate(classes)}
    unknown = frame[~frame["label"].isin(index)]
    if len(unknown):
        bad = unknown.iloc[0]
        where = {"row": int(bad[LINE])} if file_kind(path) == "parquet" else {"line": int(bad[LINE])}
        raise DataError(path, f"checked label '{bad['label']}' (id {bad['id']}) is not one of the classes "
                              f"({', '.join(classes)})", **where)
    position = {str(k): i for i, k in enumerate(ids)}
    frame = frame.drop_duplicates("id", keep="last")
    inside = frame["id"].isin(position)
    if (~inside).any():
        log.info("%d checked rows are not among the %d cross-validated train+val rows (the test split, or "
                 "ids not in the data) and are left out", int((~inside).sum()), len(ids))
    frame = frame[inside]
    return (frame["id"].map(position).to_numpy(dtype=np.int64),
            frame["label"].map(index).to_numpy(dtype=np.int64))


def duplicates_path(path: str | Path) -> Path:
    """``FILE.duplicates.csv`` beside ``FILE.csv``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.duplicates.csv")


def write(found: LabelIssues, path: str | Path) -> list[Path]:
    """Write the issues to ``path`` and the conflicting duplicates beside it, atomically."""
    written = []
    for frame, target in ((found.issues, Path(path)), (found.duplicates, duplicates_path(path))):
        with lock(target), atomic_file(target) as tmp:
            frame.to_csv(tmp, index=False)
        written.append(target)
    return written
