"""``contextual``: frozen transformer sentence embeddings + a dense head (the blog's ELMo rung).

Each text is embedded once by the encoder (sentence-transformers; default the packaged
all-MiniLM-L6-v2, ``encoder`` for any local Hugging Face folder), and the embedding is cached on
disk keyed by encoder and text (:class:`~textladder.embeddings.encoder.SentenceCache`), so a
second run over the same texts skips the encoder. The embeddings are standardised with the train
mean and deviation and go into the dense head, trained in the one Lightning loop.

Saved: the head (safetensors), the mean and scale (safetensors), and which encoder (``model.json``:
``"minilm"`` for the packaged one, else its folder, with the hash of its files: a run refuses to
load with an encoder whose files differ).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import Field

from textladder.errors import RunError
from textladder.models.neural import NeuralParams, VectorClassifier
from textladder.models.registry import register

log = logging.getLogger("textladder")

ARRAYS = "standardise.safetensors"


class ContextualParams(NeuralParams):
    encoder: str | None = Field(None, description="Hugging Face model folder; default the packaged all-MiniLM-L6-v2")
    head: list[int] = Field([256], description="sizes of the hidden dense layers")
    epochs: int = Field(30, ge=1, description="most epochs; the best by validation macro-F1 is kept")
    patience: int = Field(5, ge=1, description="stop after this many epochs without a better validation macro-F1")
    batch_size: int = Field(128, ge=1)
    lr: float = Field(1e-3, gt=0, description="Adam learning rate")
    encode_batch: int = Field(64, ge=1, description="texts per encoder batch")
    max_length: int = Field(256, ge=8, description="encoder reads at most this many sub-word tokens per text")


_ENCODERS: dict = {}  # (the encoder's files' hash, max_length) -> the frozen encoder, shared in this process


@register("contextual")
class Contextual(VectorClassifier):
    """Frozen sentence embeddings of a pretrained transformer into a dense head."""

    family = "pretrained encoder, frozen"

    Params: ClassVar = ContextualParams
    # encoding every row once (train, validation and test) is nearly all of it; encodings are cached, so a
    # second run on the same texts costs a few seconds. Measured: benchmarks/rung_costs.py (docs/BENCHMARKS.md)
    train_cost = (14.0, 3.5, 0.01)
    caches_features = True  # the sentence embeddings (SentenceCache)
    cost_words = 21.0  # HappyDB's mean: encoding costs as the sub-word tokens a text is cut to (max_length)

    @classmethod
    def words_read(cls, params) -> float:
        from textladder.embeddings.encoder import WORDPIECES_PER_WORD

        return params.max_length / WORDPIECES_PER_WORD
    write_cache = True  # add newly encoded texts to the on-disk sentence cache

    @staticmethod
    def search_space(trial) -> dict:
        """What a search tries: the dense head (its width and depth), dropout, learning rate, weight decay
        and batch size. The texts are encoded once (cached): each trial trains only the head, in seconds."""
        width = trial.suggest_categorical("head_width", [0, 128, 256, 512])
        depth = trial.suggest_int("head_layers", 1, 2) if width else 0
        return {
            "head": [width] * depth,
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
            "lr": trial.suggest_float("lr", 1e-4, 3e-3, log=True),
            "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
        }

    @classmethod
    def search_start(cls, params) -> dict:
        """The first trial: the defaults, as the search space names the head."""
        start = params.model_dump(mode="json")
        head = start.pop("head")
        return {**start, "head_width": head[0] if head else 0, "head_layers": len(head)}

    # -- the encoder, once per process ------------------------------------------------------------
    def _encoder(self):
        from textladder.embeddings.encoder import encoder_key, offline, resolve_encoder

        if getattr(self, "encoder_", None) is None:
            offline()
            from sentence_transformers import SentenceTransformer

            path = resolve_encoder(self.meta_.get("encoder") or self.params.encoder)
            key = encoder_key(path)
            if self.meta_.get("encoder_key", key) != key:
                raise RunError(f"{path}: this encoder's files differ from the one the run was trained with "
                               f"(hash {key}, expected {self.meta_['encoder_key']})")
            if (key, self.params.max_length) not in _ENCODERS:  # loaded (and its load report printed) once
                model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
                model.max_seq_length = self.params.max_length
                _ENCODERS[(key, self.params.max_length)] = model
            self.encoder_, self.encoder_path_, self.encoder_key_ = _ENCODERS[(key, self.params.max_length)], path, key
        return self.encoder_

    def embed(self, texts) -> np.ndarray:
        """Raw sentence embeddings of ``texts``: from the cache, the rest from the encoder (then cached)."""
        from textladder.embeddings.encoder import SentenceCache

        texts = [str(t) for t in texts]
        model = self._encoder()
        dim = (model.get_embedding_dimension if hasattr(model, "get_embedding_dimension")
               else model.get_sentence_embedding_dimension)()
        cache = SentenceCache(self.encoder_path_, dim, self.params.max_length)
        try:
            out, found = cache.get(texts)
            missing = np.flatnonzero(~found)
            if len(missing):
                todo = list(dict.fromkeys(texts[i] for i in missing))
                log.info("encoding %d texts with %s (%d found in the cache)", len(todo), self.encoder_path_.name,
                         int(found.sum()))
                vectors = model.encode(todo, batch_size=self.params.encode_batch, convert_to_numpy=True,
                                       show_progress_bar=self.progress)
                if self.write_cache:  # off when serving (prepare_to_serve)
                    cache.put(todo, vectors)
                index = {t: i for i, t in enumerate(todo)}
                out[missing] = vectors[[index[texts[i]] for i in missing]]
        finally:
            cache.close()
        return out

    def prepare_to_serve(self) -> None:
        """Request texts are read from the sentence cache but never added to it: a server's cache would
        otherwise grow by about 2 KB for every new text it is sent."""
        self.write_cache = False

    # -- the rung -----------------------------------------------------------------------------------
    def _prepare(self, X, y) -> None:
        from textladder.embeddings.encoder import DEFAULT

        raw = self.embed(X["text"])
        self.mean_, self.scale_ = raw.mean(axis=0), raw.std(axis=0) + 1e-6
        self.meta_.update(in_dim=int(raw.shape[1]), encoder=self.params.encoder or DEFAULT,
                          encoder_key=self.encoder_key_)

    def sentence_vectors(self, texts) -> np.ndarray:
        """The standardised sentence embedding of each text."""
        return ((self.embed(texts) - self.mean_) / self.scale_).astype(np.float32)

    def _save_extra(self, folder: Path) -> None:
        from safetensors.numpy import save_file

        save_file({"mean": self.mean_.astype(np.float32), "scale": self.scale_.astype(np.float32)},
                  str(folder / ARRAYS))

    def _load_extra(self, folder: Path) -> None:
        from safetensors.numpy import load_file

        try:
            arrays = load_file(str(folder / ARRAYS))
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the same problem for the user
            raise RunError(f"{folder / ARRAYS}: cannot read ({exc})") from None
        self.mean_, self.scale_ = arrays["mean"], arrays["scale"]
