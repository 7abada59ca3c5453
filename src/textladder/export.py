"""Export a run's neural model to ONNX (and int8), and check the exported model against PyTorch.

After ``export``, ``predict``, ``evaluate`` and ``serve`` run the model through onnxruntime:
the int8 file when there is one, else the fp32 one (``runtime="torch"`` when loading, or
``TEXTLADDER_RUNTIME=torch`` for the commands, forces PyTorch,
``onnx`` or ``onnx-int8`` one file).

Example:
    >>> from textladder.runs import Run  # doctest: +SKIP
    >>> export(Run.open("runs/transformer-..."), int8=True)["max_abs_diff_fp32"] < 1e-4  # doctest: +SKIP
    True
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from textladder.errors import TextladderError
from textladder.files import lock, write_checksums
from textladder.layout import MODEL_DIR
from textladder.models.base import checked_proba
from textladder.runs import Run

log = logging.getLogger("textladder")

CHECK_TEXTS = [
    "I went for a long run in the park with my dog this morning",
    "my daughter said her first word today",
    "I got promoted at work after two years of hard work and many late nights in the office",
    "ate a great pizza",
    "we watched the sunset at the beach",
    "finished the marathon",
]


def export(run: Run, int8: bool = False) -> dict:
    """Write ``RUN/model/onnx/model.onnx`` (and ``model.int8.onnx``); return the largest difference
    of their probabilities from PyTorch's on a few texts. Two exports of one run at once: the second
    is refused. The model's checksums are recorded again with the new files."""
    with lock(run.path / MODEL_DIR / "onnx"):
        return _export(run, int8)


def _export(run: Run, int8: bool) -> dict:
    model = run.load_model(runtime="torch")
    if not model.exports_onnx:
        raise TextladderError(f"{run.path}: model '{run.config.model}' is not a neural rung; "
                              "ONNX export is for the neural and transformer rungs")
    model.onnx_ = None  # the reference: PyTorch
    X = pd.DataFrame({"text": CHECK_TEXTS})
    for column in run.config.features:  # any value: an unseen one is the 'unknown' bucket
        X[column] = ["24h", "3m"] * (len(X) // 2)
    reference = checked_proba(model, X, len(run.classes))
    import warnings

    with warnings.catch_warnings(record=True) as caught:  # torch's exporter and onnxruntime warn a lot
        warnings.simplefilter("always")
        paths = model.export_onnx(run.path / MODEL_DIR, int8=int8)
    write_checksums(run.path / MODEL_DIR)
    report = {"files": [str(p) for p in paths], "warnings": _summarise(caught)}
    for path in paths:
        model.use_onnx(path)
        diff = float(np.abs(model.predict_proba(X) - reference).max())
        report["max_abs_diff_int8" if path.name.endswith("int8.onnx") else "max_abs_diff_fp32"] = diff
    log.info("exported %s: %s", run.name, report)
    return report


def _summarise(caught) -> list[str]:
    """The warnings an export raised, each distinct one once with its count: ``"3x UserWarning: ..."``."""
    from collections import Counter

    counts = Counter(f"{w.category.__name__}: {str(w.message).splitlines()[0][:200]}" for w in caught)
    return [f"{n}x {text}" if n > 1 else text for text, n in counts.most_common()]
