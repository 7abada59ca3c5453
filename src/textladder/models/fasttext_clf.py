"""``fasttext``: the fastText library's supervised classifier (Joulin et al., 2016).

Text -> lower-cased Treebank tokens (the same as every other rung) -> fastText: an average of
word embeddings (and, with ``word_ngrams`` > 1, of word n-grams hashed into ``bucket`` rows)
into a softmax. On HappyDB words alone do best (validation macro-F1 0.897 against 0.871 with
bigrams: docs/BENCHMARKS.md). With
``--features period`` the period joins each text as one more token (``__period__24h``), so it
enters the same average as the words. Saved in fastText's own binary format (``model.bin``, no
pickle), read back with ``fasttext.load_model``.

Training is in C++ and takes seconds. fastText's ``DenseMatrix::uniform`` fills only ``thread``
tenths of the input matrix, and the builds on PyPI leave the rest uninitialised: with one thread
90% of the word vectors start as leftover heap memory, which gives runs that differ with the same
seed and, often on small data, ``Encountered NaN``. With the GNU C library (Linux) textladder asks
the allocator to hand out zeroed memory while fastText builds its matrices (glibc's ``M_PERTURB``,
checked once per process by a probe): the first tenth starts uniform from ``seed``, the rest at zero, and
runs repeat exactly, n-gram models included. Elsewhere it writes a uniform vector for every word
itself and hands them over as ``pretrainedVectors`` (about 0.5 s more on HappyDB); hashed n-gram
rows cannot be handed over that way, so there n-gram models train with at least 10 threads, which
initialises every row, and runs differ a little (Hogwild updates). On HappyDB both starts give the
same accuracy to within 0.001 (docs/BENCHMARKS.md "fastText against its own calls").
fastText has no class weights: ``--balance class-weight`` is refused; use
``--balance oversample`` (which resamples the train rows before fastText sees them).

Example:
    >>> import numpy as np, pandas as pd
    >>> X = pd.DataFrame({"text": ["i love my dog", "ran five miles", "my dog is cute", "gym run today"] * 10})
    >>> y = np.array([0, 1, 0, 1] * 10)
    >>> m = FastText(epochs=20, min_count=1).fit(X, y)
    >>> m.predict(pd.DataFrame({"text": ["cute dog", "run miles"]})).tolist()
    [0, 1]
"""

from __future__ import annotations

import ctypes
import functools
import json
import logging
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from textladder.errors import RunError, TextladderError, option
from textladder.features import ExtraInputs
from textladder.models.base import Params, TextClassifier
from textladder.models.registry import register
from textladder.text.tokenize import token_lines

log = logging.getLogger("textladder")

_HEAP = threading.Lock()
_M_PERTURB = -6  # glibc's mallopt: fill each allocation with the complement of this byte (0xff: zeros)
_ZEROING: dict[str, bool] = {}  # whether M_PERTURB zeroes this process's allocations: decided once


@functools.cache
def _glibc():
    """The GNU C library, when it is the one that serves ``malloc`` (not jemalloc or tcmalloc
    preloaded in its place), else None. Looked up once per process."""
    import ctypes.util

    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version, libc.mallopt, libc.malloc, libc.free  # noqa: B018  (only glibc has them all)
        own = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        if ctypes.cast(libc.malloc, ctypes.c_void_p).value != ctypes.cast(own.malloc, ctypes.c_void_p).value:
            return None
    except (OSError, AttributeError):
        return None
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    return libc


def _zeroes(libc) -> bool:
    """With M_PERTURB on: does a heap block that was dirtied and freed come back zeroed? Asked 20 times,
    decided by the answers where the same block came back. When it never does (after ``import mlflow``, in
    about one process in 8, the heap hands out another block each time), there is nothing against glibc's
    documented behaviour, and zeroing is taken as on: a probe that could not ask must not make this process
    start its fastText models differently from every other (it did, and Ray and local runs differed)."""
    size = 4096  # above the per-thread cache, below the mmap threshold: a reused heap block
    votes = {True: 0, False: 0}
    for _ in range(20):
        a = libc.malloc(size)
        ctypes.memset(a, 0xAB, size)
        libc.free(a)
        b = libc.malloc(size)
        same, zero = b == a, ctypes.string_at(b, size) == bytes(size)
        libc.free(b)
        if same:
            votes[zero] += 1
    return votes[True] >= votes[False]


@contextmanager
def _zeroed_heap():
    """While inside, memory from ``malloc`` starts zeroed (GNU C library only). Yields whether that
    holds, decided once per process (so every fit in a process starts the same way): a probe dirties
    a block, frees it and checks that taking it again gives zeros."""
    libc = _glibc()
    if libc is None:
        yield False
        return
    with _HEAP:
        try:
            on = bool(libc.mallopt(_M_PERTURB, 0xFF))
            if on and "zeroes" not in _ZEROING:
                _ZEROING["zeroes"] = _zeroes(libc)
            yield on and _ZEROING.get("zeroes", False)
        finally:
            libc.mallopt(_M_PERTURB, 0)


def extra_token(column: str, value: str) -> str:
    """An extra input as one more token of the text: ``__period__24h``."""
    return f"__{column}__{value}"

MODEL_FILE, META = "model.bin", "model.json"
FASTTEXT_MAGIC, FASTTEXT_VERSION = 793712314, 12  # fastText's binary format (src/fasttext.cc, version 12)
MOST_DIM, MOST_WORD_BYTES = 10_000, 1 << 16  # beyond any model textladder writes: a forged header


def check_binary(path: str | Path) -> None:
    """Refuse a ``model.bin`` that is not a complete fastText supervised model before fastText reads it:
    its header, every count and size checked against the file's length (a forged size would otherwise make
    fastText allocate without bound, or hang), the dictionary's words walked through a memory map (nothing
    is read into memory), no quantised matrices, and nothing left over at the end. One
    :class:`~textladder.errors.RunError` line names the file and what is wrong.

    Example:
        >>> import tempfile
        >>> bad = Path(tempfile.mkdtemp()) / "model.bin"
        >>> _ = bad.write_bytes(b"\\xba\\x16O/\\x0c\\x00\\x00\\x00" + bytes(40))
        >>> check_binary(bad)
        Traceback (most recent call last):
        ...
        textladder.errors.RunError: ...model.bin: model file damaged: not a complete fastText model (it ends inside its header)
    """
    import mmap
    import struct

    path = Path(path)

    def bad(why: str) -> RunError:
        return RunError(f"{path}: model file damaged: not a complete fastText model ({why})")

    size = path.stat().st_size
    if size < 8:
        raise bad("it ends inside its header")
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        at = 0

        def take(fmt: str, what: str) -> tuple:
            nonlocal at
            n = struct.calcsize(fmt)
            if at + n > size:
                raise bad(f"it ends inside its {what}")
            values = struct.unpack_from(fmt, data, at)
            at += n
            return values

        magic, version = take("<ii", "header")
        if magic != FASTTEXT_MAGIC or version != FASTTEXT_VERSION:
            raise bad(f"magic number {magic}, version {version}; expected {FASTTEXT_MAGIC}, {FASTTEXT_VERSION}")
        dim, _ws, _epoch, _min_count, _neg, _ngrams, _loss, model, bucket, _minn, _maxn, _lr_update = \
            take("<12i", "header")[:12]
        take("<d", "header")
        if not 0 < dim <= MOST_DIM or bucket < 0 or model != 3:  # model 3: supervised
            raise bad(f"dimension {dim}, buckets {bucket}, model kind {model}")
        words_and_labels, nwords, nlabels = take("<3i", "dictionary")
        _ntokens, pruned = take("<2q", "dictionary")
        if min(nwords, nlabels) < 0 or words_and_labels != nwords + nlabels or nlabels < 1:
            raise bad(f"{words_and_labels} entries for {nwords} words and {nlabels} labels")
        if words_and_labels * 10 > size - at:  # each entry: at least one byte, its NUL, a count and a type
            raise bad(f"{words_and_labels:,} dictionary entries cannot fit in its {size:,} bytes")
        for _ in range(words_and_labels):
            end = data.find(b"\0", at, min(size, at + MOST_WORD_BYTES))
            if end < 0:
                raise bad("a dictionary word without its end")
            at = end + 1
            take("<qb", "dictionary")
        if pruned > 0:
            if pruned * 8 > size - at:
                raise bad(f"{pruned:,} pruned entries cannot fit in its {size:,} bytes")
            at += pruned * 8
        for name, rows in (("input", nwords + bucket), ("output", nlabels)):
            (quantised,) = take("<?", f"{name} matrix")
            if quantised:
                raise bad(f"a quantised {name} matrix, which textladder never writes")
            m, n = take("<2q", f"{name} matrix")
            if m != rows or n != dim:
                raise bad(f"its {name} matrix is {m:,} x {n:,}; its header says {rows:,} x {dim}")
            if m * n * 4 > size - at:
                raise bad(f"its {name} matrix needs {m * n * 4:,} bytes; {size - at:,} are left")
            at += m * n * 4
        if at != size:
            raise bad(f"{size - at:,} bytes after its last matrix")
TUNED_ROWS = 46_172  # HappyDB's train rows, where the defaults and the portfolio were tuned
MOST_EPOCHS = 300  # the most passes a search tries on small data
AUTOTUNE_TRIES = 3  # fastText's autotune sometimes diverges (NaN) when it trains with what it chose
LABEL = "__label__"


class FastTextParams(Params):
    lr: float = Field(0.5, gt=0, description="learning rate")
    epochs: int = Field(10, ge=1, description="passes over the train split")
    dim: int = Field(100, ge=1, description="size of the word and n-gram vectors")
    word_ngrams: int = Field(1, ge=1, le=5, description="word n-grams from 1 to this (HappyDB: 2 overfits)")
    min_count: int = Field(1, ge=1, description="words seen fewer times are dropped")
    minn: int = Field(0, ge=0, description="shortest character n-gram (0: none)")
    maxn: int = Field(0, ge=0, description="longest character n-gram (0: none)")
    bucket: int = Field(200_000, ge=1, description="hash buckets for the n-grams (the model file grows with it)")
    loss: Literal["softmax", "ova", "hs", "ns"] = Field("softmax", description="softmax; ova: one-vs-all "
                                                        "(independent sigmoids); hs: hierarchical softmax; ns: "
                                                        "negative sampling")
    thread: int = Field(1, ge=1, description="training threads; 1 is deterministic (off Linux, n-gram models use at "
                                             "least 10)")
    seed: int = 42

    @model_validator(mode="after")
    def _whole_rows(self):
        if self.uses_buckets and self.dim % 10:
            raise ValueError("with word n-grams or character n-grams, dim must be a multiple of 10 (fastText "
                             "initialises the input matrix in tenths)")
        return self

    @property
    def uses_buckets(self) -> bool:
        return self.word_ngrams > 1 or self.maxn > 0


@register("fasttext")
class FastText(TextClassifier):
    """fastText's supervised classifier over word n-grams."""

    family = "fastText"
    train_cost = (1.0, 0.02, 0.006)  # measured: benchmarks/rung_costs.py (docs/BENCHMARKS.md)

    Params = FastTextParams

    # The best of a 103-trial search on HappyDB (docs/BENCHMARKS.md "Search"): unigrams, a low rate, long training
    search_portfolio = [{"loss": "softmax", "lr": 0.08, "epochs": 27, "dim": 200, "word_ngrams": 1, "min_count": 1}]

    @staticmethod
    def search_space(trial, most_epochs: int = 60) -> dict:
        """What a search tries: learning rate, epochs, vector size, word n-grams, rare words, the loss."""
        return {
            "loss": trial.suggest_categorical("loss", ["softmax", "ova"]),
            "lr": trial.suggest_float("lr", 0.05, 1.0, log=True),
            "epochs": trial.suggest_int("epochs", 5, most_epochs),
            "dim": trial.suggest_categorical("dim", [50, 100, 200]),
            "word_ngrams": trial.suggest_int("word_ngrams", 1, 2),
            "min_count": trial.suggest_int("min_count", 1, 3),
        }

    @staticmethod
    def epoch_scale(train_rows: int) -> float:
        """How many more passes ``train_rows`` rows need to see as many examples as the defaults and the
        portfolio were tuned on (HappyDB's 46,172 train rows), from 1 to 10: on a few thousand rows ten passes
        are too few updates, and a search that starts there can end at the majority class."""
        return float(min(10.0, max(1.0, TUNED_ROWS / max(train_rows, 1))))

    @classmethod
    def first_trials(cls, params, train_rows: int, words: float) -> list[dict]:
        """The defaults and the portfolio, then (on fewer rows than they were tuned on) both with their
        epochs scaled by :meth:`epoch_scale`, at most :data:`MOST_EPOCHS`."""
        first = super().first_trials(params, train_rows, words)
        scale = cls.epoch_scale(train_rows)
        if scale < 1.5:
            return first
        scaled = [{**t, "epochs": min(MOST_EPOCHS, round(t.get("epochs", params.epochs) * scale))} for t in first]
        return first + scaled

    @classmethod
    def data_space(cls, trial, train_rows: int, words: float) -> dict:
        """The search space with its most epochs scaled as :meth:`first_trials` scales them."""
        return cls.search_space(trial, min(MOST_EPOCHS, round(60 * cls.epoch_scale(train_rows))))

    @classmethod
    def autotune(cls, X: pd.DataFrame, y: np.ndarray, X_val: pd.DataFrame, y_val: np.ndarray, seconds: float) -> dict:
        """fastText's own search (its ``autotune``: learning rate, epochs, dimension, n-grams, character
        n-grams, buckets, loss) for ``seconds``, validated on ``X_val`` by accuracy (fastText's micro F1;
        it has no macro-F1). Returns the parameters it chose, as this rung's ``Params`` take them: a fast
        path beside ``textladder search``'s TPE. ``y``, ``y_val``: label indices."""
        import fasttext

        reader = cls()
        reader.extra_ = None
        with tempfile.TemporaryDirectory(prefix="textladder-fasttext-") as tmp:
            files = []
            for name, frame, labels in (("train", X, y), ("val", X_val, y_val)):
                path = Path(tmp) / f"{name}.txt"
                with path.open("w", encoding="utf-8") as f:
                    for line, label in zip(reader._lines(frame), labels):
                        f.write(f"{LABEL}{int(label)} {line}\n")
                files.append(str(path))
            for attempt in range(1, AUTOTUNE_TRIES + 1):
                try:
                    model = fasttext.train_supervised(input=files[0], autotuneValidationFile=files[1],
                                                      autotuneDuration=max(int(seconds), 1), verbose=0)
                    break
                except RuntimeError as exc:  # its last training, with the arguments it chose, can diverge
                    if "NaN" not in str(exc) or attempt == AUTOTUNE_TRIES:
                        raise TextladderError(f"fastText's autotune failed {attempt} times ({exc}); search with "
                                              "textladder's own search (Optuna) instead") from None
                    log.info("fastText's autotune diverged (%s); trying again (%d of %d)", exc, attempt + 1,
                             AUTOTUNE_TRIES)
        a = model.f.getArgs()
        chosen = {"lr": round(float(a.lr), 6), "epochs": int(a.epoch), "dim": int(a.dim), "word_ngrams": int(a.wordNgrams),
                  "min_count": int(a.minCount), "minn": int(a.minn), "maxn": int(a.maxn), "bucket": max(int(a.bucket), 1),
                  "loss": a.loss.name}
        if (chosen["word_ngrams"] > 1 or chosen["maxn"] > 0) and chosen["dim"] % 10:
            chosen["dim"] = max(10, round(chosen["dim"] / 10) * 10)  # this rung's initial vectors need tenths
        return chosen

    def _lines(self, X: pd.DataFrame) -> list[str]:
        texts = token_lines(X["text"])
        if self.extra_ is None:
            return texts
        columns = self.extra_.clean(X, f"this '{self.name}' model")
        return [" ".join([t, *(extra_token(c, v[i]) for c, v in columns.items())]) for i, t in enumerate(texts)]

    def _fit(self, X, y, X_val=None, y_val=None):
        import fasttext

        p = self.params
        self.forward_ = None
        self.extra_ = ExtraInputs.fit(X, self.features, self.name)
        self.n_classes_ = int(max(y.max(), -1 if y_val is None else y_val.max())) + 1
        lines = self._lines(X)
        with tempfile.TemporaryDirectory(prefix="textladder-fasttext-") as tmp, _zeroed_heap() as zeroed:
            path = Path(tmp) / "train.txt"
            path.write_text("".join(f"{LABEL}{int(label)} {line}\n" for line, label in zip(lines, y)), encoding="utf-8")
            start = {}
            if not zeroed:
                start["pretrainedVectors"] = str(Path(tmp) / "init.vec")
                self._write_initial_vectors(lines, Path(start["pretrainedVectors"]))
            try:
                self.model_ = fasttext.train_supervised(
                    input=str(path), lr=p.lr, epoch=p.epochs, dim=p.dim, wordNgrams=p.word_ngrams,
                    minCount=p.min_count, minn=p.minn, maxn=p.maxn, bucket=p.bucket,
                    thread=max(p.thread, 10) if p.uses_buckets and not zeroed else p.thread, seed=p.seed,
                    loss=p.loss, verbose=0, **start)
            except RuntimeError as exc:
                if "NaN" not in str(exc):
                    raise
                raise TextladderError(f"fastText diverged (NaN) with lr {p.lr}; try a smaller one, "
                                      f"e.g. {option('set', f'lr={p.lr / 2:g}')}") from None

    def _write_initial_vectors(self, lines: list[str], path: Path) -> None:
        """Every word fastText will keep (and its end-of-line token), uniform in +-1/dim from ``seed``."""
        from collections import Counter

        p = self.params
        counts = Counter(w for line in lines for w in line.split())
        words = ["</s>"] + [w for w, c in counts.items() if c >= p.min_count]
        rng = np.random.default_rng(p.seed)
        matrix = rng.uniform(-1 / p.dim, 1 / p.dim, size=(len(words), p.dim)).astype(np.float32)
        with path.open("w", encoding="utf-8") as f:
            f.write(f"{len(words)} {p.dim}\n")
            for word, row in zip(words, matrix):
                f.write(word + " " + " ".join(f"{v:.7g}" for v in row) + "\n")

    def _predict_proba(self, X) -> np.ndarray:
        lines = self._lines(X)
        args = self.model_.f.getArgs()
        if args.wordNgrams > 1 or args.maxn > 0 or args.loss.name != "softmax":
            out = self._fasttext_proba(lines)  # hashed n-grams; sigmoids from fastText's lookup table
        else:
            out = self._forward(lines)
        return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12)

    def _fasttext_proba(self, lines: list[str]) -> np.ndarray:
        """fastText's own ``predict`` for every class (a little above the true probability: it
        adds 1e-5 to each before its log)."""
        names, probs = self.model_.predict(lines, k=-1, threshold=0.0)
        out = np.zeros((len(lines), self.n_classes_), dtype=np.float32)
        if len(lines):
            index = {name: int(name[len(LABEL):]) for name in self.model_.get_labels()}
            columns = np.array([index[name] for row in names for name in row]).reshape(len(lines), -1)
            np.put_along_axis(out, columns, np.asarray(probs, dtype=np.float32), axis=1)
        return out

    def _forward(self, lines: list[str]) -> np.ndarray:
        """fastText's forward pass for a words-only softmax model, for all lines at once: the mean
        of the line's known words' input vectors and of the end-of-line token's, times the output
        matrix, then softmax. The model is linear up to the softmax, so each word's class scores
        (input row times output matrix) are computed once and averaged per line. fastText's
        ``predict`` does the same line by line; this is faster on a batch (docs/BENCHMARKS.md), and
        agrees with it to 2e-4 (tests/test_fasttext.py)."""
        import scipy.sparse as sp

        if getattr(self, "forward_", None) is None:  # each word's class scores: input row times the output matrix
            words = self.model_.get_words()
            self.forward_ = ({w: i for i, w in enumerate(words)},
                             self.model_.get_input_matrix() @ self.model_.get_output_matrix().T,
                             np.array([int(name[len(LABEL):]) for name in self.model_.get_labels()]))
        vocab, word_scores, columns = self.forward_
        eos, get, ids, counts = vocab["</s>"], vocab.get, [], np.empty(len(lines), dtype=np.int64)
        for row, line in enumerate(lines):
            known = [i for i in map(get, line.split()) if i is not None]
            known.append(eos)
            ids.extend(known)
            counts[row] = len(known)
        mean = sp.csr_matrix((np.repeat(1 / counts, counts).astype(np.float32), ids,
                              np.concatenate([[0], np.cumsum(counts)])), shape=(len(lines), len(word_scores)))
        scores = mean @ word_scores  # = (mean of the input rows) @ output.T, a product fewer per text
        probs = np.exp(scores - scores.max(axis=1, keepdims=True))
        out = np.zeros((len(lines), self.n_classes_), dtype=np.float32)
        out[:, columns] = probs
        return out

    has_word_vectors = True

    def word_vectors(self) -> tuple[list[str], np.ndarray]:
        """fastText's words (most frequent first, the end-of-line token left out) and their input vectors."""
        extra = {extra_token(c, v) for c, cats in (self.extra_.categories.items() if self.extra_ else ()) for v in cats}
        words = [w for w in self.model_.get_words() if w != "</s>" and w not in extra]
        return words, np.stack([self.model_.get_word_vector(w) for w in words]) if words else np.zeros((0, 1))

    def _save(self, folder: Path) -> None:
        folder = Path(folder)
        self.model_.save_model(str(folder / MODEL_FILE))
        meta = {"model": self.name, "n_classes": self.n_classes_,
                "features": None if self.extra_ is None else self.extra_.categories}
        (folder / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    def _load(self, folder: Path) -> None:
        import fasttext

        folder = Path(folder)
        try:
            meta = json.loads((folder / META).read_text(encoding="utf-8"))
            check_binary(folder / MODEL_FILE)
            self.model_ = fasttext.load_model(str(folder / MODEL_FILE))
        except (OSError, ValueError) as exc:
            raise RunError(f"{folder}: cannot read the fastText model ({exc})") from None
        self.n_classes_ = int(meta["n_classes"])
        self.extra_ = ExtraInputs.from_meta(meta)
        self.forward_ = None

