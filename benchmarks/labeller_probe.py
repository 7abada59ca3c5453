"""Why a single model stops near 0.94 on HappyDB: probes of the labels on the reference split (train and
validation only; test is never read).

1. Are the labels a deterministic function of the text? Texts that occur more than once, and how many
   of them carry more than one label.
2. Where does a unigram-count logistic regression (C 5) lose? Validation accuracy by the train
   document frequency of each row's rarest word.
3. Do other views of the words help? Validation accuracy with case kept, whitespace tokens, stop words
   removed, and with the sum of the words' GloVe vectors beside the counts (so unseen words count).
4. Can an unseen word's weights be guessed from words that mean the same? The count model is kept as it
   is; each word unseen in train gets class weights predicted from its vector (GloVe 50-d, or MiniLM's
   static vectors, which cover every word): a ridge regression from the known words' vectors to their
   weights, or the mean weights of the 10 nearest known words. Validation accuracy, overall and on the
   rows with an unseen word, for several scales of the guessed weights.

    cd benchmarks && ../.venv/bin/python labeller_probe.py
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp
from _common import HM_TRAIN, machine, print_table
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

TOKENS = r"\b\w+\b"


def main() -> None:
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    df = pd.read_csv(HM_TRAIN)
    rest, _test = train_test_split(df, test_size=6000, random_state=42, stratify=df.predicted_category)
    tr, va = train_test_split(rest, test_size=0.15, random_state=42, stratify=rest.predicted_category)

    norm = df.cleaned_hm.astype(str).str.lower().str.strip()
    groups = df.groupby(norm).predicted_category.agg(["nunique", "size"])
    repeated = groups[groups["size"] > 1]
    print_table([{"texts occurring more than once": len(repeated), "their rows": int(repeated["size"].sum()),
                  "texts with more than one label": int((repeated["nunique"] > 1).sum()),
                  "which": ", ".join(repeated[repeated["nunique"] > 1].index[:3])}],
                 "1. Repeated texts (whole file, lower-cased)")

    vec = CountVectorizer(token_pattern=TOKENS)
    X_tr = vec.fit_transform(tr.cleaned_hm)
    clf = LogisticRegression(C=5, max_iter=5000).fit(X_tr, tr.predicted_category)
    right = clf.predict(vec.transform(va.cleaned_hm)) == va.predicted_category.to_numpy()
    train_acc = float((clf.predict(X_tr) == tr.predicted_category).mean())
    doc_freq = np.asarray((X_tr > 0).sum(axis=0)).ravel()
    analyse = vec.build_analyzer()
    rarest = np.array([min((doc_freq[vec.vocabulary_[w]] if w in vec.vocabulary_ else 0 for w in analyse(t)), default=0)
                       for t in va.cleaned_hm])
    rows = []
    for lo, hi, name in ((0, 0, "a word never seen in train"), (1, 9, "1-9"), (10, 99, "10-99"),
                         (100, None, "100 or more")):
        m = (rarest >= lo) & ((rarest <= hi) if hi is not None else True)
        rows.append({"rarest word's train texts": name, "val rows": int(m.sum()), "val acc": f"{right[m].mean():.4f}"})
    rows.append({"rarest word's train texts": "all", "val rows": len(right), "val acc": f"{right.mean():.4f}"})
    print_table(rows, f"2. Unigram counts + logistic regression (C 5): train accuracy {train_acc:.4f}")

    from textladder.embeddings.vectors import load_glove

    all_texts = pd.concat([tr.cleaned_hm, va.cleaned_hm])
    full = CountVectorizer(token_pattern=TOKENS).fit(all_texts)  # no labels: unseen words get a column too
    words = full.get_feature_names_out()
    kv = load_glove()
    E = np.zeros((len(words), kv.vector_size), dtype=np.float32)
    known = np.array([w in kv.key_to_index for w in words])
    E[known] = np.stack([kv[w] for w in words[known]])
    E /= np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-9)
    seen = np.array([w in vec.vocabulary_ for w in words], dtype=np.float32)

    def glove(alpha):
        def features(texts):
            X = full.transform(texts)
            return sp.hstack([X.multiply(seen).tocsr(), sp.csr_matrix(alpha * (X @ E))]).tocsr()
        return features

    variants = {"lower-cased unigram counts (above)": lambda: CountVectorizer(token_pattern=TOKENS),
                "case kept": lambda: CountVectorizer(token_pattern=TOKENS, lowercase=False),
                "whitespace tokens (punctuation attached)": lambda: CountVectorizer(token_pattern=r"[^\s]+"),
                "English stop words removed": lambda: CountVectorizer(token_pattern=TOKENS, stop_words="english"),
                "counts + sum of GloVe 50-d vectors x 0.3": lambda: glove(0.3),
                "counts + sum of GloVe 50-d vectors x 1": lambda: glove(1.0)}
    rows = []
    for name, make in variants.items():
        t = time.time()
        f = make()
        if isinstance(f, CountVectorizer):
            F_tr, F_va = f.fit_transform(tr.cleaned_hm), f.transform(va.cleaned_hm)
        else:
            F_tr, F_va = f(tr.cleaned_hm), f(va.cleaned_hm)
        model = LogisticRegression(C=5, max_iter=5000).fit(F_tr, tr.predicted_category)
        rows.append({"features (logistic regression, C 5)": name,
                     "val acc": f"{(model.predict(F_va) == va.predicted_category).mean():.4f}",
                     "s": f"{time.time() - t:.0f}"})
        print(rows[-1], flush=True)
    print_table(rows, "3. Other views of the words")
    guessed_weights(tr, va, vec, clf, doc_freq)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


def guessed_weights(tr, va, vec, clf, doc_freq) -> None:
    """Section 4: the count model's logits plus guessed weights for the words it never saw."""
    from sklearn.linear_model import Ridge

    from textladder.embeddings.encoder import resolve_encoder, static_word_vectors
    from textladder.embeddings.vectors import load_glove

    y = va.predicted_category.to_numpy()
    logits = clf.decision_function(vec.transform(va.cleaned_hm))
    seen_words = vec.get_feature_names_out()
    val_vec = CountVectorizer(token_pattern=TOKENS).fit(va.cleaned_hm)
    val_words = val_vec.get_feature_names_out()
    unseen = np.array([w not in vec.vocabulary_ for w in val_words])
    X_unseen = val_vec.transform(va.cleaned_hm)[:, np.where(unseen)[0]]
    unseen_words = val_words[unseen]
    has_unseen = np.asarray(X_unseen.sum(axis=1)).ravel() > 0
    weights = clf.coef_.T - clf.coef_.T.mean(axis=1, keepdims=True)  # word x class, shift-free

    def embed(kv, words):
        E = np.zeros((len(words), kv.vector_size), dtype=np.float32)
        known = np.array([w in kv.key_to_index for w in words])
        if known.any():
            E[known] = np.stack([kv[w] for w in np.asarray(words)[known]])
        return E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-9), known

    right = clf.classes_[logits.argmax(axis=1)] == y
    rows = [{"guessed weights for unseen words": "none (the count model)", "scale": "-",
             "val acc": f"{right.mean():.4f}", "val acc, rows with an unseen word": f"{right[has_unseen].mean():.4f}"}]
    sources = {"GloVe 50-d": lambda: load_glove(),
               "MiniLM static": lambda: static_word_vectors(list(seen_words) + list(unseen_words), resolve_encoder(None))}
    for name, load in sources.items():
        kv = load()
        E_seen, k_seen = embed(kv, seen_words)
        E_new, k_new = embed(kv, unseen_words)
        use = k_seen & (doc_freq >= 3)  # words whose weights the count model could learn
        ridge = Ridge(alpha=1.0).fit(E_seen[use], weights[use]).predict(E_new)
        sims = E_new @ E_seen[use].T
        near = np.argsort(-sims, axis=1)[:, :10]
        w_near = np.take_along_axis(sims, near, axis=1).clip(0)
        knn = (weights[use][near] * w_near[..., None]).sum(axis=1) / np.maximum(w_near.sum(axis=1, keepdims=True), 1e-9)
        for method, guess in (("ridge from the vector", ridge), ("10 nearest known words", knn)):
            guess[~k_new] = 0.0
            for scale in (0.5, 1.0, 2.0):
                ok = clf.classes_[(logits + scale * (X_unseen @ guess)).argmax(axis=1)] == y
                rows.append({"guessed weights for unseen words": f"{name}, {method}", "scale": scale,
                             "val acc": f"{ok.mean():.4f}", "val acc, rows with an unseen word": f"{ok[has_unseen].mean():.4f}"})
    print_table(rows, f"4. Guessed weights for the {len(unseen_words):,} words unseen in train ({int(has_unseen.sum()):,} val rows)")


if __name__ == "__main__":
    main()
