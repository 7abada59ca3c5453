"""Evaluating a run: score its test split or another labelled file, with calibration, coverage and the
artefacts of :func:`textladder.metrics.write_artifacts`. Above :mod:`textladder.prediction`, which it uses.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from textladder.calibration import apply_temperature, calibration_metrics, coverage_curve, selective, threshold_for
from textladder.errors import RunError
from textladder.files import atomic_folder, lock
from textladder.layout import METRICS
from textladder.metrics import metrics, write_artifacts
from textladder.prediction import labelled_rows, score
from textladder.runs import load_data, run_test_split


def rows_to_score(run, data: str | Path | None = None, label_col: str | None = None, text_col: str | None = None,
                  id_col: str | None = None):
    """What an evaluation scores: ``run``'s own test split when ``data`` is None, else the rows of ``data``
    that have a label (:func:`~textladder.prediction.labelled_rows`). Returns (rows, source, skipped), where
    ``source`` names them for the report and ``skipped`` counts the rows with no label."""
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
            logging.getLogger("textladder").warning(
                "%d of %d scored rows are among the rows run %s learned from (%d by id, %d by text); their score "
                "overstates what it does on new data", seen, len(ds), run.name, result["overlap"]["by_id"],
                result["overlap"]["by_text"])
    if out_dir is not None:
        with lock(out_dir), atomic_folder(out_dir, overwrite=True) as tmp:  # a new evaluation replaces the last
            write_artifacts(tmp, result, run.classes, ds.ids, ds.texts, y_true, proba, prefix=f"{run.config.model}: ",
                            uncalibrated=raw if t != 1.0 else None)
            (tmp / METRICS).write_text(json.dumps(result, indent=2) + "\n")
    return result


def training_overlap(run, ds) -> dict:
    """How many rows of ``ds`` the run learned from: ``by_id`` (their ids are in its training rows: train, and
    validation for a refit) and ``by_text`` (their text, once case and spacing are set aside, is the text of
    one of them; needs the run's data file)."""
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
