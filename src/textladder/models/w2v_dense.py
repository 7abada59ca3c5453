"""``w2v-dense``, ``w2v-dense2``: the blog's "zeroth model".

word2vec is trained (gensim) on the train split; a sentence is the TF-IDF
weighted mean of its words' vectors (words in at least ``min_df`` train
texts, smooth idf as scikit-learn computes it), standardised with the train
mean and deviation, then a dense net with one or two hidden layers.

Everything it learns is arrays (vectors, idf, mean, scale) and a word list, so
it saves as safetensors + JSON.

Example:
    >>> import numpy as np, pandas as pd
    >>> X = pd.DataFrame({"text": ["i love my dog", "ran five miles", "my dog is cute", "gym run today"] * 10})
    >>> y = np.array([0, 1, 0, 1] * 10)
    >>> m = W2VDense(epochs=30, min_df=1, w2v_min_count=1, lr=0.02, w2v_epochs=30).fit(X, y, X, y)
    >>> m.predict(pd.DataFrame({"text": ["my cute dog", "ran miles today"]})).tolist()
    [0, 1]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from textladder.errors import RunError
from textladder.models.neural import NeuralParams, VectorClassifier
from textladder.models.registry import register
from textladder.text.tokenize import tokenize_many

ARRAYS, WORDS = "sentence_vectors.safetensors", "words.json"


class W2VDenseParams(NeuralParams):
    head: list[int] = Field([256], description="sizes of the hidden dense layers")
    embedding_dim: int = Field(100, ge=1, description="word2vec vector size")
    w2v_epochs: int = Field(10, ge=1, description="word2vec training epochs")
    w2v_min_count: int = Field(2, ge=1, description="word2vec ignores rarer words")
    min_df: int = Field(3, ge=1, description="TF-IDF weights only for words in at least this many train texts")
    epochs: int = Field(30, ge=1, description="most epochs; the best by validation macro-F1 is kept")
    patience: int = Field(5, ge=1, description="stop after this many epochs without a better validation macro-F1")
    batch_size: int = Field(256, ge=1)


class _TwoLayers(W2VDenseParams):
    head: list[int] = Field([256, 128], description="sizes of the hidden dense layers")


@register("w2v-dense")
class W2VDense(VectorClassifier):
    """TF-IDF-weighted mean of word2vec vectors, standardised, into a one-hidden-layer dense net."""

    family = "word vectors"

    Params: ClassVar = W2VDenseParams
    train_cost = (0.9, 0.24, 0.003)  # measured: benchmarks/rung_costs.py (docs/BENCHMARKS.md)

    def _prepare(self, X, y) -> None:
        from textladder.embeddings.vectors import train_word2vec

        p = self.params
        tokens = tokenize_many(X["text"])
        kv = train_word2vec(tokens, dim=p.embedding_dim, min_count=p.w2v_min_count, epochs=p.w2v_epochs, seed=p.seed)
        counts = self._counts(tokens, {w: i for i, w in enumerate(kv.index_to_key)})
        df = np.asarray((counts > 0).sum(axis=0)).ravel()
        keep = np.flatnonzero(df >= p.min_df)
        self.words_ = [kv.index_to_key[i] for i in keep]
        self.index_ = {w: i for i, w in enumerate(self.words_)}
        self.vectors_ = kv.vectors[keep].astype(np.float32)
        n = len(tokens)
        self.idf_ = (np.log((1 + n) / (1 + df[keep])) + 1).astype(np.float32)
        raw = self._embed_tokens(tokens, standardise=False)
        self.mean_ = raw.mean(axis=0)
        self.scale_ = raw.std(axis=0) + 1e-6
        self.meta_.update(in_dim=int(p.embedding_dim), words=len(self.words_))

    @staticmethod
    def _counts(tokens: list[list[str]], index: dict[str, int]) -> sp.csr_matrix:
        rows, cols = [], []
        for r, toks in enumerate(tokens):
            ids = [index[t] for t in toks if t in index]
            rows.extend([r] * len(ids))
            cols.extend(ids)
        data = np.ones(len(rows), dtype=np.float32)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(tokens), len(index)))

    def _embed_tokens(self, tokens: list[list[str]], standardise: bool = True) -> np.ndarray:
        weights = self._counts(tokens, self.index_).multiply(self.idf_[None, :]).tocsr()
        total = np.asarray(weights.sum(axis=1)).ravel()
        x = np.asarray(weights @ self.vectors_) / np.maximum(total, 1e-9)[:, None]  # no known word: zeros
        x = x.astype(np.float32)
        return (x - self.mean_) / self.scale_ if standardise else x

    def sentence_vectors(self, texts) -> np.ndarray:
        """The standardised sentence vector of each text."""
        return self._embed_tokens(tokenize_many(texts)).astype(np.float32)

    def _save_extra(self, folder: Path) -> None:
        from safetensors.numpy import save_file

        save_file({"vectors": self.vectors_, "idf": self.idf_, "mean": self.mean_.astype(np.float32),
                   "scale": self.scale_.astype(np.float32)}, str(folder / ARRAYS))
        (folder / WORDS).write_text(json.dumps(self.words_, ensure_ascii=False) + "\n", encoding="utf-8")

    def _load_extra(self, folder: Path) -> None:
        from safetensors.numpy import load_file

        try:
            arrays = load_file(str(folder / ARRAYS))
            self.words_ = json.loads((folder / WORDS).read_text(encoding="utf-8"))
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the same problem for the user
            raise RunError(f"{folder}: cannot read the sentence-vector files ({exc})") from None
        self.index_ = {w: i for i, w in enumerate(self.words_)}
        self.vectors_, self.idf_, self.mean_, self.scale_ = (arrays[k] for k in ("vectors", "idf", "mean", "scale"))

    has_word_vectors = True

    def word_vectors(self):
        return list(self.words_), self.vectors_


@register("w2v-dense2")
class W2VDense2(W2VDense):
    """The same sentence vectors into a two-hidden-layer dense net."""

    Params = _TwoLayers
    train_cost = (0.8, 0.2, 0.005)
