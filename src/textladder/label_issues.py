"""Which labels look wrong? Confident learning over out-of-fold probabilities, and conflicting duplicates.

A model that never saw a row (its out-of-fold prediction, from ``train --cv K``) and is sure of another
class than the row's label points at a label worth a second look. Confident learning (Northcutt et al.,
2021; the ``cleanlab`` library, chosen because it is the reference implementation, maintained, and
needs nothing but numpy, pandas and scikit-learn) estimates from those probabilities how many rows of
each class carry each other label, and flags that many, the least likely first. Rows are ranked by
``score = 1 - p(given label)``: the out-of-fold probability that the given label is wrong.

Every row of the data gets its out-of-fold probabilities, whatever part of a split it is in: the strongest
families the budget allows (:func:`plan_families`: the ladder's best configuration of each family in the
runs folder, else tfidf-linear, fastText and the frozen encoder with their defaults; by their estimated
cost) are cross-fitted over all the rows (:func:`cross_fit`), and their probabilities averaged: models of
different families make different mistakes. Nothing is written into the runs folder but the findings.

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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from textladder.calibration import apply_temperature, fit_temperature
from textladder.config import DataConfig
from textladder.data.dataset import encode
from textladder.data.reader import LINE, numbering, read_id_labels
from textladder.errors import DataError, TextladderError, option
from textladder.files import atomic_file, lock
from textladder.models import TrainingContext, get, make_params
from textladder.ranking import leaderboard
from textladder.runs import list_runs, load_data

log = logging.getLogger("textladder")

COLUMNS = ["id", "text", "given_label", "suggested_label", "score"]
TRUSTED_COLUMN = "trusted_label"  # added to the issues when rows were checked by people: their label, if any
DEFAULT_BUDGET = 150.0  # seconds of cross-fitting: a 20,000-row file of long texts ends within 3 minutes
DEFAULT_FAMILIES = ("tfidf-linear", "fasttext", "contextual")  # without runs of the data: cheapest first
MIN_DISAGREEMENTS = 10  # checked rows that disagree with the given label needed to learn from them


@dataclass
class LabelIssues:
    """What :func:`find_label_issues` found: ``issues`` (columns ``id, text, given_label, suggested_label,
    score``, most likely wrong first), ``duplicates`` (conflicting near-duplicate texts), ``runs`` (the
    families whose out-of-fold probabilities were pooled, each with where its parameters come from: ``fasttext
    (run NAME)`` or ``tfidf-linear (defaults)``), ``rows`` (how many rows were scored: all of them)."""

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


@dataclass
class Family:
    """One rung cross-fitted over every row: its model, its parameters and where they come from."""

    model: str
    params: dict
    source: str  # "run NAME" (the ladder's best of this family on this data) or "defaults"
    seconds: float = 0.0  # its estimated cost, all folds

    def label(self) -> str:
        return f"{self.model} ({self.source})"


def _cost(model: str, params: dict, rows: int, words: float, folds: int) -> float:
    """About how long cross-fitting ``model`` over ``rows`` rows in ``folds`` folds takes; a rung whose
    per-text features are cached across fits (:attr:`TextClassifier.caches_features`: the frozen encoder's
    sentence embeddings) pays them once."""
    cls = get(model)
    p = make_params(model, params)
    fold_rows = rows * (folds - 1) / folds
    each = cls.estimate_seconds(p, int(fold_rows), words)
    if not cls.caches_features:
        return folds * each
    fixed, _once, per_epoch = cls.train_cost
    refit = fixed + fold_rows / 1000 * cls.length_scale(p, words) * per_epoch * getattr(p, "epochs", 1)
    return each + (folds - 1) * refit


def plan_families(runs_dir: str | Path, data_config, rows: int, words: float, budget: float,
                  folds: int) -> tuple[list[Family], list[str]]:
    """Which rungs to cross-fit, strongest first, within ``budget`` seconds: each family's best run of this
    data in ``runs_dir`` (by the figure the pick is made on; its searched parameters), else tfidf-linear,
    fastText and the frozen encoder with their defaults. The first always goes (it is the cheapest way to
    a finding); the others while their estimated cost fits what is left. Returns the families kept and a
    line for each one left out."""
    runs_dir = Path(runs_dir)
    target = Path(data_config.path).resolve()
    given = ("split_col", "test_path", "val_path")
    mine = [r for r in (list_runs(runs_dir) if runs_dir.is_dir() else [])
            if r.config.model not in ("ensemble",) and Path(r.config.data.path).resolve() == target
            and all(getattr(r.config.data, k) == getattr(data_config, k) for k in given)]
    families: list[Family] = []
    for row in leaderboard(mine, by="pick"):
        if row["model"] in {f.model for f in families}:
            continue
        run = next(r for r in mine if r.name == row["run"])
        params = {k: v for k, v in run.config.params.items() if k not in ("seed",)}
        families.append(Family(row["model"], params, f"run {run.name}"))
    for model in DEFAULT_FAMILIES:
        if model not in {f.model for f in families}:
            families.append(Family(model, {}, "defaults"))
    kept, left, spent = [], [], 0.0
    for family in families:
        try:
            family.seconds = _cost(family.model, family.params, rows, words, folds)
        except TextladderError as exc:  # a family whose extra is not installed, or whose parameters no longer hold
            left.append(f"{family.label()}: {exc}")
            continue
        if kept and spent + family.seconds > budget:
            left.append(f"{family.label()}: about {family.seconds:.0f} s; {max(budget - spent, 0):.0f} s of the "
                        f"{budget:.0f} s budget left")
            continue
        kept.append(family)
        spent += family.seconds
    return kept, left


@contextmanager
def _quiet():
    """textladder's own info lines held back (unless debugging) while a fold fits."""
    level = log.level
    if level != logging.DEBUG:
        log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


def cross_fit(frame: pd.DataFrame, y: np.ndarray, classes: list[str], families: list[Family], folds: int = 5,
              seed: int = 42, deadline: float | None = None) -> tuple[list[Family], list]:
    """Out-of-fold probabilities of every row for each family: ``folds`` stratified folds over all the rows
    ``frame`` (label indices ``y``), each row predicted by the model of its family that did not see it. A
    family whose folds would end past ``deadline`` (a ``time.time()`` value) after the first is skipped.
    Returns the families done and one probability array each (rows in ``frame``'s order)."""
    import time

    from textladder.training import seed_everything

    names = np.asarray(classes, dtype=object)
    done, probas = [], []
    for family in families:
        if done and deadline is not None and time.time() + family.seconds > deadline:
            log.info("label issues: %s skipped: the budget is spent", family.label())
            continue
        started = time.time()
        cls = get(family.model)
        params = make_params(family.model, {**family.params, "seed": seed})
        oof = np.zeros((len(y), len(classes)), dtype=np.float64)
        for i, (fit, held) in enumerate(_splits(y, folds, seed), 1):
            seed_everything(seed + i)
            model = cls(params)
            with _quiet():  # no epoch lines or bars from each fold's fit: one line per family
                model.fit(frame.iloc[fit].reset_index(drop=True), names[y[fit]], context=TrainingContext(deadline=deadline))
            proba = np.zeros((len(held), len(classes)))
            proba[:, [classes.index(c) for c in model.classes_]] = model.predict_proba(
                frame.iloc[held].reset_index(drop=True))
            oof[held] = proba
        accuracy = float((oof.argmax(axis=1) == y).mean())
        # each family's probabilities calibrated before they are pooled: an over-confident family (a weakly
        # regularised linear model, fastText) would otherwise outvote the others and blur the ranking
        temperature = fit_temperature(oof, y)
        log.info("label issues: %s cross-fitted over %d rows in %d folds: out-of-fold accuracy %.4f, temperature "
                 "%.2f (%.0f s)", family.label(), len(y), folds, accuracy, temperature, time.time() - started)
        done.append(family)
        probas.append(apply_temperature(oof, temperature))
    return done, probas


def find_label_issues(data: str | Path, runs_dir: str | Path = "runs", cv: int = 5, top: int | None = None,
                      trusted: str | Path | None = None, seed: int = 42, data_config=None,
                      budget: float = DEFAULT_BUDGET) -> LabelIssues:
    """Rank every row of ``data`` whose label looks wrong (see the module docstring) and list the conflicting
    duplicates of the whole file. Every row gets an out-of-fold score: the strongest families the ``budget``
    (seconds) allows (:func:`plan_families`: the ladder's best configuration of each family in ``runs_dir``,
    else the defaults) are cross-fitted in ``cv`` folds over all the rows (:func:`cross_fit`; a given split's
    parts are joined: the finding chooses no model), and their probabilities pooled (averaged). ``top`` keeps
    that many issues. ``trusted``: labels people checked, a column of ``data`` (empty where unchecked) or a
    CSV/Parquet file of id and label; the ranking is then learned from them (:func:`trusted_scores`) instead
    of confident learning, as many rows are flagged as the scores add up to, and ``top`` lists the ``top``
    most likely wrong rows even beyond them; ``seed`` draws the folds. ``data_config``: how to read ``data``
    (columns, a split column or test and validation files, whose rows are scored too).

    Example:
        >>> found = find_label_issues("hm_train.csv", "runs", top=100)  # doctest: +SKIP
    """
    import time

    started = time.time()
    data_config = data_config or DataConfig(path=str(data))
    ds = load_data(data_config)
    classes = ds.classes
    y = encode(ds.labels, classes)
    smallest = int(np.bincount(y, minlength=len(classes)).min())
    folds = min(cv, smallest)
    if folds < 2:
        raise TextladderError(f"{data}: a class has {smallest} row; cross-fitting needs at least 2 rows of each "
                              f"(or {option('min_class_rows', 2)})")
    if folds < cv:
        log.info("label issues: %d folds (the smallest class has %d rows)", folds, smallest)
    words = float(np.mean([len(str(t).split()) for t in ds.texts])) if len(ds) else 0.0
    families, left = plan_families(runs_dir, data_config, len(ds), words, budget, folds)
    for line in left:
        log.info("label issues: left out %s", line)
    log.info("label issues: cross-fitting %s over all %d rows (about %.0f s of a %.0f s budget)",
             ", ".join(f.label() for f in families), len(ds), sum(f.seconds for f in families), budget)
    done, probas = cross_fit(ds.frame(), y, classes, families, folds=folds, seed=seed, deadline=started + budget)
    runs = [f.label() for f in done]
    ids = [str(i) for i in ds.ids.tolist()]
    names = np.asarray(classes, dtype=object)
    texts = ds.texts.tolist()
    checked_column = None  # people's label per row, with --trusted
    used = 0
    if trusted is None:
        proba = np.mean(probas, axis=0)
        flagged, score = rank_issues(y, proba)
        suggested = proba.argmax(axis=1)
    else:
        checked, checked_labels = _checked_rows(trusted, data, ds.columns.id, ids, classes)
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
        where = {numbering(path): int(bad[LINE])}
        raise DataError(path, f"checked label '{bad['label']}' (id {bad['id']}) is not one of the classes "
                              f"({', '.join(classes)})", **where)
    position = {str(k): i for i, k in enumerate(ids)}
    frame = frame.drop_duplicates("id", keep="last")
    inside = frame["id"].isin(position)
    if (~inside).any():
        log.info("%d checked rows are not among the %d rows of the data (ids not in it) and are left out",
                 int((~inside).sum()), len(ids))
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


REVIEW_ROWS = 1000  # the most rows a review page lists


def suggestion_words(ds, issues: pd.DataFrame, top: int = 5) -> dict[str, list[str]]:
    """The words that drive each listed row's suggested label: a tfidf-linear model fitted on every row (its
    exact per-word contributions, :mod:`textladder.explain`), the ``top`` words weighing most toward the
    suggestion."""
    names = ds.labels
    model = get("tfidf-linear")(make_params("tfidf-linear", {"min_df": 1 if len(ds) < 1000 else 2}))
    with _quiet():
        model.fit(ds.frame(), names)
    words = {}
    for row in issues.head(REVIEW_ROWS).itertuples():
        e = model.explain(str(row.text), label=row.suggested_label)
        words[str(row.id)] = [w for w, weight in e.top(top) if weight > 0]
    return words


def review_page(found: LabelIssues, classes: list[str], words: dict[str, list[str]], title: str) -> str:
    """One offline HTML page to review ``found``: the flagged rows, most likely wrong first, each with its
    text, given and suggested label, score and the words behind the suggestion; a person keeps the given
    label, accepts the suggestion or chooses another, and "Save corrections" downloads ``corrections.csv``
    (``id,label``: the rows whose label was changed), which every data command reads with
    ``--corrections``. No script or style is fetched from anywhere."""
    import html

    def esc(value) -> str:
        return html.escape(str(value), quote=True)

    options = "".join(f"<option>{esc(c)}</option>" for c in classes)
    rows = []
    for n, row in enumerate(found.issues.head(REVIEW_ROWS).itertuples(), 1):
        drivers = ", ".join(words.get(str(row.id), []))
        rows.append(
            f'<tr data-id="{esc(row.id)}" data-given="{esc(row.given_label)}" data-suggested="{esc(row.suggested_label)}">'
            f"<td>{n}</td><td>{esc(row.id)}</td><td class=t>{esc(row.text)}</td><td>{esc(row.given_label)}</td>"
            f"<td>{esc(row.suggested_label)}</td><td>{row.score:.3f}</td><td>{esc(drivers)}</td>"
            f'<td><button class=accept>accept</button> <button class=keep>keep</button> '
            f'<select class=label aria-label="label of row {esc(row.id)}">{options}</select></td></tr>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:1.5em;color:#222}} table{{border-collapse:collapse;width:100%}}
th,td{{border-bottom:1px solid #ddd;padding:.35em .5em;text-align:left;vertical-align:top;font-size:.9em}}
td.t{{max-width:38em}} tr.changed{{background:#fff6d6}} #bar{{position:sticky;top:0;background:#fff;padding:.5em 0}}
button{{cursor:pointer}}
</style></head><body>
<h1>{esc(title)}</h1>
<p>{len(rows):,} of {found.rows:,} rows, most likely wrong first ({esc(", ".join(found.runs))}). For each row keep
the given label, accept the suggestion, or choose another; then save the corrections: a CSV of
<code>id,label</code> for the rows you changed, which <code>textladder train --corrections FILE</code> (and every
command that reads data) applies before the split.</p>
<div id=bar><button id=save>Save corrections</button> <span id=count>0 rows changed</span></div>
<table><thead><tr><th>#</th><th>id</th><th>text</th><th>given</th><th>suggested</th><th>score</th>
<th>words behind the suggestion</th><th>label</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
<script>
const rows = Array.from(document.querySelectorAll("tbody tr"));
const pick = r => r.querySelector("select");
function changed() {{ return rows.filter(r => pick(r).value !== r.dataset.given); }}
function update() {{
  rows.forEach(r => r.classList.toggle("changed", pick(r).value !== r.dataset.given));
  document.getElementById("count").textContent = changed().length + " rows changed";
}}
rows.forEach(r => {{
  pick(r).value = r.dataset.given;
  r.querySelector(".accept").addEventListener("click", () => {{ pick(r).value = r.dataset.suggested; update(); }});
  r.querySelector(".keep").addEventListener("click", () => {{ pick(r).value = r.dataset.given; update(); }});
  pick(r).addEventListener("change", update);
}});
function field(v) {{ return /[",\\r\\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v; }}
document.getElementById("save").addEventListener("click", () => {{
  const lines = ["id,label"].concat(changed().map(r => field(r.dataset.id) + "," + field(pick(r).value)));
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([lines.join("\\n") + "\\n"], {{type: "text/csv"}}));
  link.download = "corrections.csv";
  document.body.appendChild(link);
  link.click();
  link.remove();
}});
</script>
</body></html>
"""
