"""The `fasttext` rung against fastText's own calls on the same texts, in one process, side by side.

Both sides get HappyDB's reference split. fastText's own side gets the texts already tokenised
(the same tokens, written to its training file beforehand) and is timed on `train_supervised` and
on `predict(k=-1)` (every class's probability, what the rung returns; `k=1` is shown too). The
rung's side is timed from raw texts: `FastText(...).fit(X, y)` and `predict_proba(X)`, so it
pays for tokenising, writing the training file and filling the probability matrix. fastText's
own call runs under the same zeroed heap as the rung (textladder.models.fasttext_clf): without
it, in a process that has freed memory, fastText stops with `Encountered NaN` (docs/BENCHMARKS.md).
Each call is repeated, alternating, and medians are compared.

    cd benchmarks && ../.venv/bin/python fasttext_speed.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import HM_TRAIN, machine, print_table

from textladder.data import SplitConfig, load_dataset, make_split
from textladder.models.fasttext_clf import LABEL, FastText, _zeroed_heap
from textladder.text import token_lines

CONFIGS = {"defaults": {}, "searched (HappyDB's best)": {"lr": 0.08, "epochs": 27, "dim": 200}}


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    import fasttext

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}; fasttext {getattr(fasttext, '__version__', '?')}; "
          f"load average {os.getloadavg()[0]:.2f}")
    ds = load_dataset(HM_TRAIN)
    split = make_split(ds.labels, SplitConfig().resolve(ds.format, len(ds)))
    classes = sorted(set(ds.labels))
    y = np.array([classes.index(c) for c in ds.labels])
    X, X_test = (pd.DataFrame({"text": ds.texts[part]}) for part in (split.train, split.test))
    y_train, y_test = y[split.train], y[split.test]
    tmp = Path(tempfile.mkdtemp(prefix="fasttext-speed-"))
    lines, test_lines = token_lines(X["text"]), token_lines(X_test["text"])
    file = tmp / "train.txt"
    file.write_text("".join(f"{LABEL}{label} {line}\n" for line, label in zip(lines, y_train)), encoding="utf-8")
    print(f"{len(X):,} train and {len(X_test):,} test texts\n")

    rows, parts = [], []
    for name, params in CONFIGS.items():
        p = FastText(**params).params
        own_args = dict(lr=p.lr, epoch=p.epochs, dim=p.dim, wordNgrams=p.word_ngrams, minCount=p.min_count,
                        bucket=p.bucket, thread=p.thread, seed=p.seed, loss=p.loss, verbose=0)
        t: dict[str, list[float]] = {k: [] for k in ("own train", "ours train", "own k1", "own k-1", "ours predict")}
        for _ in range(args.repeats):
            with _zeroed_heap():
                dt, own = timed(lambda: fasttext.train_supervised(input=str(file), **own_args))
            t["own train"].append(dt)
            dt, ours = timed(lambda: FastText(**params).fit(X, y_train))
            t["ours train"].append(dt)
            t["own k1"].append(timed(lambda: own.predict(test_lines))[0])
            dt, (names, probs) = timed(lambda: own.predict(test_lines, k=-1, threshold=0.0))
            t["own k-1"].append(dt)
            dt, proba = timed(lambda: ours.predict_proba(X_test))
            t["ours predict"].append(dt)
        m = {k: statistics.median(v) for k, v in t.items()}
        own_pred = np.array([int(row[0][len(LABEL):]) for row in names])
        same = "yes" if (own_pred == proba.argmax(1)).all() else f"no ({(own_pred != proba.argmax(1)).sum()} rows)"
        rows.append({"config": name, "own train s": f"{m['own train']:.2f}", "ours train s": f"{m['ours train']:.2f}",
                     "train ratio": f"{m['ours train'] / m['own train']:.2f}x",
                     "own predict k=-1 ms": f"{m['own k-1'] * 1000:.0f}", "(k=1 ms)": f"{m['own k1'] * 1000:.0f}",
                     "ours predict ms": f"{m['ours predict'] * 1000:.0f}",
                     "predict ratio": f"{m['ours predict'] / m['own k-1']:.2f}x",
                     "test acc": f"{(proba.argmax(1) == y_test).mean():.4f}", "same predictions": same})

        # where the rung's time goes beyond fastText's, one more pass with each step timed alone
        model = FastText(**params)
        model.extra_ = None
        tok_train = timed(lambda: model._lines(X))[0]
        write = timed(lambda: (tmp / "again.txt").write_text(
            "".join(f"{LABEL}{label} {line}\n" for line, label in zip(lines, y_train)), encoding="utf-8"))[0]
        tok_test = timed(lambda: ours._lines(X_test))[0]
        forward = timed(lambda: ours._forward(test_lines))[0]
        parts.append({"config": name, "tokenise train": f"{tok_train * 1000:.0f} ms",
                      "write the training file": f"{write * 1000:.0f} ms",
                      "rest of train": f"{(m['ours train'] - m['own train'] - tok_train - write) * 1000:.0f} ms",
                      "tokenise test": f"{tok_test * 1000:.0f} ms",
                      "batch forward pass (own predict)": f"{forward * 1000:.0f} ms ({m['own k-1'] * 1000:.0f} ms)"})
    print_table(rows, f"fastText: the rung against fastText's own calls, median of {args.repeats}")
    print_table(parts, "Where the rung's time goes beyond fastText's (one pass each; 'rest': median difference less these)")
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
