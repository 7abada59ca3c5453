"""Recurrent rungs: ``lstm``, ``bilstm``, ``bilstm2`` (the blog's brnn_2), ``gru``, ``bigru``.

Text -> Treebank tokens -> ids in a vocabulary of the train split -> an
Embedding (random, word2vec trained on the train split, or a pretrained
vectors file; frozen or trainable) -> packed recurrent layers over
length-bucketed batches -> the last hidden state of each direction (or a max
over time) -> the dense head.

Example:
    >>> import numpy as np, pandas as pd
    >>> X = pd.DataFrame({"text": ["i love my dog", "ran five miles", "my dog is cute", "gym run today"] * 10})
    >>> y = np.array([0, 1, 0, 1] * 10)
    >>> X_val = pd.DataFrame({"text": ["cute dog", "run miles", "my dog", "gym today"]})
    >>> m = BiLSTM(epochs=8, min_count=1, hidden=16, head=[], lr=0.02).fit(X, y, X_val, np.array([0, 1, 0, 1]))
    >>> m.predict(pd.DataFrame({"text": ["cute dog", "run miles"]})).tolist()
    [0, 1]
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from textladder.models.neural import NeuralClassifier, NeuralParams, dense_head
from textladder.models.registry import register
from textladder.text.sequences import SequenceDataset, sequence_loader
from textladder.text.tokenize import tokenize
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
                                                  "'minilm-static' (static vectors distilled from the encoder by "
                                                  "model2vec) or a vectors file (GloVe, word2vec text/binary, "
                                                  "fastText .vec)")
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


def recurrent(cell: str, in_dim: int, p: SequenceParams, bidirectional: bool) -> nn.LSTM | nn.GRU:
    """A (Bi)LSTM or (Bi)GRU of ``p.layers`` layers of ``p.hidden`` units."""
    return (nn.LSTM if cell == "lstm" else nn.GRU)(in_dim, p.hidden, num_layers=p.layers, batch_first=True,
                                                   bidirectional=bidirectional,
                                                   dropout=p.dropout if p.layers > 1 else 0.0)


def run_packed(rnn: nn.Module, x: torch.Tensor, lengths: torch.Tensor, padding_value: float = 0.0,
               outputs: bool = True):
    """Run ``rnn`` over the real tokens only: (outputs (B, T, D) padded with ``padding_value``, or
    None when ``outputs`` is false, and the final hidden state)."""
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, h = rnn(packed)
    if not outputs:
        return None, h
    padded, _ = pad_packed_sequence(out, batch_first=True, padding_value=padding_value, total_length=x.shape[1])
    return padded, h


def _reverse_within(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each row's first ``length`` steps in reverse order, the padding left where it is."""
    t = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
    n = lengths.to(x.device).unsqueeze(1)
    index = torch.where(t < n, n - 1 - t, t)
    return torch.gather(x, 1, index.unsqueeze(2).expand(-1, -1, x.shape[2]))


def _single_layers(rnn: nn.LSTM | nn.GRU) -> list[list[nn.Module]]:
    """One-layer, one-direction copies of ``rnn``'s layers that share its parameters: [layer][direction]."""
    layers = []
    for layer in range(rnn.num_layers):
        row = []
        for d in range(2 if rnn.bidirectional else 1):
            suffix = f"_l{layer}" + ("_reverse" if d else "")
            in_size = rnn.input_size if layer == 0 else rnn.hidden_size * (2 if rnn.bidirectional else 1)
            single = type(rnn)(in_size, rnn.hidden_size, batch_first=True)
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                setattr(single, name + "_l0", getattr(rnn, name + suffix))
            row.append(single.eval())
        layers.append(row)
    return layers


def run_unpacked(rnn: nn.LSTM | nn.GRU, x: torch.Tensor, lengths: torch.Tensor, padding_value: float = 0.0):
    """What :func:`run_packed` gives, from operations ONNX can export with any batch and length: per
    layer, the forward direction over the padded rows (the padding comes after every real step), the
    backward direction over each row reversed within its length. Returns (outputs, final states
    (layers x directions, B, H)); inference only (no dropout between layers)."""
    last = (lengths.to(x.device) - 1).view(-1, 1, 1)
    inputs, finals = x, []
    for row in _single_layers(rnn):
        outs = []
        for d, single in enumerate(row):
            seq = inputs if d == 0 else _reverse_within(inputs, lengths)
            out, _ = single(seq)
            finals.append(torch.gather(out, 1, last.expand(-1, 1, out.shape[2])).squeeze(1))
            outs.append(out if d == 0 else _reverse_within(out, lengths))
        inputs = torch.cat(outs, dim=2)
    real = torch.arange(x.shape[1], device=x.device).unsqueeze(0) < lengths.to(x.device).unsqueeze(1)
    padded = inputs.masked_fill(~real.unsqueeze(2), padding_value)
    return padded, torch.stack(finals)


class RNNNet(SequenceNet):
    """Embedding -> (Bi)LSTM/GRU layers over packed sequences -> pooled features -> dense head."""

    def __init__(self, vocab_size: int, embedding_dim: int, n_classes: int, p: SequenceParams,
                 cell: str, bidirectional: bool, trainable: bool = True, extra_dim: int = 0):
        super().__init__(vocab_size, embedding_dim, p, trainable)
        self.rnn = recurrent(cell, embedding_dim, p, bidirectional)
        self.directions = 2 if bidirectional else 1
        self.pool = p.pool
        self.head = dense_head(p.hidden * self.directions + extra_dim, n_classes, p)
        self.reset_parameters()

    def features(self, batch) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():  # packed sequences do not export; the same sums without them
            out, h = run_unpacked(self.rnn, self.embed(batch), batch["lengths"], padding_value=float("-inf"))
        else:
            out, h = run_packed(self.rnn, self.embed(batch), batch["lengths"], padding_value=float("-inf"),
                                outputs=self.pool == "max")
            h = h[0] if isinstance(h, tuple) else h  # LSTM: (h_n, c_n)
        if self.pool == "max":
            return out.max(dim=1).values
        return torch.cat(list(h[-self.directions:]), dim=1)  # the last layer, every direction


class SequenceClassifier(NeuralClassifier):
    """A rung that reads token sequences: vocabulary, embeddings (random, word2vec, a file) and
    length-bucketed batches. The recurrent rungs fix the cell, the direction and the default
    depth; other sequence nets (``cnn``, ``attention``, ``capsule``) override ``_build_net``."""

    Params: ClassVar = SequenceParams
    cell: ClassVar[str] = "lstm"
    bidirectional: ClassVar[bool] = False
    net_class: ClassVar[type[SequenceNet] | None] = None  # another sequence net, built with (vocab, dim, classes, params)

    def _tokens(self, X) -> list[list[str]]:
        return [tokenize(t) for t in X["text"]]

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
        common = {"trainable": m.get("trainable", True), "extra_dim": self.extra_dim}
        if self.net_class is not None:
            return self.net_class(m["vocab_size"], m["embedding_dim"], n_classes, self.params, **common)
        return RNNNet(m["vocab_size"], m["embedding_dim"], n_classes, self.params, self.cell, self.bidirectional,
                      **common)

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


class _TwoLayers(SequenceParams):
    layers: int = Field(2, ge=1, le=8, description="stacked recurrent layers")


@register("lstm")
class LSTM(SequenceClassifier):
    """One LSTM layer (the blog's first recurrent rung)."""


@register("bilstm")
class BiLSTM(SequenceClassifier):
    """A bidirectional LSTM."""

    bidirectional = True


@register("bilstm2")
class BiLSTM2(SequenceClassifier):
    """Trainable Embedding + two stacked bidirectional LSTMs: the blog's brnn_2."""

    Params = _TwoLayers
    bidirectional = True


@register("gru")
class GRU(SequenceClassifier):
    """One GRU layer."""

    cell = "gru"


@register("bigru")
class BiGRU(SequenceClassifier):
    """A bidirectional GRU."""

    cell = "gru"
    bidirectional = True
