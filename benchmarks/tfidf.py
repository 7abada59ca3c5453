"""TF-IDF rung on the HappyDB reference split, beside plain scikit-learn peers, in one run.

    .venv/bin/python benchmarks/tfidf.py [--quick]

Prints test accuracy, macro-F1, F1 of the two smallest classes, training time,
and each configuration's time as a ratio of the README's plain peer
(TF-IDF 1-2 grams + LogisticRegression C=20).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import HM_TRAIN, machine, print_table
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from textladder.data import SplitConfig, load_dataset, make_split
from textladder.models import build
from textladder.data.dataset import encode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="only the default rung and the LR peer")
    args = ap.parse_args()
    ds = load_dataset(HM_TRAIN)
    split = make_split(ds.labels, SplitConfig().resolve(ds.format, len(ds)))
    classes = ds.classes
    y = encode(ds.labels, classes)
    tr, te = ds.subset(split.train), ds.subset(split.test)
    ytr, yte = y[split.train], y[split.test]
    small = [classes.index("nature"), classes.index("exercise")]

    configs = [
        ("peer: sklearn TF-IDF(1,2) + LR C=20", lambda: make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2)), LogisticRegression(C=20, max_iter=2000)), "raw"),
        ("textladder tfidf-linear (defaults)", lambda: build("tfidf-linear"), "rung"),
    ]
    if not args.quick:
        configs += [
            ("peer: sklearn TF-IDF(1,2) + LinearSVC", lambda: make_pipeline(
                TfidfVectorizer(ngram_range=(1, 2)), LinearSVC()), "raw"),
            ("textladder tfidf-linear classifier=svm", lambda: build("tfidf-linear", {"classifier": "svm"}), "rung"),
            ("textladder tfidf-linear char_ngrams=true", lambda: build("tfidf-linear", {"char_ngrams": True}), "rung"),
            ("textladder tfidf-linear class_weight=balanced",
             lambda: build("tfidf-linear", {"class_weight": "balanced"}), "rung"),
        ]
    rows, base = [], None
    for name, make, kind in configs:
        model = make()
        start = time.perf_counter()
        if kind == "raw":
            model.fit(tr.texts, ytr)
            elapsed = time.perf_counter() - start
            pred = model.predict(te.texts)
        else:
            model.fit(tr.frame(), ytr)
            elapsed = time.perf_counter() - start
            pred = model.predict(te.frame())
        base = base or elapsed
        per_class = f1_score(yte, pred, average=None, labels=range(len(classes)))
        rows.append({
            "configuration": name,
            "test acc": f"{accuracy_score(yte, pred):.4f}",
            "macro-F1": f"{f1_score(yte, pred, average='macro'):.4f}",
            "F1 nature": f"{per_class[small[0]]:.3f}",
            "F1 exercise": f"{per_class[small[1]]:.3f}",
            "train s": f"{elapsed:.1f}",
            "time / LR peer": f"{elapsed / base:.2f}",
        })
        print(f"done: {name}", flush=True)
    print_table(rows, f"tfidf on the HappyDB reference split (train {len(split.train):,}, test {len(split.test):,}); "
                      f"{machine()}")


if __name__ == "__main__":
    np.random.seed(0)
    main()
