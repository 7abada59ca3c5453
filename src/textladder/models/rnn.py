"""Recurrent rungs: ``lstm``, ``bilstm``, ``bilstm2`` (the blog's brnn_2), ``gru``, ``bigru``.

The shared sequence front (:mod:`textladder.models.sequence`: tokens, vocabulary, embeddings,
length-bucketed batches) -> packed recurrent layers -> the last hidden state of each direction
(or a max over time) -> the dense head.

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
from typing import ClassVar

import torch
from pydantic import Field
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from textladder.models.neural import dense_head
from textladder.models.registry import register
from textladder.models.sequence import SequenceClassifier, SequenceNet, SequenceParams, keras_init  # noqa: F401

log = logging.getLogger("textladder")


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
                 cell: str = "lstm", bidirectional: bool = False, trainable: bool = True, extra_dim: int = 0):
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


class RecurrentClassifier(SequenceClassifier):
    """The recurrent rungs: a cell, a direction and a default depth over the shared sequence front."""

    net_class = RNNNet
    cell: ClassVar[str] = "lstm"
    bidirectional: ClassVar[bool] = False

    def _net_options(self):
        return {"cell": self.cell, "bidirectional": self.bidirectional}


class _TwoLayers(SequenceParams):
    layers: int = Field(2, ge=1, le=8, description="stacked recurrent layers")


@register("lstm")
class LSTM(RecurrentClassifier):
    """One LSTM layer (the blog's first recurrent rung)."""

    train_cost = (1.0, 0.04, 0.28)  # measured: benchmarks/rung_costs.py (docs/BENCHMARKS.md)


@register("bilstm")
class BiLSTM(RecurrentClassifier):
    """A bidirectional LSTM."""

    bidirectional = True
    train_cost = (1.0, 0.04, 0.44)


@register("bilstm2")
class BiLSTM2(RecurrentClassifier):
    """Trainable Embedding + two stacked bidirectional LSTMs: the blog's brnn_2."""

    Params = _TwoLayers
    bidirectional = True
    train_cost = (1.0, 0.04, 0.79)


@register("gru")
class GRU(RecurrentClassifier):
    """One GRU layer."""

    cell = "gru"
    train_cost = (1.0, 0.05, 0.29)


@register("bigru")
class BiGRU(RecurrentClassifier):
    """A bidirectional GRU."""

    cell = "gru"
    bidirectional = True
    train_cost = (1.0, 0.04, 0.40)
