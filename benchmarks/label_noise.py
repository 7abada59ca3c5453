"""Label issues on errors we know: SST-5 (all 11,855 sentences, the official parts joined) with labels
flipped on purpose, once at random (3% of the rows, each to another class) and once systematically (20% of
the ``positive`` rows labelled ``very_positive``, a neighbouring class). The flipped rows are the verified
errors. Beside textladder's finder (``textladder.find_label_issues``: the strongest families its budget
allows, cross-fitted over every row, pooled, ranked by confident learning), cleanlab's own defaults
(``cleanlab.filter.find_label_issues`` and ``cleanlab.rank.get_label_quality_scores``) on the 5-fold
out-of-fold probabilities of a plain scikit-learn TF-IDF(1,2, sublinear) + logistic regression.

    cd benchmarks && ../.venv/bin/python label_noise.py --out /tmp/bench-noise [--budgets 120,300]

Printed per finder: rows flagged, precision of the first 20, 50 and 100 rows it ranks most likely wrong,
precision and recall of everything it flags, and seconds.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import ROOT, machine, print_table

import textladder

SST5 = ROOT.parent / "shared" / "data" / "sst5" / "sst5.csv"
CUTS = (20, 50, 100)


def flipped(frame: pd.DataFrame, kind: str, seed: int = 0) -> tuple[pd.DataFrame, set[str]]:
    rng = np.random.default_rng(seed)
    noisy = frame.copy()
    classes = sorted(frame["label"].unique())
    if kind == "random":
        rows = rng.choice(len(frame), size=int(0.03 * len(frame)), replace=False)
        for i in rows:
            noisy.iat[i, noisy.columns.get_loc("label")] = rng.choice([c for c in classes if c != frame["label"].iat[i]])
    else:
        positive = np.flatnonzero(frame["label"].to_numpy() == "positive")
        rows = rng.choice(positive, size=int(0.2 * len(positive)), replace=False)
        noisy.loc[noisy.index[rows], "label"] = "very_positive"
    return noisy, set(frame["id"].iloc[rows])


def scores(ranked: list[str], flagged: list[str], errors: set[str], seconds: float) -> dict:
    row = {"flagged": len(flagged)}
    for k in CUTS:
        row[f"P@{k}"] = f"{np.mean([i in errors for i in ranked[:k]]):.2f}" if len(ranked) >= k else "-"
    hit = sum(i in errors for i in flagged)
    row["precision"] = f"{hit / len(flagged):.3f}" if flagged else "-"
    row["recall"] = f"{hit / len(errors):.3f}"
    row["seconds"] = round(seconds)
    return row


def cleanlab_defaults(noisy: pd.DataFrame) -> tuple[list[str], list[str], float]:
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline

    started = time.time()
    classes = sorted(noisy["label"].unique())
    y = noisy["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(max_iter=1000))
    proba = cross_val_predict(model, noisy["text"], y, cv=StratifiedKFold(5, shuffle=True, random_state=0),
                              method="predict_proba")
    mask = find_label_issues(y, proba)
    quality = get_label_quality_scores(y, proba)
    ids = noisy["id"].to_numpy()
    flagged = [ids[i] for i in np.flatnonzero(mask)[np.argsort(quality[mask], kind="stable")]]
    return flagged, flagged, time.time() - started


def ours(path: Path, runs: Path, budget: float) -> tuple[list[str], list[str], float, list[str]]:
    started = time.time()
    found = textladder.find_label_issues(path, runs=runs, budget=budget)
    ranked = found.issues["id"].astype(str).tolist()
    return ranked, ranked, time.time() - started, found.runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/textladder-bench-noise"))
    parser.add_argument("--budgets", default="120,300", help="textladder's budgets to try, in seconds")
    parser.add_argument("--kinds", default="random,systematic")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    frame = pd.read_csv(SST5, dtype=str, keep_default_na=False)[["id", "text", "label"]]
    for kind in args.kinds.split(","):
        noisy, errors = flipped(frame, kind)
        path = args.out / f"sst5-{kind}.csv"
        noisy.to_csv(path, index=False)
        ranked, flagged, seconds = cleanlab_defaults(noisy)
        rows = [{"finder": "cleanlab defaults on TF-IDF + LR (scikit-learn)",
                 **scores(ranked, flagged, errors, seconds)}]
        for budget in (float(b) for b in args.budgets.split(",")):
            ranked, flagged, seconds, used = ours(path, args.out / f"runs-{kind}-{budget:.0f}", budget)
            rows.append({"finder": f"textladder, budget {budget:.0f} s: {' + '.join(u.split(' ')[0] for u in used)}",
                         **scores(ranked, flagged, errors, seconds)})
        print_table(rows, f"SST-5, {kind} flips: {len(errors)} verified errors in {len(noisy):,} rows ({machine()})")


if __name__ == "__main__":
    main()
