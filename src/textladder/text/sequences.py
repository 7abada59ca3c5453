"""Id sequences in length buckets, so short texts never pay for the long tail.

HappyDB moments average about 21 tokens, with a tail past 1,000. Padding every
text to 80 wastes most of the compute; here each batch holds texts of similar
length, padded only to the longest in the batch, and the recurrent rungs pack
them so padding costs nothing at all.

Example:
    >>> lengths = [3, 40, 5, 38, 4, 41]
    >>> sampler = BucketBatchSampler(lengths, batch_size=2, shuffle=False)
    >>> [[lengths[i] for i in b] for b in sampler]
    [[3, 4], [5, 38], [40, 41]]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of indices of similar length.

    Training (``shuffle``): each epoch, the indices are shuffled, cut into pools of
    ``pool`` batches, sorted by length inside each pool, batched, and the batches
    shuffled, all from ``seed`` and the epoch number only (``set_epoch``), so
    epochs differ but a run repeats exactly (the epoch is read when the first batch is drawn, from
    ``epoch_of`` when the training loop sets it). Otherwise: sorted by length.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool = True, seed: int = 42, pool: int = 50):
        self.lengths = np.asarray(lengths)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = seed
        self.pool = pool
        self.epoch = 0
        self.epoch_of = None  # the training loop sets a callable giving the epoch being trained
        self.shard_of = None  # ... and, with several processes, one giving (rank, world size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def current_epoch(self) -> int:
        return self.epoch_of() if self.epoch_of is not None else self.epoch

    def _shard(self) -> tuple[int, int]:
        return self.shard_of() if self.shard_of is not None and self.shuffle else (0, 1)

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size) // self._shard()[1]

    def __iter__(self) -> Iterator[list[int]]:
        n, bs = len(self.lengths), self.batch_size
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            yield from (order[i:i + bs].tolist() for i in range(0, n, bs))
            return
        rng = np.random.default_rng([self.seed, self.current_epoch()])  # read at the first batch
        perm = rng.permutation(n)
        size = bs * self.pool
        batches = []
        for start in range(0, n, size):
            chunk = perm[start:start + size]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches.extend(chunk[i:i + bs].tolist() for i in range(0, len(chunk), bs))
        rank, world = self._shard()
        order = rng.permutation(len(batches))
        order = order[: len(order) // world * world]  # every process the same number of batches
        for i in order[rank::world]:
            yield batches[i]


class SequenceDataset(Dataset):
    """Id sequences, optional labels and optional extra per-row features."""

    def __init__(self, seqs: list[np.ndarray], y: np.ndarray | None = None, extra: np.ndarray | None = None,
                 pad_id: int = 0):
        self.seqs = seqs
        self.y = y
        self.extra = extra
        self.pad_id = pad_id

    def __len__(self) -> int:
        return len(self.seqs)

    def __getitem__(self, i: int):
        return i

    def lengths(self) -> np.ndarray:
        return np.fromiter((len(s) for s in self.seqs), dtype=np.int64, count=len(self.seqs))

    def collate(self, idx: list[int]) -> dict[str, torch.Tensor]:
        """``ids`` (B, T) padded with ``pad_id`` to the longest in the batch, ``lengths`` (B,), ``y``, ``extra``."""
        seqs = [self.seqs[i] for i in idx]
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        ids = np.full((len(seqs), int(lengths.max())), self.pad_id, dtype=np.int64)
        for row, s in enumerate(seqs):
            ids[row, : len(s)] = s
        batch = {"ids": torch.from_numpy(ids), "lengths": torch.from_numpy(lengths)}
        if self.y is not None:
            batch["y"] = torch.from_numpy(self.y[idx])
        if self.extra is not None:
            batch["extra"] = torch.from_numpy(self.extra[idx])
        return batch


def sequence_loader(ds: SequenceDataset, batch_size: int, shuffle: bool, seed: int = 42):
    """A DataLoader over ``ds`` with length-bucketed batches."""
    from torch.utils.data import DataLoader

    sampler = BucketBatchSampler(ds.lengths(), batch_size, shuffle=shuffle, seed=seed)
    # Its own generator: creating the iterator must not draw from torch's global one (dropout's).
    return DataLoader(ds, batch_sampler=sampler, collate_fn=ds.collate, num_workers=0,
                      generator=torch.Generator().manual_seed(seed))
