"""Static PNG plots: confusion matrices, class distribution, token lengths.

Every function writes one PNG and returns its path.

Example:
    >>> import tempfile, pathlib, numpy as np
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "cm.png"
    >>> confusion_matrix_png(np.array([[5, 1], [0, 4]]), ["a", "b"], out).name
    'cm.png'
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def confusion_matrix_png(cm: np.ndarray, classes: list[str], path: Path, normalize: bool = False,
                         title: str | None = None) -> Path:
    """Heat map of a confusion matrix (rows: true class, columns: predicted)."""
    values = cm.astype(float)
    if normalize:
        sums = values.sum(axis=1, keepdims=True)
        values = np.divide(values, sums, out=np.zeros_like(values), where=sums > 0)
    k = len(classes)
    size = max(4.5, 0.75 * k + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    im = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), classes, rotation=45, ha="right")
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or ("confusion matrix (row-normalised)" if normalize else "confusion matrix (counts)"))
    threshold = values.max() / 2 if values.size else 0
    for i in range(k):
        for j in range(k):
            text = f"{values[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if values[i, j] > threshold else "black")
    return _save(fig, path)


def class_distribution_png(counts: dict[str, int], path: Path, kind: str = "pie") -> Path:
    """Class distribution as a pie (``kind="pie"``) or a horizontal bar chart (``"bar"``)."""
    names = list(counts)
    values = np.array([counts[n] for n in names])
    if kind == "pie":
        total = values.sum()
        fig, ax = plt.subplots(figsize=(9, 6))
        wedges, _, _ = ax.pie(values, autopct=lambda pct: f"{pct:.1f}%" if pct >= 4 else "", startangle=90,
                              counterclock=False, pctdistance=0.75, textprops={"fontsize": 9},
                              wedgeprops={"linewidth": 1, "edgecolor": "white"})
        ax.legend(wedges, [f"{n}: {v:,} ({v / total:.1%})" for n, v in zip(names, values)],
                  loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=10)
        ax.set_title(f"class distribution ({total:,} rows)", pad=12)
        ax.axis("equal")
    else:
        fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.5))
        order = np.argsort(values)
        ax.barh([names[i] for i in order], values[order], color="#4C72B0")
        for y, i in enumerate(order):
            ax.text(values[i], y, f" {values[i]:,}", va="center", fontsize=9)
        ratio = values.max() / max(values.min(), 1)
        ax.set_title(f"rows per class (largest / smallest = {ratio:.1f})")
        ax.set_xlabel("rows")
        ax.margins(x=0.15)
    return _save(fig, path)


def token_length_png(lengths: np.ndarray, path: Path, suggested: int | None = None) -> Path:
    """Histogram of tokens per text with mean, median, p95 and max marked."""
    lengths = np.asarray(lengths)
    stats = {"mean": lengths.mean(), "median": np.median(lengths), "p95": np.percentile(lengths, 95),
             "max": lengths.max()}
    clip = max(np.percentile(lengths, 99.5), stats["p95"] * 1.5)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.hist(np.minimum(lengths, clip), bins=60, color="#4C72B0", alpha=0.85)
    colours = {"mean": "#DD8452", "median": "#55A868", "p95": "#C44E52", "max": "#8172B3"}
    for name, value in stats.items():
        x = min(value, clip)
        label = f"{name} {value:.1f}" if name == "mean" else f"{name} {value:.0f}"
        if name == "max" and value > clip:
            label += " (off scale)"
        ax.axvline(x, color=colours[name], linestyle="--", linewidth=1.5, label=label)
    if suggested:
        ax.axvline(min(suggested, clip), color="black", linewidth=1, label=f"suggested length {suggested}")
    ax.set_xlabel(f"tokens per text (clipped at {clip:.0f})")
    ax.set_ylabel("texts")
    ax.set_title(f"token lengths of {len(lengths):,} texts")
    ax.legend()
    return _save(fig, path)


def learning_curve_png(history: list[dict], path: Path, title: str = "learning curve") -> Path:
    """Loss (train, validation) and validation accuracy / macro-F1 per epoch; the best epoch marked."""
    epochs = [r["epoch"] for r in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(epochs, [r["train_loss"] for r in history], "o-", label="train loss")
    left.plot(epochs, [r["val_loss"] for r in history], "o-", label="validation loss")
    left.set_xlabel("epoch")
    left.set_ylabel("cross-entropy")
    left.legend()
    right.plot(epochs, [r["val_accuracy"] for r in history], "o-", label="validation accuracy")
    right.plot(epochs, [r["val_macro_f1"] for r in history], "o-", label="validation macro-F1")
    best = max(history, key=lambda r: r["val_macro_f1"])
    right.axvline(best["epoch"], color="grey", linestyle="--", linewidth=1,
                  label=f"best epoch {best['epoch']} (macro-F1 {best['val_macro_f1']:.4f})")
    right.set_xlabel("epoch")
    right.legend(loc="lower right")
    for ax in (left, right):
        ax.set_xticks(epochs if len(epochs) <= 20 else epochs[:: max(1, len(epochs) // 10)])
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return _save(fig, path)


def search_history_png(points: list[tuple[int, float]], path: Path, metric: str = "macro_f1",
                       title: str = "search") -> Path:
    """Optimisation history of a search: each finished trial's score (dots; the first is the defaults)
    and the best so far (a step line)."""
    numbers = [n for n, _ in points]
    values = [v for _, v in points]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.plot(numbers, values, "o", alpha=0.6, label="trial")
    ax.step(numbers, np.maximum.accumulate(values), where="post", color="#DD8452", label="best so far")
    if points:
        ax.plot(numbers[:1], values[:1], "s", color="black", label=f"defaults ({values[0]:.4f})")
        low = np.percentile(values, 10) if len(values) >= 10 else min(values)
        ax.set_ylim(max(low - 0.01, 0), max(values) + 0.005)  # poor trials off the bottom: the top is what matters
    ax.set_xlabel("trial")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel(f"validation {metric}")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _save(fig, path)


def search_importance_png(importances: dict[str, float], path: Path, title: str = "parameter importance") -> Path:
    """Horizontal bars of each searched parameter's importance (fANOVA: its share of the score's variance)."""
    items = sorted(importances.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(items) + 1.2))
    ax.barh([k for k, _ in items], [v for _, v in items], color="#4C72B0")
    ax.set_xlabel("importance (share of the variance of the score)")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="x")
    return _save(fig, path)


def reliability_png(curves: dict[str, dict], path: Path, title: str = "reliability") -> Path:
    """Reliability diagram: accuracy against mean confidence per confidence bin, one line per entry of
    ``curves`` (name -> :func:`textladder.calibration.reliability`), the diagonal a perfectly calibrated
    model, and each line's expected calibration error in the legend; the rows per bin below."""
    fig, (ax, bars) = plt.subplots(2, 1, figsize=(5.5, 6), height_ratios=[3, 1], sharex=True)
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfectly calibrated")
    for i, (name, r) in enumerate(curves.items()):
        conf, acc, count = (np.asarray(r[k], dtype=float) for k in ("confidence", "accuracy", "count"))
        ok = count > 0
        ece = float((count[ok] * np.abs(acc[ok] - conf[ok])).sum() / max(count.sum(), 1))
        ax.plot(conf[ok], acc[ok], marker="o", markersize=4, label=f"{name} (ECE {ece:.3f})", color=f"C{i}")
        edges = np.asarray(r["edges"])
        width = (edges[1] - edges[0]) / (len(curves) + 0.5)
        bars.bar(edges[:-1] + width * (i + 0.25), count, width=width, align="edge", color=f"C{i}")
    seen = [np.asarray(r[k], dtype=float) for r in curves.values() for k in ("confidence", "accuracy")]
    low = min([float(np.nanmin(v)) for v in seen if np.isfinite(v).any()] + [0.9])
    ax.set_xlim(max(0.0, np.floor(low * 10) / 10), 1.0)  # the axes start where the data does
    ax.set_ylim(max(0.0, np.floor(low * 10) / 10), 1.01)
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    bars.set_yscale("log")
    bars.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    bars.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    bars.set_ylabel("rows")
    bars.set_xlabel("confidence (highest probability)")
    return _save(fig, path)


def coverage_png(curve: dict, path: Path, title: str = "accuracy against coverage",
                 marks: list[tuple[str, float, float]] = ()) -> Path:
    """Selective accuracy against coverage (the share of rows answered, most confident first), with
    optional ``(label, coverage, accuracy)`` points marked."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    cov, acc = np.asarray(curve["coverage"]), np.asarray(curve["accuracy"])
    ax.plot(cov, acc, color="C0")
    for label, c, a in marks:
        ax.plot([c], [a], marker="o", color="C3")
        ax.annotate(label, (c, a), textcoords="offset points", xytext=(5, -12), fontsize=8)
    ax.set_xlabel("coverage (share of rows answered)")
    ax.set_ylabel("accuracy of the answered rows")
    ax.set_ylim(max(0.0, np.floor(float(acc.min()) * 20) / 20), 1.0005)
    ax.set_xlim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    return _save(fig, path)
