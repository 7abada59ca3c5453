"""``capsule``: BiGRU features routed into a layer of capsules (Sabour et al., 2017).

Every token's BiGRU output ``h_t`` votes for each of ``capsules`` output capsules through one
shared matrix (``u_t|j = W_j h_t``, vectors of ``capsule_dim``). Dynamic routing, ``routings``
rounds: each token spreads its vote over the capsules by a softmax of agreement logits, each
capsule squashes its weighted sum of votes, and the logits grow by the agreement (dot product)
between vote and capsule. Padding outputs are zero, so they vote nothing. The flattened capsules
go to the dense head.

Example:
    >>> import numpy as np, pandas as pd
    >>> X = pd.DataFrame({"text": ["i love my dog", "ran five miles", "my dog is cute", "gym run today"] * 10})
    >>> y = np.array([0, 1, 0, 1] * 10)
    >>> X_val, y_val = pd.DataFrame({"text": ["cute dog", "run miles", "my dog", "gym today"]}), np.array([0, 1, 0, 1])
    >>> m = Capsule(epochs=8, min_count=1, hidden=16, capsules=4, capsule_dim=4, head=[], lr=0.02).fit(X, y, X_val, y_val)
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
from textladder.models.rnn import recurrent, run_packed
from textladder.models.sequence import SequenceClassifier, SequenceNet, SequenceParams


class CapsuleParams(SequenceParams):
    capsules: int = Field(10, ge=1, description="output capsules")
    capsule_dim: int = Field(16, ge=1, description="length of each capsule's vector")
    routings: int = Field(3, ge=1, description="rounds of dynamic routing")


def squash(s: torch.Tensor, dim: int = -1, eps: float = 1e-8) -> torch.Tensor:
    """Shrink ``s`` to a length below 1, keeping its direction: ``|s|^2 / (1 + |s|^2) * s / |s|``."""
    norm2 = (s * s).sum(dim=dim, keepdim=True)
    return s * norm2 / ((1 + norm2) * torch.sqrt(norm2 + eps))


class CapsuleNet(SequenceNet):
    def __init__(self, vocab_size: int, embedding_dim: int, n_classes: int, p: CapsuleParams,
                 trainable: bool = True, extra_dim: int = 0):
        super().__init__(vocab_size, embedding_dim, p, trainable)
        self.rnn = recurrent("gru", embedding_dim, p, bidirectional=True)
        self.n, self.dim, self.routings = p.capsules, p.capsule_dim, p.routings
        self.votes = nn.Linear(2 * p.hidden, p.capsules * p.capsule_dim, bias=False)
        self.head = dense_head(p.capsules * p.capsule_dim + extra_dim, n_classes, p)
        self.reset_parameters()

    def features(self, batch) -> torch.Tensor:
        h, _ = run_packed(self.rnn, self.embed(batch), batch["lengths"])  # (B, T, 2H), zeros past the end
        B, T = h.shape[:2]
        u = self.votes(h).view(B, T, self.n, self.dim).transpose(1, 2)  # (B, caps, T, dim)
        logits = torch.zeros(B, self.n, T, device=h.device)
        for r in range(self.routings):
            c = torch.softmax(logits, dim=1)  # each token shares its vote among the capsules
            v = squash((c.unsqueeze(3) * u).sum(dim=2))  # (B, caps, dim)
            if r < self.routings - 1:
                logits = logits + (u * v.unsqueeze(2)).sum(dim=3)
        return v.reshape(B, -1)


@register("capsule")
class Capsule(SequenceClassifier):
    """BiGRU features into a capsule layer with dynamic routing."""

    net_class = CapsuleNet
    Params: ClassVar = CapsuleParams
    train_cost = (1.0, 0.02, 0.49)  # measured: benchmarks/rung_costs.py (docs/BENCHMARKS.md)

