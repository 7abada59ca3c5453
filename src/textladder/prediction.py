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

from textladder.calibration import check_abstention
from textladder.data.dataset import Dataset, encode, feature_column, load_dataset, resolve_columns
from textladder.data.reader import LINE, columns_of, iter_chunks, parquet_module
from textladder.errors import DataError, TextladderError, option
from textladder.files import atomic_file, atomic_folder, lock
from textladder.models.base import checked_proba
from textladder.runs import Run, predictions_frame

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
        pq = parquet_module(f"writing {output}")
        import pyarrow as pa

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

    input_path, output = Path(input_path), Path(output)
    cols = columns_of(input_path)
    text_col = _run_default(run, text_col, "text", cols)
    id_col = _run_default(run, id_col, "id", cols)
    _, resolved = resolve_columns(input_path, cols, text_col, None, id_col, require_label=False)
    kind = "csv" if input_path.suffix.lower() not in (".parquet", ".pq") else "parquet"
    sources = {f: feature_column(f, resolved, cols, input_path, kind) for f in run.config.features}
    if output.resolve() == input_path.resolve():
        raise TextladderError(f"{output}: the output would replace the input; choose another {option('output')}")
    check_abstention(run.name, run.classes, min_confidence, "predict")
    if output.suffix.lower() in (".parquet", ".pq"):
        parquet_module(f"writing {output}")  # before the model loads: a missing [parquet] extra is said at once
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


_SCORERS: dict = {}  # in each Ray worker process: the models it has loaded, by run and options


def _score_batch(batch: pd.DataFrame, run_path: str, text: str, id_col: str, sources: dict, runtime: str,
                 min_confidence: float | None, calibrated: bool, keep_text: bool) -> pd.DataFrame:
    """A Ray Data task: score one batch into the local engine's columns. The run's model is loaded once per
    worker process and kept for the batches that follow (plain tasks rather than an actor pool, so that
    the reading tasks are never starved of CPUs on a small machine)."""
    key = (run_path, runtime, calibrated)
    if key not in _SCORERS:
        run = Run.open(run_path)
        _SCORERS[key] = (run, run.load_model(runtime, calibrated))
    run, model = _SCORERS[key]
    texts = batch[text].astype(object).where(batch[text].notna(), "").astype(str)
    frame = pd.DataFrame({"text": texts.to_numpy(dtype=object)})
    for feature, column in sources.items():
        frame[feature] = batch[column].astype(object).where(batch[column].notna(), "").astype(str).to_numpy()
    proba = checked_proba(model, frame, len(run.classes))
    out = predictions_frame(batch[id_col].astype(str).to_numpy(dtype=object), run.classes, proba,
                            min_confidence=min_confidence)
    if keep_text:
        out.insert(1, "text", frame["text"].to_numpy())
    return out


def input_files(inputs: list[str | Path]) -> list[Path]:
    """The CSV and Parquet files named, a folder standing for every such file directly in it."""
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in (".csv", ".parquet", ".pq"))
            if not found:
                raise TextladderError(f"{item}: no .csv or .parquet file in this folder")
            files += found
        elif item.is_file():
            files.append(item)
        else:
            raise TextladderError(f"{item}: no such file or folder")
    kinds = {f.suffix.lower() in (".parquet", ".pq") for f in files}
    if len(kinds) > 1:
        raise TextladderError("give CSV files or Parquet files, not both in one command")
    return files


def predict_ray(run: Run, inputs: list[str | Path], out_dir: str | Path, engine, text_col: str | None = None,
                id_col: str | None = None, runtime: str = "auto", min_confidence: float | None = None,
                calibrated: bool = True, keep_text: bool = False, batch_size: int = 4096,
                fmt: str = "parquet") -> Predicted:
    """Score one or many CSV or Parquet files (or folders of them) with Ray Data: the files are read in
    blocks, each worker process loads the run's model once and scores whole batches, and the predictions are
    written as partitioned Parquet (or CSV, ``fmt="csv"``) files in ``out_dir``, with the columns the
    local engine writes. Memory stays bounded: Ray Data streams the blocks. The columns are found in
    the first file (the others must have them too), and they need an id column: Ray reads the files in
    blocks at once, so it cannot number the rows by their line as the local engine does."""
    import pyarrow.csv as pacsv

    files = input_files(inputs)
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise TextladderError(f"{out_dir} exists already; the Ray engine writes a new folder of partitioned files")
    cols = columns_of(files[0])
    text_col = _run_default(run, text_col, "text", cols)
    id_col = _run_default(run, id_col, "id", cols)
    _, resolved = resolve_columns(files[0], cols, text_col, None, id_col, require_label=False)
    if not resolved.id:
        raise TextladderError(f"{files[0]}: no id column; the Ray engine needs one ({option('id-col')}) to name "
                              "each prediction, since it reads the files in blocks at once")
    kind = "parquet" if files[0].suffix.lower() in (".parquet", ".pq") else "csv"
    sources = {f: feature_column(f, resolved, cols, files[0], kind) for f in run.config.features}
    check_abstention(run.name, run.classes, min_confidence, "predict")
    ray = engine.start()
    paths = [str(f.resolve()) for f in files]
    strings = {c: "string" for c in cols}  # every column as text, as the local reader reads them
    if kind == "csv":
        import pyarrow as pa

        ds = ray.data.read_csv(paths, parse_options=pacsv.ParseOptions(newlines_in_values=True),
                               convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in strings}))
    else:
        ds = ray.data.read_parquet(paths)
    scored = ds.map_batches(_score_batch, batch_format="pandas", batch_size=batch_size, num_cpus=engine.cpus_per_task,
                            fn_kwargs={"run_path": str(run.path.resolve()), "text": resolved.text, "id_col": resolved.id,
                                       "sources": sources, "runtime": runtime, "min_confidence": min_confidence,
                                       "calibrated": calibrated, "keep_text": keep_text})
    with lock(out_dir), atomic_folder(out_dir) as tmp:  # the folder appears complete, or not at all
        (scored.write_csv if fmt == "csv" else scored.write_parquet)(str(tmp.resolve()))
    rows = withheld = 0
    for f in sorted(out_dir.iterdir()):
        if f.suffix in (".parquet", ".csv"):
            part = pd.read_parquet(f, columns=["predicted"]) if f.suffix == ".parquet" else pd.read_csv(
                f, usecols=["predicted"], keep_default_na=False)
            rows += len(part)
            withheld += int((part["predicted"] == "uncertain").sum()) if min_confidence is not None else 0
    return Predicted(rows, withheld)
