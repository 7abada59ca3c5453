"""``cnn``: multi-width 1-D convolutions over word embeddings, max-pooled over time (Kim, 2014).

Text -> token ids (the vocabulary and embeddings of the sequence rungs) -> one Conv1d per width
(``widths``, ``filters`` each, ReLU) -> the maximum of each filter over the real positions of the
text (padding never wins the max) -> concatenated -> the dense head.

Example:
    >>> import numpy as np, pandas as pd
    >>> X = pd.DataFrame({"text": ["i love my dog", "ran five miles", "my dog is cute", "gym run today"] * 10})
    >>> y = np.array([0, 1, 0, 1] * 10)
    >>> X_val, y_val = pd.DataFrame({"text": ["cute dog", "run miles", "my dog", "gym today"]}), np.array([0, 1, 0, 1])
    >>> m = CNN(epochs=8, min_count=1, filters=8, head=[], lr=0.02).fit(X, y, X_val, y_val)
    >>> m.predict(pd.DataFrame({"text": ["cute dog", "run miles"]})).tolist()
    [0, 1]
"""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field
from torch import nn

from textladder.models.neural import dense_head
from textladder.models.registry import register
from textladder.models.sequence import SequenceClassifier, SequenceNet, SequenceParams


class CNNParams(SequenceParams):
    filters: int = Field(100, ge=1, description="convolution filters per width")
    widths: list[int] = Field([2, 3, 4, 5], min_length=1, description="kernel widths, in tokens")


class CNNNet(SequenceNet):
    def __init__(self, vocab_size: int, embedding_dim: int, n_classes: int, p: CNNParams,
                 trainable: bool = True, extra_dim: int = 0):
        super().__init__(vocab_size, embedding_dim, p, trainable)
        self.convs = nn.ModuleList(nn.Conv1d(embedding_dim, p.filters, w) for w in p.widths)
        self.head = dense_head(p.filters * len(p.widths) + extra_dim, n_classes, p)
        self.reset_parameters()

    def features(self, batch) -> torch.Tensor:
        x = self.embed(batch).transpose(1, 2)  # (B, E, T)
        # Always pad by the widest kernel less one, so a batch of texts shorter than a kernel still has a
        # window; unconditional (no Python branch on the length), so an exported ONNX graph does it too.
        widest = max(c.kernel_size[0] for c in self.convs)
        x = nn.functional.pad(x, (0, widest - 1))
        lengths = batch["lengths"].to(x.device)
        pooled = []
        for conv in self.convs:
            out = torch.relu(conv(x))  # (B, filters, T - w + 1)
            w = conv.kernel_size[0]
            # window i covers tokens i..i+w-1: it counts if it lies inside the text (the first always does)
            last = torch.clamp(lengths - w, min=0)
            pos = torch.arange(out.shape[2], device=x.device)
            out = out.masked_fill((pos[None, :] > last[:, None])[:, None, :], float("-inf"))
            pooled.append(out.max(dim=2).values)
        return torch.cat(pooled, dim=1)


@register("cnn")
class CNN(SequenceClassifier):
    """Convolutions of several widths over the embeddings, max-pooled over time."""

    net_class = CNNNet
    Params: ClassVar = CNNParams
    train_cost = (1.5, 0.05, 0.49)  # measured: benchmarks/rung_costs.py (docs/BENCHMARKS.md)

