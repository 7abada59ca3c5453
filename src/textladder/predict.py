"""Score a run on a file, and stream predictions for files of any size.

Example:
    >>> from textladder.runs import Run  # doctest: +SKIP
    >>> predict_file(Run.open("runs/tfidf-linear-..."), "hm_test.csv", "out.parquet")  # doctest: +SKIP
    Predicted(rows=60321, withheld=0)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from textladder.data.dataset import Dataset, feature_column, load_dataset, resolve_columns
from textladder.data.reader import LINE, columns_of, iter_chunks
from textladder.errors import DataError, TextladderError, option
from textladder.files import atomic_file, lock
from textladder.models.base import checked_proba
from textladder.runs import Run, encode, predictions_frame, run_split, run_test_split  # noqa: F401

log = logging.getLogger("textladder")


def _run_default(run: Run, given: str | None, role: str, columns: list[str]) -> str | None:
    """The column the user gave, else the run's own ``role`` column when this file has it."""
    own = getattr(run.config.data, f"{role}_col")
    return given or (own if own in columns else None)


def labelled_rows(run: Run, path: str | Path, label_col: str | None = None, text_col: str | None = None,
                  id_col: str | None = None, on_progress=None) -> tuple[Dataset, int]:
    """Rows of ``path`` that have a label the run knows; returns (dataset, skipped count)."""
    cols = columns_of(path)
    text_col = _run_default(run, text_col, "text", cols)
    label_col = _run_default(run, label_col, "label", cols)
    _, resolved = resolve_columns(path, cols, text_col, label_col, id_col, require_label=True)
    ds = load_dataset(path, text_col=text_col, label_col=resolved.label, id_col=id_col,
                      require_label=False, max_drop=1.0, on_progress=on_progress)
    labels = ds.labels
    missing = labels == ""
    unknown = ~missing & ~np.isin(labels, run.classes)
    if unknown.any():
        bad = sorted(set(labels[unknown].tolist()))
        first = int(ds.lines[np.flatnonzero(unknown)[0]])
        raise DataError(path, f"label '{bad[0]}' is not a class of run {run.name} "
                              f"({len(bad)} unknown labels; the run knows: {', '.join(run.classes)})",
                        **{ds.line_kind: first})
    keep = np.flatnonzero(~missing)
    if not len(keep):
        raise DataError(path, f"no row has a label in column '{resolved.label}'")
    return ds.subset(keep), int(missing.sum())


def score(run: Run, ds: Dataset, model=None, runtime: str = "auto",
          calibrated: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, probabilities) of ``ds`` under the run's model (calibrated unless ``calibrated`` is False)."""
    model = model or run.load_model(runtime, calibrated)
    return encode(ds.labels, run.classes), checked_proba(model, ds.frame(), len(run.classes))


def _writer(output: Path, tmp: Path):
    if output.suffix.lower() in (".parquet", ".pq"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        state = {}

        def write(frame: pd.DataFrame):
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if "w" not in state:
                state["w"] = pq.ParquetWriter(tmp, table.schema)
            state["w"].write_table(table)

        def close():
            if "w" in state:
                state["w"].close()

    else:
        state = {"header": True}

        def write(frame: pd.DataFrame):
            frame.to_csv(tmp, mode="w" if state["header"] else "a", header=state["header"], index=False)
            state["header"] = False

        def close():
            pass

    return write, close


@dataclass
class Predicted:
    """What :func:`predict_file` wrote: ``rows`` predictions, of which ``withheld`` were below the minimum
    confidence (their label ``uncertain``)."""

    rows: int
    withheld: int = 0


def predict_file(run: Run, input_path: str | Path, output: str | Path, chunk_size: int = 10_000,
                 text_col: str | None = None, id_col: str | None = None, on_progress=None,
                 runtime: str = "auto", min_confidence: float | None = None, calibrated: bool = True,
                 keep_text: bool = False) -> Predicted:
    """Predict every row of ``input_path`` in chunks and write ``id, predicted, proba_<class>...``
    to ``output`` (CSV, or Parquet by suffix), atomically: the file appears complete or not at all, and
    a second command writing the same ``output`` at the same time is refused. Probabilities are
    calibrated unless ``calibrated`` is False. With ``min_confidence``, a prediction whose highest
    probability is below it is written as ``uncertain`` (the probabilities still given, and a
    ``confidence`` column). ``keep_text`` adds the input's text as a ``text`` column."""
    from textladder.calibration import UNCERTAIN

    input_path, output = Path(input_path), Path(output)
    cols = columns_of(input_path)
    text_col = _run_default(run, text_col, "text", cols)
    id_col = _run_default(run, id_col, "id", cols)
    _, resolved = resolve_columns(input_path, cols, text_col, None, id_col, require_label=False)
    kind = "csv" if input_path.suffix.lower() not in (".parquet", ".pq") else "parquet"
    sources = {f: feature_column(f, resolved, cols, input_path, kind) for f in run.config.features}
    if output.resolve() == input_path.resolve():
        raise TextladderError(f"{output}: the output would replace the input; choose another {option('output')}")
    if min_confidence is not None and UNCERTAIN in run.classes:
        raise TextladderError(f"run {run.name} has a class named '{UNCERTAIN}', which a withheld prediction "
                              f"would be confused with; predict without {option('min-confidence')}")
    model = run.load_model(runtime, calibrated)
    rows = empty = withheld = 0
    with lock(output), atomic_file(output) as tmp:
        write, close = _writer(output, tmp)
        try:
            for chunk in iter_chunks(input_path, chunk_size=chunk_size, on_progress=on_progress):
                texts = chunk[resolved.text].astype(object).where(chunk[resolved.text].notna(), "").astype(str)
                empty += int(texts.str.strip().eq("").sum())
                ids = chunk[resolved.id].astype(str) if resolved.id else chunk[LINE].astype(str)
                frame = pd.DataFrame({"text": texts.to_numpy(dtype=object)})
                for feature, column in sources.items():
                    frame[feature] = chunk[column].astype(object).where(chunk[column].notna(), "").astype(str)
                proba = checked_proba(model, frame, len(run.classes))
                block = predictions_frame(ids.to_numpy(dtype=object), run.classes, proba,
                                          min_confidence=min_confidence)
                if keep_text:
                    block.insert(1, "text", frame["text"].to_numpy())
                write(block)
                rows += len(chunk)
                if min_confidence is not None:
                    withheld += int((proba.max(axis=1) < min_confidence).sum())
        except BaseException:
            _close_quietly(close)
            raise
        close()
        if rows == 0:
            raise DataError(input_path, "has a header but no data rows")
    if empty:
        log.warning("%s: %d rows have an empty text; they were predicted anyway", input_path, empty)
    return Predicted(rows, withheld)


def _close_quietly(close) -> None:
    try:
        close()
    except Exception:
        pass
