"""Why `tfidf-linear` refuses LinearSVC on unnormalised tf-idf in a search: one such trial ran 855 s of
the 8-minute main job. On HappyDB's reference train split, the features of that trial (unigrams
`\\b\\w+\\b` and character 2-4-grams, min_df 3, 20,000 of each, idf) with each `norm`, fitted by
LinearSVC (C 0.77, balanced, the trial's) for a few iteration limits and by the logistic regression:
seconds, iterations used, validation accuracy.

    cd benchmarks && ../.venv/bin/python svm_convergence.py
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
import pandas as pd
from _common import HM_TRAIN, machine, print_table
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC


def features(norm: str | None) -> FeatureUnion:
    words = TfidfVectorizer(token_pattern=r"\b\w+\b", min_df=3, max_features=20_000, norm=norm, dtype=np.float32)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), min_df=3, sublinear_tf=True, dtype=np.float32,
                            max_features=20_000)
    return FeatureUnion([("words", words), ("chars", chars)])


def main() -> None:
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    warnings.simplefilter("ignore", ConvergenceWarning)
    data = pd.read_csv(HM_TRAIN)
    rest, _ = train_test_split(data, test_size=6000, random_state=42, stratify=data["predicted_category"])
    train, val = train_test_split(rest, test_size=0.15, random_state=42, stratify=rest["predicted_category"])
    rows = []
    for norm in (None, "l2", "l1"):
        f = features(norm)
        X, X_val = f.fit_transform(train["cleaned_hm"]), f.transform(val["cleaned_hm"])
        size = f"max {X.max():.3g}, mean row norm {np.sqrt(X.multiply(X).sum(axis=1)).mean():.3g}"
        models = [(f"LinearSVC, max_iter {n}", LinearSVC(C=0.766, class_weight="balanced", max_iter=n, random_state=42))
                  for n in (50, 200)]
        models.append(("logistic regression", LogisticRegression(C=0.766, class_weight="balanced", max_iter=2000)))
        for name, model in models:
            t = time.time()
            model.fit(X, train["predicted_category"])
            rows.append({"norm": str(norm), "feature values": size, "model": name,
                         "seconds": f"{time.time() - t:.1f}", "iterations": int(np.max(model.n_iter_)),
                         "val accuracy": f"{(model.predict(X_val) == val['predicted_category']).mean():.4f}"})
    print_table(rows, "LinearSVC against the feature scale (one fit; a search trial calibrates on 3 folds, "
                      "max_iter 2,000)")


if __name__ == "__main__":
    main()
