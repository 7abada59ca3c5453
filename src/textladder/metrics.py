"""Pure metrics and their artefacts: accuracy, F1, per-class report, calibration figures, confusion matrices,
misclassified rows. Nothing here reads a run folder (evaluating a run: :mod:`textladder.evaluation`).

Example:
    >>> import numpy as np
    >>> proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    >>> m = metrics(np.array([0, 1, 1]), proba, ["a", "b"])
    >>> round(m["accuracy"], 3), m["n"]
    (0.667, 3)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from textladder.calibration import calibration_metrics, coverage_curve, reliability
from textladder.viz.plots import confusion_matrix_png, coverage_png, reliability_png


def metrics(y_true: np.ndarray, proba: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, macro/weighted F1, per-class precision/recall/F1/support, the confusion matrix, and how
    far the probabilities can be trusted: ``ece`` (expected calibration error, 15 bins), ``brier`` and
    ``log_loss`` (:func:`textladder.calibration.calibration_metrics`)."""
    y_pred = proba.argmax(axis=1)
    labels = np.arange(len(classes))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "per_class": {
            c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, c in enumerate(classes)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        **calibration_metrics(proba, y_true),
    }


def write_artifacts(folder: Path, result: dict, classes: list[str], ids, texts, y_true: np.ndarray,
                    proba: np.ndarray, prefix: str = "", uncalibrated: np.ndarray | None = None) -> list[Path]:
    """Write the confusion matrix PNGs (counts and row-normalised), ``per_class.csv``,
    ``misclassified.csv`` (most confident mistakes first), the reliability diagram (``reliability.png``,
    before and after calibration when ``uncalibrated`` is given) and selective accuracy against
    coverage (``coverage.png``, ``coverage.csv``) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cm = np.array(result["confusion_matrix"])
    title = f"{prefix}confusion matrix" if prefix else None
    paths = [
        confusion_matrix_png(cm, classes, folder / "confusion_matrix.png",
                             title=f"{title} (counts)" if title else None),
        confusion_matrix_png(cm, classes, folder / "confusion_matrix_normalized.png", normalize=True,
                             title=f"{title} (row-normalised)" if title else None),
    ]
    per_class = pd.DataFrame(result["per_class"]).T.rename_axis("class").reset_index()
    per_class.to_csv(folder / "per_class.csv", index=False)
    paths.append(folder / "per_class.csv")
    y_pred = proba.argmax(axis=1)
    wrong = np.flatnonzero(y_pred != y_true)
    names = np.asarray(classes, dtype=object)
    mis = pd.DataFrame({
        "id": np.asarray(ids, dtype=object)[wrong],
        "true": names[y_true[wrong]],
        "predicted": names[y_pred[wrong]],
        "confidence": proba[wrong, y_pred[wrong]].round(4),
        "p_true": proba[wrong, y_true[wrong]].round(4),
        "text": np.asarray(texts, dtype=object)[wrong],
    }).sort_values("confidence", ascending=False)
    mis.to_csv(folder / "misclassified.csv", index=False)
    paths.append(folder / "misclassified.csv")
    if len(y_true):
        curves = ({"uncalibrated": reliability(uncalibrated, y_true), "calibrated": reliability(proba, y_true)}
                  if uncalibrated is not None else {"model": reliability(proba, y_true)})
        paths.append(reliability_png(curves, folder / "reliability.png", title=f"{prefix}reliability"))
        curve = coverage_curve(proba, y_true)
        pd.DataFrame(curve).to_csv(folder / "coverage.csv", index=False)
        paths += [folder / "coverage.csv", coverage_png(curve, folder / "coverage.png",
                                                        title=f"{prefix}accuracy against coverage")]
    return paths


def summary_line(result: dict) -> str:
    """``accuracy 0.919  macro-F1 0.884  weighted-F1 0.918  ECE 0.012  (n=6,000)``."""
    ece = f"  ECE {result['ece']:.3f}" if result.get("ece") is not None else ""
    return (f"accuracy {result['accuracy']:.4f}  macro-F1 {result['macro_f1']:.4f}  "
            f"weighted-F1 {result['weighted_f1']:.4f}{ece}  (n={result['n']:,})")
