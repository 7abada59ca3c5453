"""Look at a dataset before training: class balance, token lengths, split sizes.

Example:
    >>> from textladder.data import load_dataset  # doctest: +SKIP
    >>> summary = explore(load_dataset("hm_train.csv"), "explore/")  # doctest: +SKIP
    >>> summary["tokens"]["suggested_seq_len"]  # doctest: +SKIP
    80
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from textladder.data import Dataset, SplitConfig, split_dataset
from textladder.errors import TextladderError, option
from textladder.files import atomic_folder, lock, write_json
from textladder.text import token_lengths
from textladder.viz.plots import class_distribution_png, token_length_png

COVERAGE = 98  # the suggested sequence length covers this percentile of texts


def suggested_seq_len(lengths: np.ndarray, coverage: float = COVERAGE, multiple: int = 8) -> int:
    """The ``coverage`` percentile of token lengths, rounded up to a multiple of 8.

    Example:
        >>> suggested_seq_len(np.arange(1, 101))
        104
    """
    return int(math.ceil(np.percentile(lengths, coverage) / multiple) * multiple)


def summarize(ds: Dataset, split: SplitConfig | None = None) -> tuple[dict, np.ndarray]:
    """The summary dict and the token length of each text."""
    lengths = token_lengths(ds.texts)
    counts = ds.class_counts()
    sizes = None
    if ds.labels is not None:
        split_cfg, parts = split_dataset(ds, split or SplitConfig())
        sizes = {"method": split_cfg.method, "train": len(parts.train), "val": len(parts.val),
                 "test": len(parts.test)}
    summary = {
        "path": ds.path,
        "format": ds.format,
        "rows": len(ds),
        "dropped_rows": ds.dropped,
        "columns": {"text": ds.columns.text, "label": ds.columns.label, "id": ds.columns.id,
                    "period": ds.columns.period},
        "classes": counts,
        "imbalance_ratio": round(max(counts.values()) / min(counts.values()), 2) if counts else None,
        "split": sizes,
        "tokens": {
            "mean": round(float(lengths.mean()), 2),
            "median": float(np.median(lengths)),
            "p95": float(np.percentile(lengths, 95)),
            "max": int(lengths.max()),
            "suggested_seq_len": suggested_seq_len(lengths),
            "suggested_covers": f"{COVERAGE}% of texts",
        },
    }
    if ds.period is not None:
        values, n = np.unique(ds.period, return_counts=True)
        summary["period"] = {str(v): int(c) for v, c in zip(values, n)}
    return summary, lengths


def explore(ds: Dataset, out: str | Path, split: SplitConfig | None = None) -> dict:
    """Write ``summary.json``, the class pie and bar charts and the token-length histogram into ``out``
    (atomically: an earlier explore folder there is replaced whole; two at once are refused)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "summary.json").exists())):
        raise TextladderError(f"{out}: exists and is not an explore folder; choose a new {option('out')}")
    summary, lengths = summarize(ds, split)
    with lock(out), atomic_folder(out, overwrite=True) as tmp:
        if summary["classes"]:
            class_distribution_png(summary["classes"], tmp / "class_distribution_pie.png", kind="pie")
            class_distribution_png(summary["classes"], tmp / "class_distribution_bar.png", kind="bar")
        token_length_png(lengths, tmp / "token_lengths.png", suggested=summary["tokens"]["suggested_seq_len"])
        write_json(tmp / "summary.json", summary)
    return summary
