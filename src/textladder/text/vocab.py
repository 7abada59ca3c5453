"""A vocabulary built on the train split only, and text -> id sequences.

Index 0 is ``<pad>``, index 1 is ``<unk>``; then words by falling frequency
(ties by first appearance, so the order is reproducible). Saved as JSON.

Example:
    >>> v = Vocab.build([["my", "dog"], ["my", "cat"]], min_count=1)
    >>> v.itos
    ['<pad>', '<unk>', 'my', 'dog', 'cat']
    >>> v.encode(["my", "bird"]).tolist()
    [2, 1]
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from textladder.errors import RunError

PAD, UNK = "<pad>", "<unk>"


class Vocab:
    """Word <-> index map with ``<pad>`` = 0 and ``<unk>`` = 1."""

    def __init__(self, itos: Sequence[str], counts: Sequence[int] | None = None):
        if list(itos[:2]) != [PAD, UNK]:
            raise ValueError("a vocabulary starts with <pad>, <unk>")
        self.itos = list(itos)
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.counts = list(counts) if counts is not None else [0] * len(self.itos)

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_count: int = 2, max_size: int | None = None) -> Vocab:
        """Words seen at least ``min_count`` times, the ``max_size`` most frequent (specials included)."""
        counter: Counter[str] = Counter()
        for tokens in token_lists:
            counter.update(tokens)
        words = [(w, n) for w, n in counter.most_common() if n >= min_count and w not in (PAD, UNK)]
        if max_size is not None:
            words = words[: max(0, max_size - 2)]
        return cls([PAD, UNK, *(w for w, _ in words)], [0, 0, *(n for _, n in words)])

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Sequence[str], max_len: int | None = None) -> np.ndarray:
        """Ids of ``tokens``, unknown words as ``<unk>``, truncated to ``max_len`` (never empty: ``[<unk>]``)."""
        if max_len is not None:
            tokens = tokens[:max_len]
        get = self.stoi.get
        ids = np.fromiter((get(t, 1) for t in tokens), dtype=np.int64, count=len(tokens))
        return ids if len(ids) else np.ones(1, dtype=np.int64)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps({"itos": self.itos, "counts": self.counts}, ensure_ascii=False) + "\n",
                              encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Vocab:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(data["itos"], data.get("counts"))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RunError(f"{path}: not a textladder vocabulary ({exc})") from None
