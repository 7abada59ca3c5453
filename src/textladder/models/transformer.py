"""``transformer``: a pretrained transformer fine-tuned end to end for classification.

Text -> the encoder's own tokenizer (truncated to ``max_length``) -> length-bucketed batches padded
only to their longest text (dynamic padding) -> the encoder (default the packaged
all-MiniLM-L6-v2, ``encoder`` for any local Hugging Face folder) -> mean of the token states over
the real tokens (MiniLM's own pooling) -> (+ the period one-hot) -> dropout -> a linear layer.

It trains in the same Lightning loop as every neural rung, with AdamW, a linear warm-up over
``warmup`` of the optimiser steps then linear decay to zero, layer-wise learning-rate decay
(``layer_decay``, off by default: on SST-5 it lost about a point), gradient accumulation
(``accumulate``), mixed precision on a GPU (bf16 where supported), class weights from
``--balance class-weight``, and Lightning's ``accelerator`` / ``devices`` / ``strategy`` passed
through: ``--devices 4 --strategy ddp`` trains on four GPUs (or processes) with no code change.

Saved self-contained: the fine-tuned weights (safetensors), the encoder's ``config.json`` and
tokenizer files (``model/encoder/``); loading needs neither the original folder nor a network.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from textladder.errors import RunError, TextladderError
from textladder.models.neural import LoopParams, NeuralClassifier
from textladder.models.registry import register
from textladder.text.sequences import SequenceDataset, sequence_loader

log = logging.getLogger("textladder")

ENCODER_DIR = "encoder"


class TransformerParams(LoopParams):
    encoder: str | None = Field(None, description="Hugging Face model folder; default the packaged all-MiniLM-L6-v2")
    max_length: int = Field(128, ge=8, description="sub-word tokens per text, at most (longer texts are truncated)")
    truncation: Literal["head", "head+tail"] = Field(
        "head", description="what a longer text keeps: its start (head), or its first quarter and last three "
                            "quarters of max_length (head+tail: the start and the end, for long documents)")
    lr: float = Field(1e-4, gt=0, description="AdamW peak learning rate (HappyDB: 1e-4 beat 5e-5 by 0.8 points)")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    warmup: float = Field(0.06, ge=0, lt=1, description="fraction of optimiser steps of linear warm-up")
    epochs: int = Field(4, ge=1, description="most epochs; the best by validation macro-F1 is kept")
    patience: int = Field(2, ge=1, description="stop after this many epochs without a better validation macro-F1")
    batch_size: int = Field(32, ge=1)
    accumulate: int = Field(1, ge=1, description="batches per optimiser step (gradient accumulation)")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout before the output layer")
    layer_decay: float = Field(1.0, gt=0, le=1, description="layer-wise learning-rate decay: the output layer "
                               "trains at lr, each encoder layer below at this factor times the one above")
    frozen_layers: int = Field(0, ge=0, description="keep the embeddings and this many lower encoder layers as "
                                                    "pretrained (fewer FLOPs per step: no gradients below them)")


def head_and_tail(ids: list[int], limit: int) -> list[int]:
    """``ids`` (with the tokenizer's first and last special tokens) cut to ``limit``: the first quarter and
    the last three quarters of the limit (Sun et al., 2019: the start and the end of a long document carry
    most of what classifies it).

    Example:
        >>> head_and_tail(list(range(20)), 8)
        [0, 1, 14, 15, 16, 17, 18, 19]
    """
    if len(ids) <= limit:
        return ids
    head = limit // 4
    return ids[:head] + ids[len(ids) - (limit - head):]


class TransformerNet(nn.Module):
    def __init__(self, encoder: nn.Module, n_classes: int, dropout: float, extra_dim: int = 0,
                 layer_decay: float = 1.0):
        super().__init__()
        self.encoder = encoder
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(encoder.config.hidden_size + extra_dim, n_classes)
        self.layer_decay = layer_decay

    def param_groups(self, lr: float) -> list:
        """The optimiser's parameter groups: the output layer at ``lr``, the top encoder layer at ``lr *
        layer_decay``, each layer below at ``layer_decay`` times the one above, the embeddings lowest
        (Howard and Ruder, 2018; Clark et al., 2020)."""
        if self.layer_decay == 1:
            return [p for p in self.parameters() if p.requires_grad]
        layers = list(self.encoder.encoder.layer)
        depth = len(layers) + 1
        tiers = [([*self.out.parameters()], 0), ([*self.encoder.embeddings.parameters()], depth)]
        tiers += [([*layer.parameters()], depth - 1 - i) for i, layer in enumerate(layers)]
        seen = {id(p) for params, _ in tiers for p in params}
        tiers.append(([p for p in self.parameters() if id(p) not in seen], 0))  # anything else: at lr
        return [{"params": trainable, "lr": lr * self.layer_decay ** tier}
                for params, tier in tiers if (trainable := [p for p in params if p.requires_grad])]

    def forward(self, batch) -> torch.Tensor:
        ids = batch["ids"]
        mask = (torch.arange(ids.shape[1], device=ids.device)[None, :]
                < batch["lengths"].to(ids.device)[:, None])
        states = self.encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        m = mask.unsqueeze(2).to(states.dtype)
        pooled = (states * m).sum(1) / m.sum(1).clamp(min=1)
        if "extra" in batch:
            pooled = torch.cat([pooled, batch["extra"].to(pooled.dtype)], dim=1)
        return self.out(self.drop(pooled))


@register("transformer")
class Transformer(NeuralClassifier):
    """A pretrained transformer encoder fine-tuned for classification (mean pooling + linear layer)."""

    default_accelerator = "auto"  # a GPU when there is one

    family = "pretrained encoder, fine-tuned"
    # 20.6 s per 1,000 rows an epoch on 688 rows (benchmarks/rung_costs.py), 16.3 on HappyDB's 46,172
    train_cost = (5.0, 0.0, 18.0)
    cost_words = 21.0  # HappyDB's mean; a text costs as the sub-word tokens it is cut to (max_length)

    @classmethod
    def words_read(cls, params) -> float:
        from textladder.embeddings.encoder import WORDPIECES_PER_WORD

        return params.max_length / WORDPIECES_PER_WORD

    Params: ClassVar = TransformerParams

    @staticmethod
    def search_space(trial) -> dict:
        """What a search tries: learning rate, epochs, warm-up, input length, frozen lower layers."""
        return {
            "lr": trial.suggest_float("lr", 2e-5, 3e-4, log=True),
            "epochs": trial.suggest_int("epochs", 1, 4),
            "warmup": trial.suggest_float("warmup", 0.0, 0.2),
            "max_length": trial.suggest_categorical("max_length", [32, 64, 128]),
            "frozen_layers": trial.suggest_int("frozen_layers", 0, 5),
        }

    def _tokenizer(self):
        if getattr(self, "tokenizer_", None) is None:
            from textladder.embeddings.encoder import offline

            offline()
            from transformers import AutoTokenizer

            self.tokenizer_ = AutoTokenizer.from_pretrained(str(self.source_), local_files_only=True)
        return self.tokenizer_

    def _prepare(self, X, y) -> None:
        from textladder.embeddings.encoder import DEFAULT, resolve_encoder

        self.source_ = resolve_encoder(self.params.encoder)
        self.meta_.update(encoder=self.params.encoder or DEFAULT)
        log.info("fine-tuning %s", self.source_)

    def _dataset(self, X, y):
        tok = self._tokenizer()
        texts, limit = list(map(str, X["text"])), self.params.max_length
        if self.params.truncation == "head":
            enc = tok(texts, truncation=True, max_length=limit)["input_ids"]
        else:
            enc = [head_and_tail(ids, limit) for ids in tok(texts, truncation=False, verbose=False)["input_ids"]]
        seqs = [np.asarray(ids, dtype=np.int64) for ids in enc]
        return SequenceDataset(seqs, y, extra=self._extra(X), pad_id=tok.pad_token_id or 0)

    def _loader(self, ds, shuffle):
        return sequence_loader(ds, self.params.batch_size if shuffle else 128, shuffle=shuffle, seed=self.params.seed)

    def _build_net(self, n_classes):
        from textladder.embeddings.encoder import offline

        offline()
        from transformers import AutoConfig, AutoModel

        if getattr(self, "pretrained_", True):  # training: start from the encoder's weights
            encoder = AutoModel.from_pretrained(str(self.source_), local_files_only=True, use_safetensors=True)
        else:  # loading a run: the architecture only, its weights come from the run
            encoder = AutoModel.from_config(AutoConfig.from_pretrained(str(self.source_), local_files_only=True))
        if getattr(encoder, "pooler", None) is not None:
            encoder.pooler = None  # unused (mean pooling here); DDP refuses parameters that get no gradient
        if self.params.frozen_layers:
            layers = encoder.encoder.layer
            if self.params.frozen_layers > len(layers):
                raise TextladderError(f"frozen_layers {self.params.frozen_layers}: the encoder has only "
                                      f"{len(layers)} layers")
            for module in [encoder.embeddings, *layers[:self.params.frozen_layers]]:
                module.requires_grad_(False)
        return TransformerNet(encoder.train(), n_classes, self.params.dropout, self.extra_dim,
                              self.params.layer_decay)

    def _loop_config(self):
        p = self.params
        return {"optimizer": "adamw", "warmup": p.warmup, "accumulate": p.accumulate}

    def _save_extra(self, folder: Path) -> None:
        target = Path(folder) / ENCODER_DIR
        self._tokenizer().save_pretrained(str(target))
        self.net_.encoder.config.save_pretrained(str(target))

    def _load_extra(self, folder: Path) -> None:
        self.source_ = Path(folder) / ENCODER_DIR
        if not (self.source_ / "config.json").is_file():
            raise RunError(f"{self.source_}: the encoder's config and tokenizer are missing")
        self.pretrained_ = False
        self.tokenizer_ = None
        self._tokenizer()  # read now: a damaged tokenizer is refused when the run loads, not at its first text
