"""Can the probabilities be trusted? Temperature scaling, calibration error and abstention.

Temperature scaling (Guo et al., 2017) divides each row's log-probabilities by one number ``T`` fitted
to minimise the log loss of held-out rows: ``T > 1`` softens an over-confident model, ``T < 1`` sharpens
an under-confident one, and no prediction changes (the order of a row's probabilities is kept). It works
on probabilities, so it fits every rung and every ensemble alike. One parameter fitted by a bounded 1-D
search over ``log T`` (scipy) cannot overfit a few thousand validation rows; the libraries that do it
(netcal, torch-uncertainty) would bring a framework for ten lines.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 2000)
    >>> logits = np.eye(3)[y] * 2 + rng.normal(0, 1.5, (2000, 3))
    >>> over = softmax(logits * 3)  # over-confident: the right logits, three times too sharp
    >>> t = fit_temperature(over, y)
    >>> 2.5 < t < 3.5, log_loss(apply_temperature(over, t), y) < log_loss(over, y)
    (True, True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from textladder.data.dataset import encode

if TYPE_CHECKING:
    import pandas as pd

ECE_BINS = 15
UNCERTAIN = "uncertain"  # the label of a withheld prediction (predict/serve --min-confidence)
_EPS = 1e-12


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(proba) / T)``: the probabilities a temperature ``T`` gives; T=1 changes nothing
    (``apply_temperature(p, 1 / T)`` undoes ``T``)."""
    proba = np.asarray(proba, dtype=np.float64)
    if temperature == 1.0 or not len(proba):
        return proba
    return softmax(np.log(np.clip(proba, _EPS, 1.0)) / temperature)


def log_loss(proba: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-probability of the true class (clipped at 1e-12)."""
    proba = np.asarray(proba, dtype=np.float64)
    return float(-np.log(np.clip(proba[np.arange(len(y)), y], _EPS, 1.0)).mean())


def fit_temperature(proba: np.ndarray, y: np.ndarray) -> float:
    """The temperature (between 0.05 and 20) that minimises the log loss of ``proba`` on labels ``y``."""
    from scipy.optimize import minimize_scalar

    logp = np.log(np.clip(np.asarray(proba, dtype=np.float64), _EPS, 1.0))
    rows = np.arange(len(y))

    def nll(log_t: float) -> float:
        z = logp / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        return float((np.log(np.exp(z).sum(axis=1)) - z[rows, y]).mean())

    if not len(y):
        return 1.0
    best = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded",
                           options={"xatol": 1e-4})
    t = float(np.exp(best.x))
    return t if nll(best.x) < nll(0.0) else 1.0  # never worse than leaving it alone


def reliability(proba: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> dict:
    """Per equal-width confidence bin: rows, mean confidence and accuracy (empty bins have no figures)."""
    proba = np.asarray(proba, dtype=np.float64)
    conf = proba.max(axis=1)
    right = proba.argmax(axis=1) == y
    which = np.minimum((conf * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins)
    conf_sum = np.bincount(which, weights=conf, minlength=bins)
    right_sum = np.bincount(which, weights=right.astype(float), minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"edges": np.linspace(0, 1, bins + 1).tolist(), "count": count.tolist(),
                "confidence": np.where(count > 0, conf_sum / np.maximum(count, 1), np.nan).tolist(),
                "accuracy": np.where(count > 0, right_sum / np.maximum(count, 1), np.nan).tolist()}


def calibration_metrics(proba: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> dict:
    """``ece`` (expected calibration error over ``bins`` equal-width confidence bins), ``brier`` (the
    multi-class Brier score: squared distance to the one-hot truth, summed over classes, mean over rows)
    and ``log_loss``.

    Example:
        >>> calibration_metrics(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 1]))["ece"]
        0.35
    """
    proba = np.asarray(proba, dtype=np.float64)
    if not len(y):
        return {"ece": None, "brier": None, "log_loss": None}
    r = reliability(proba, y, bins)
    count = np.asarray(r["count"])
    gap = np.abs(np.nan_to_num(np.asarray(r["accuracy"])) - np.nan_to_num(np.asarray(r["confidence"])))
    onehot = np.eye(proba.shape[1])[y]
    return {"ece": round(float((count * gap).sum() / len(y)), 6),
            "brier": round(float(((proba - onehot) ** 2).sum(axis=1).mean()), 6),
            "log_loss": round(log_loss(proba, y), 6)}


# -- abstention ------------------------------------------------------------------------------------

def check_abstention(run_name: str, classes: list[str], min_confidence: float | None, command: str) -> None:
    """Refuse ``--min-confidence`` for a run with a class named ``uncertain``: a withheld prediction would be
    read as that class. ``command`` says what to do without it ("predict", "serve it")."""
    if min_confidence is not None and UNCERTAIN in classes:
        from textladder.errors import TextladderError, option

        raise TextladderError(f"run {run_name} has a class named '{UNCERTAIN}', which a withheld prediction "
                              f"would be confused with; {command} without {option('min-confidence')}")


def coverage_curve(proba: np.ndarray, y: np.ndarray, points: int = 101) -> dict:
    """Selective accuracy against coverage: answering only the most confident share of rows, how often is
    the answer right? ``coverage`` from 1/points to 1, with the ``accuracy`` and the confidence
    ``threshold`` each gives."""
    conf = np.asarray(proba).max(axis=1)
    right = np.asarray(proba).argmax(axis=1) == y
    order = np.argsort(-conf, kind="stable")
    hits = np.cumsum(right[order])
    n = len(y)
    coverage = np.linspace(1 / points, 1, points)
    k = np.maximum(1, np.round(coverage * n).astype(int))
    return {"coverage": coverage.round(4).tolist(), "accuracy": (hits[k - 1] / k).round(6).tolist(),
            "threshold": conf[order][k - 1].round(6).tolist()}


def threshold_for(proba: np.ndarray, y: np.ndarray, target: float) -> float | None:
    """The lowest confidence threshold at which the rows at or above it reach ``target`` accuracy (None
    when no threshold does). Chosen on validation, applied elsewhere with :func:`selective`.

    Example:
        >>> p = np.array([[0.95, 0.05], [0.9, 0.1], [0.6, 0.4], [0.55, 0.45]])
        >>> threshold_for(p, np.array([0, 0, 1, 0]), 0.99)
        0.9
    """
    conf = np.asarray(proba).max(axis=1)
    right = np.asarray(proba).argmax(axis=1) == y
    order = np.argsort(-conf, kind="stable")
    conf, right = conf[order], right[order]
    acc = np.cumsum(right) / np.arange(1, len(right) + 1)
    # a threshold keeps every row at or above it: only the last row of a run of equal confidences counts
    last = np.r_[conf[1:] != conf[:-1], True]
    ok = np.flatnonzero(last & (acc >= target))
    return float(conf[ok[-1]]) if len(ok) else None


def selective(proba: np.ndarray, y: np.ndarray, threshold: float) -> dict:
    """The rows whose confidence is at least ``threshold``: their share (``coverage``) and accuracy."""
    conf = np.asarray(proba).max(axis=1)
    keep = conf >= threshold
    right = np.asarray(proba).argmax(axis=1) == y
    return {"threshold": round(float(threshold), 6), "coverage": round(float(keep.mean()) if len(y) else 0.0, 6),
            "accuracy": round(float(right[keep].mean()), 6) if keep.any() else None,
            "answered": int(keep.sum()), "withheld": int((~keep).sum())}


def calibrate(model, classes: list[str], y_val: np.ndarray, proba_val: np.ndarray,
              oof: pd.DataFrame | None = None) -> dict:
    """Fit the temperature of ``model`` (sets ``model.temperature_``) on held-out rows: the out-of-fold
    predictions ``oof`` of a cross-validated run when there are any (more rows, each out of sample), else
    the validation predictions. Returns what metrics.json records of it."""
    if oof is not None:
        proba = oof[[f"proba_{c}" for c in classes]].to_numpy(dtype=np.float64)
        y, source = encode(oof["true"].to_numpy(), classes), f"out-of-fold predictions of {len(oof):,} train+val rows"
    else:
        proba, y, source = proba_val, y_val, f"validation predictions of {len(y_val):,} rows"
    model.temperature_ = fit_temperature(proba, y)
    return {"temperature": round(model.temperature_, 6), "fitted_on": source}
