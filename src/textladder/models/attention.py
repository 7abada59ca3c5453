"""``attention``: a bidirectional LSTM (or GRU) whose outputs are pooled by learned attention.

Each token's output ``h_t`` gets a score ``v . tanh(W h_t + b)``; a softmax over the real tokens
of the text turns the scores into weights, and the text is the weighted sum of the outputs
(Yang et al., 2016, one level). The weights say which words the model read to decide:
``explain`` and ``textladder explain RUN "TEXT"`` give them.

Example:
    >>> import numpy as np, pandas as pd
    >>> X = pd.DataFrame({"text": ["i love my dog", "ran five miles", "my dog is cute", "gym run today"] * 10})
    >>> y = np.array([0, 1, 0, 1] * 10)
    >>> X_val, y_val = pd.DataFrame({"text": ["cute dog", "run miles", "my dog", "gym today"]}), np.array([0, 1, 0, 1])
    >>> m = Attention(epochs=8, min_count=1, hidden=16, head=[], lr=0.02).fit(X, y, X_val, y_val)
    >>> m.predict(pd.DataFrame({"text": ["cute dog", "run miles"]})).tolist()
    [0, 1]
    >>> m.explain("my dog ran").tokens
    ['my', 'dog', 'ran']
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from textladder.explain import EXPLAIN_SAMPLES, Explanation, chosen_class, text_frame
from textladder.models.base import as_frame
from textladder.models.neural import dense_head
from textladder.models.registry import register
from textladder.models.rnn import recurrent, run_packed
from textladder.models.sequence import SequenceClassifier, SequenceNet, SequenceParams
from textladder.text.tokenize import tokenize


class AttentionParams(SequenceParams):
    cell: Literal["lstm", "gru"] = Field("lstm", description="recurrent cell under the attention")
    attention_dim: int = Field(64, ge=1, description="size of the attention's hidden layer")


class AttentionNet(SequenceNet):
    def __init__(self, vocab_size: int, embedding_dim: int, n_classes: int, p: AttentionParams,
                 trainable: bool = True, extra_dim: int = 0):
        super().__init__(vocab_size, embedding_dim, p, trainable)
        self.rnn = recurrent(p.cell, embedding_dim, p, bidirectional=True)
        self.score = nn.Sequential(nn.Linear(2 * p.hidden, p.attention_dim), nn.Tanh(),
                                   nn.Linear(p.attention_dim, 1, bias=False))
        self.head = dense_head(2 * p.hidden + extra_dim, n_classes, p)
        self.weights_: torch.Tensor | None = None  # (B, T) attention of the last batch
        self.reset_parameters()

    def features(self, batch) -> torch.Tensor:
        out, _ = run_packed(self.rnn, self.embed(batch), batch["lengths"])  # (B, T, 2H)
        scores = self.score(out).squeeze(2)
        pos = torch.arange(out.shape[1], device=out.device)
        scores = scores.masked_fill(pos[None, :] >= batch["lengths"].to(out.device)[:, None], float("-inf"))
        weights = torch.softmax(scores, dim=1)
        self.weights_ = weights.detach()
        return torch.bmm(weights.unsqueeze(1), out).squeeze(1)


@register("attention")
class Attention(SequenceClassifier):
    """A BiLSTM (or BiGRU) with attention pooling; ``explain`` shows each token's weight."""

    net_class = AttentionNet
    Params: ClassVar = AttentionParams
    train_cost = (2.0, 0.05, 0.47)  # measured: benchmarks/rung_costs.py (docs/BENCHMARKS.md)


    explanation = "attention"

    @torch.no_grad()
    def attention_weights(self, X) -> list[list[tuple[str, float]]]:
        """Each text's tokens (as read, after truncation to ``seq_len``) with their attention weight;
        ``X`` as ``predict`` takes it (texts, or a DataFrame with the extra input columns)."""
        X = as_frame([X] if isinstance(X, str) else X, self.features)
        texts = X["text"].tolist()
        ds = self._dataset(X, None)
        batch = ds.collate(list(range(len(texts))))
        self.net_.eval()
        self.net_(batch)
        weights = self.net_.weights_.numpy()
        out = []
        for row, text in enumerate(texts):
            tokens = tokenize(text)[: self.meta_["seq_len"]] or ["<unk>"]
            out.append([(tok, float(w)) for tok, w in zip(tokens, weights[row][: len(tokens)])])
        return out

    def explain(self, text: str, label=None, samples: int = EXPLAIN_SAMPLES, features: dict | None = None):
        """The attention weight of each token (they sum to 1, and are the same whichever class is asked
        about); ``samples`` is not used."""
        frame = text_frame(self, text, features)
        proba = self.predict_proba(frame)[0]
        k = chosen_class(self, proba, label)
        (pairs,) = self.attention_weights(frame)
        classes = [str(c) for c in self.classes_]
        return Explanation(text=text, label=classes[k], proba=dict(zip(classes, map(float, proba))),
                           tokens=[t for t, _ in pairs], weights=[w for _, w in pairs], method="attention",
                           note="attention weights: which words the model read to decide (they sum to 1)")
