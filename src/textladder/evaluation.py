"""Metrics and evaluation artefacts: per-class report, confusion matrices, misclassified rows.

Example:
    >>> import numpy as np
    >>> proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    >>> m = metrics(np.array([0, 1, 1]), proba, ["a", "b"])
    >>> round(m["accuracy"], 3), m["n"]
    (0.667, 3)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from textladder.errors import RunError
from textladder.viz.plots import confusion_matrix_png


def metrics(y_true: np.ndarray, proba: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, macro/weighted F1, per-class precision/recall/F1/support, the confusion matrix, and how
    far the probabilities can be trusted: ``ece`` (expected calibration error, 15 bins), ``brier`` and
    ``log_loss`` (:func:`textladder.calibration.calibration_metrics`)."""
    from textladder.calibration import calibration_metrics

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
    from textladder.calibration import coverage_curve, reliability
    from textladder.viz.plots import coverage_png, reliability_png

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


def rows_to_score(run, data: str | Path | None = None, label_col: str | None = None, text_col: str | None = None,
                  id_col: str | None = None):
    """What an evaluation scores: ``run``'s own test split when ``data`` is None, else the rows of ``data``
    that have a label (:func:`~textladder.prediction.labelled_rows`). Returns (rows, source, skipped), where
    ``source`` names them for the report and ``skipped`` counts the rows with no label."""
    from textladder.prediction import labelled_rows, run_test_split

    if data is None:
        return run_test_split(run), "test split", 0
    ds, skipped = labelled_rows(run, data, label_col=label_col, text_col=text_col, id_col=id_col)
    return ds, str(data), skipped


def evaluate_run(run, ds, runtime: str = "auto", calibrated: bool = True, target_accuracy: float | None = None,
                 out_dir: Path | None = None, source: str = "", skipped: int = 0) -> dict:
    """Score the rows ``ds`` (a :class:`~textladder.data.Dataset` with labels) under ``run``'s model: the
    :func:`metrics` (calibrated probabilities unless ``calibrated`` is False) with the uncalibrated
    ``ece``, ``brier`` and ``log_loss`` under ``uncalibrated``, selective accuracy at a few coverages,
    and with ``target_accuracy`` the lowest confidence threshold that reaches it on the run's validation
    predictions, with the coverage and accuracy it gives on ``ds``. Writes :func:`write_artifacts` into
    ``out_dir`` when given. ``source`` (what ``ds`` is) and ``skipped`` (its rows with no label) are
    recorded as ``source`` and ``skipped_unlabelled``.

    Example:
        >>> result = evaluate_run(Run.open("runs/tfidf-..."), run_test_split(run), target_accuracy=0.98)  # doctest: +SKIP
        >>> result["ece"], result["selective"]["coverage"]  # doctest: +SKIP
    """
    from textladder.calibration import apply_temperature, calibration_metrics, coverage_curve, selective, threshold_for
    from textladder.prediction import score

    y_true, proba = score(run, ds, runtime=runtime, calibrated=calibrated)
    t = run.temperature if calibrated else 1.0
    raw = apply_temperature(proba, 1.0 / t) if t != 1.0 else proba
    result = metrics(y_true, proba, run.classes)
    result["uncalibrated"] = calibration_metrics(raw, y_true)
    result["calibration"] = {"calibrated": calibrated, "temperature": t,
                             "fitted_on": run.metrics.get("calibration", {}).get("fitted_on") if calibrated else None}
    curve = coverage_curve(proba, y_true, points=20)
    result["coverage"] = {f"{c:.2f}": a for c, a in zip(curve["coverage"], curve["accuracy"])
                          if round(c * 20) in (10, 14, 16, 18, 19, 20)}
    if target_accuracy is not None:
        val, y_val = run.predictions("val", calibrated), run.truth("val")
        if val is None or y_val is None:
            raise RunError(f"{run.path}: no validation predictions to choose a threshold on (a run from an older "
                           "textladder: train it again)")
        threshold = threshold_for(val[1], y_val, target_accuracy)
        chosen = {"target_accuracy": target_accuracy, "chosen_on": f"validation ({len(y_val):,} rows)"}
        if threshold is None:
            chosen.update(threshold=None, reached=False)
        else:
            chosen.update(reached=True, validation=selective(val[1], y_val, threshold),
                          **selective(proba, y_true, threshold))
        result["selective"] = chosen
    result["skipped_unlabelled"], result["source"] = skipped, source
    if source != "test split":
        result["overlap"] = training_overlap(run, ds)
        seen = max(result["overlap"]["by_id"], result["overlap"]["by_text"])
        if seen:
            import logging

            logging.getLogger("textladder").warning(
                "%d of %d scored rows are among the rows run %s learned from (%d by id, %d by text); their score "
                "overstates what it does on new data", seen, len(ds), run.name, result["overlap"]["by_id"],
                result["overlap"]["by_text"])
    if out_dir is not None:
        from textladder.files import atomic_folder, lock

        with lock(out_dir), atomic_folder(out_dir, overwrite=True) as tmp:  # a new evaluation replaces the last
            write_artifacts(tmp, result, run.classes, ds.ids, ds.texts, y_true, proba, prefix=f"{run.config.model}: ",
                            uncalibrated=raw if t != 1.0 else None)
            (tmp / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def training_overlap(run, ds) -> dict:
    """How many rows of ``ds`` the run learned from: ``by_id`` (their ids are in its training rows: train, and
    validation for a refit) and ``by_text`` (their text, once case and spacing are set aside, is the text of
    one of them; needs the run's data file)."""
    import hashlib

    from textladder.runs import load_data

    learned = set(run.split_ids.get("train", []))
    if run.trained_on != "train":
        learned |= set(run.split_ids.get("val", []))
    by_id = int(sum(i in learned for i in ds.ids.tolist()))
    by_text = 0
    if Path(run.config.data.path).is_file():
        def key(text) -> str:
            return hashlib.sha1(" ".join(str(text).lower().split()).encode("utf-8")).hexdigest()

        own = load_data(run.config)
        keep = np.fromiter((i in learned for i in own.ids.tolist()), dtype=bool, count=len(own))
        seen = {key(t) for t in own.texts[keep]}
        by_text = int(sum(key(t) in seen for t in ds.texts))
    return {"by_id": by_id, "by_text": by_text, "rows": int(len(ds))}
