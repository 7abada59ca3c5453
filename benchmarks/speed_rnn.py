"""Seconds per epoch: the blog's brnn_2 in Keras 3 (torch backend) against textladder's ``bilstm2``.

    pip install -e .[bench]     # keras
    .venv/bin/python benchmarks/speed_rnn.py [--rounds 2] [--limit N]

Same data (the HappyDB reference split, the same Treebank tokens and
vocabulary), same machine, same batch size (64), same layers (Embedding 100,
BiLSTM 64 returning sequences, BiLSTM 64, Dense 64 relu, softmax): Keras pads
every text to the blog's 80 tokens, as the blog did; textladder buckets by
length and packs. The two alternate, one epoch each per round, in one process,
so a noisy machine hurts both alike. Both times include the epoch's
validation pass; ours also includes tokenising and building the vocabulary
(Keras gets its padded arrays for free), so the ratio is if anything unfair to us.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
from _common import HM_TRAIN, machine, print_table  # noqa: E402

from textladder.data import SplitConfig, load_dataset, make_split  # noqa: E402
from textladder.models import build  # noqa: E402
from textladder.text.tokenize import tokenize  # noqa: E402
from textladder.text.vocab import Vocab  # noqa: E402
from textladder.data.dataset import encode  # noqa: E402

SEQ_LEN, EMB, HIDDEN, BATCH = 80, 100, 64, 64


def keras_model(vocab_size: int, n_classes: int):
    import keras
    from keras import layers

    keras.utils.set_random_seed(42)
    model = keras.Sequential([
        keras.Input(shape=(SEQ_LEN,), dtype="int32"),
        layers.Embedding(vocab_size, EMB),
        layers.Bidirectional(layers.LSTM(HIDDEN, return_sequences=True)),
        layers.Bidirectional(layers.LSTM(HIDDEN)),
        layers.Dense(64, activation="relu"),
        layers.Dense(n_classes, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def padded(texts, vocab: Vocab) -> np.ndarray:
    out = np.zeros((len(texts), SEQ_LEN), dtype=np.int32)
    for i, t in enumerate(texts):
        ids = vocab.encode(tokenize(t), SEQ_LEN)
        out[i, : len(ids)] = ids  # Keras' pad_sequences(padding="post", truncating="post")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2, help="epochs of each, alternating")
    ap.add_argument("--limit", type=int, default=None, help="use only this many train rows (a quick look)")
    args = ap.parse_args()
    import torch

    ds = load_dataset(HM_TRAIN)
    split = make_split(ds.labels, SplitConfig().resolve(ds.format, len(ds)))
    classes = ds.classes
    y = encode(ds.labels, classes)
    train_idx = split.train[: args.limit] if args.limit else split.train
    tr, va = ds.subset(train_idx), ds.subset(split.val)
    ytr, yva = y[train_idx], y[split.val]
    vocab = Vocab.build((tokenize(t) for t in tr.texts), min_count=2)
    xtr, xva = padded(tr.texts, vocab), padded(va.texts, vocab)
    kmodel = keras_model(len(vocab), len(classes))
    params = {"epochs": 1, "batch_size": BATCH, "hidden": HIDDEN, "embedding_dim": EMB, "head": [64]}
    keras_s, ours_s, ours_acc, keras_acc = [], [], [], []
    work = tempfile.mkdtemp(prefix="speed-rnn-")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; train {len(tr):,} rows", flush=True)
    for r in range(args.rounds):
        start = time.perf_counter()
        hist = kmodel.fit(xtr, ytr, batch_size=BATCH, epochs=1, validation_data=(xva, yva), verbose=0, shuffle=True)
        keras_s.append(time.perf_counter() - start)
        keras_acc.append(hist.history["val_accuracy"][-1])
        start = time.perf_counter()
        ours = build("bilstm2", {**params, "epochs": r + 1, "seed": 42})
        # round r+1 continues the same model from the previous round's checkpoint
        ours.use_work_dir(work, resume=r > 0)
        ours.fit(tr.frame(), ytr, va.frame(), yva)
        ours_s.append(time.perf_counter() - start)
        ours_acc.append(ours.history_[-1]["val_accuracy"])
        print(f"round {r + 1}: keras {keras_s[-1]:.1f} s (val acc {keras_acc[-1]:.4f}), "
              f"textladder {ours_s[-1]:.1f} s (val acc {ours_acc[-1]:.4f})", flush=True)
    rows = []
    for r in range(args.rounds):
        rows.append({"epoch": r + 1, "keras 3 (torch) s": f"{keras_s[r]:.1f}", "textladder bilstm2 s": f"{ours_s[r]:.1f}",
                     "ratio ours/keras": f"{ours_s[r] / keras_s[r]:.2f}", "keras val acc": f"{keras_acc[r]:.4f}",
                     "ours val acc": f"{ours_acc[r]:.4f}"})
    rows.append({"epoch": "mean", "keras 3 (torch) s": f"{np.mean(keras_s):.1f}",
                 "textladder bilstm2 s": f"{np.mean(ours_s):.1f}",
                 "ratio ours/keras": f"{np.mean(ours_s) / np.mean(keras_s):.2f}", "keras val acc": "",
                 "ours val acc": ""})
    print_table(rows, f"brnn_2 seconds per epoch, batch {BATCH}, train {len(tr):,} rows; {machine()}")


if __name__ == "__main__":
    main()
