"""The ``textladder`` command. Thin: each command parses its flags, makes one call to the Python API
(:mod:`textladder.api`) and prints what it returns. It imports nothing else of the package but the
errors and the choices.

Every user-fixable problem is one ``error: ...`` line on stderr and exit code 1.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from textladder import api
from textladder.choices import BALANCE, RUNTIMES, VOTES, check
from textladder.errors import Interrupted, TextladderError, is_disk_full, missing_extra

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
if not out.is_terminal:  # pipes and files: no 80-column squeeze of tables
    out.width = 200
log = logging.getLogger("textladder")

app = typer.Typer(
    name="textladder",
    help="Build ever better multi-class text classifiers, one rung at a time.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
data_app = typer.Typer(help="Get datasets.", no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        from textladder._version import __version__

        print(f"textladder {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False,
          threads: Annotated[Optional[int], typer.Option("--threads", min=1, envvar="TEXTLADDER_THREADS",
                                                         help="Threads of the neural rungs (default: the CPUs this process may use).")] = None,
          verbose: Annotated[bool, typer.Option("--verbose", help="Show every library warning (one line each) and "
                                                "the libraries' own load reports; by default a command ends with one "
                                                "line counting the warnings of each kind.")] = False) -> None:
    """Build ever better multi-class text classifiers, one rung at a time."""
    if threads:
        os.environ["TEXTLADDER_THREADS"] = str(threads)
    _SHOW["warnings"] = verbose
    if verbose and "TRANSFORMERS_VERBOSITY" not in os.environ:  # Hugging Face's load reports
        os.environ["TRANSFORMERS_VERBOSITY"] = _SHOW["transformers"] = "info"
    elif not verbose and _SHOW.pop("transformers", None):  # set by an earlier command of this process
        os.environ.pop("TRANSFORMERS_VERBOSITY", None)


app.add_typer(data_app, name="data")
vectors_app = typer.Typer(help="Look at a run's word vectors.", no_args_is_help=True)
app.add_typer(vectors_app, name="vectors")


class _ConsoleHandler(logging.Handler):
    """Log records as single unwrapped lines on stderr: ``warning: ...``, info dimmed."""

    def emit(self, record: logging.LogRecord) -> None:
        msg = self.format(record)
        if record.levelno >= logging.WARNING:
            err.print(f"[yellow]warning:[/] {escape(msg)}", highlight=False)
        else:
            err.print(f"[dim]{escape(msg)}[/]", highlight=False)


def _setup_logging(verbose: bool = False) -> None:
    for h in list(log.handlers):
        if isinstance(h, _ConsoleHandler):
            log.removeHandler(h)
    handler = _ConsoleHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if verbose else logging.INFO)


_SHOW: dict = {"warnings": False}  # textladder --verbose: each library warning, as it comes


@contextmanager
def _warnings_summarised():
    """Library warnings (scikit-learn's ConvergenceWarning, a FutureWarning, ...) as the command runs: one
    line each with ``textladder --verbose``, else counted and summed up in one line when the command ends."""
    verbose = _SHOW["warnings"]
    counts: dict[str, int] = {}

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        kind = category.__name__
        counts[kind] = counts.get(kind, 0) + 1
        if verbose:
            text = str(message).strip().splitlines()[0] if str(message).strip() else kind
            err.print(f"[yellow]warning:[/] {escape(kind)}: {escape(text)}", highlight=False)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        try:
            yield
        finally:
            if counts and not verbose:
                kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items(), key=lambda kv: -kv[1]))
                err.print(f"[yellow]warning:[/] the libraries warned {sum(counts.values())} times ({kinds}); "
                          "textladder --verbose shows each", highlight=False)


@contextmanager
def _errors():
    with _warnings_summarised():
        with _one_line_errors():
            yield


@contextmanager
def _one_line_errors():
    try:
        yield
    except TextladderError as exc:
        err.print(f"[bold red]error:[/] {escape(exc.cli_message())}", highlight=False)
        raise typer.Exit(1) from None
    except Interrupted as exc:
        err.print(escape(exc.cli_message()), highlight=False)
        raise typer.Exit(130) from None
    except KeyboardInterrupt as exc:
        err.print(escape(str(exc)) or "interrupted; nothing was written", highlight=False)
        raise typer.Exit(130) from None
    except ModuleNotFoundError as exc:  # an optional part not installed, wherever it is first needed
        extra = missing_extra(exc)
        if extra is None:
            raise
        err.print(f"[bold red]error:[/] this needs {escape(exc.name.split('.')[0])}, which is not installed: "
                  f'pip install "textladder[{extra}]"', highlight=False)
        raise typer.Exit(1) from None
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        err.print(f"[bold red]error:[/] {escape(where)}no space left on device; free some space (or write "
                  "somewhere else) and run the command again", highlight=False)
        raise typer.Exit(1) from None


def _progress(description: str, unit: str = "bytes") -> Progress:
    columns = [TextColumn("{task.description}"), BarColumn()]
    columns.append(DownloadColumn() if unit == "bytes" else TextColumn("{task.completed:,.0f}/{task.total:,.0f} rows"))
    columns.append(TimeRemainingColumn())
    return Progress(*columns, console=err, transient=True, disable=not err.is_terminal)


@contextmanager
def _file_progress(path: str | Path, description: str):
    """A progress bar over a file being read; yields the callback for the readers."""
    size = api.data_size(path)
    if size is None:
        yield None
        return
    total, unit = size
    with _progress(description, unit) as progress:
        task = progress.add_task(description, total=total)

        def advance(n: int) -> None:
            progress.advance(task, n)
            if progress.tasks[0].finished:  # the file is read: leave the terminal to what comes next
                progress.stop()

        yield advance


def _data_path(data: Optional[Path]) -> Path:
    return data if data is not None else api.default_data()


def _runtime() -> str:
    """How exported neural models predict: ``$TEXTLADDER_RUNTIME`` (auto, torch, onnx, onnx-int8), else auto."""
    return check(os.environ.get("TEXTLADDER_RUNTIME", "auto"), RUNTIMES, "TEXTLADDER_RUNTIME")


def _parse_sets(values: list[str]) -> dict:
    params = {}
    for item in values:
        if "=" not in item:
            raise TextladderError(f"--set takes KEY=VALUE, got '{item}'")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        params[key.strip().replace("-", "_")] = value
    return params


NEURAL = "Neural rungs (shortcuts for --set)"

# Shared options ---------------------------------------------------------------------------------
DataArg = Annotated[Optional[Path], typer.Argument(
    help="CSV or Parquet file. Default: $TEXTLADDER_DATA, else ../shared/data/happydb/hm_train.csv, "
         "else the fetched HappyDB.", show_default=False)]
TextCol = Annotated[Optional[str], typer.Option("--text-col", help="Text column (default: from the format).")]
LabelCol = Annotated[Optional[str], typer.Option("--label-col", help="Label column (default: from the format).")]
IdCol = Annotated[Optional[str], typer.Option("--id-col", help="Id column (default: from the format, else the line).")]
PeriodCol = Annotated[Optional[str], typer.Option("--period-col", help="Reflection-period column.")]
MaxDrop = Annotated[float, typer.Option(
    "--max-drop", min=0.0, max=1.0,
    help="Drop rows with empty text or label, with a warning, up to this fraction of the file; more is an error.")]
SplitOpt = Annotated[str, typer.Option(
    "--split", help="auto (reference protocol for the HackerEarth/blog files, else stratified), reference, "
                    "or stratified.")]
TestSize = Annotated[Optional[float], typer.Option(
    "--test-size", help="Test part: a fraction (0.1) or a row count (6000). Default 0.1 (reference: 6000).")]
ValSize = Annotated[Optional[float], typer.Option(
    "--val-size", help="Validation part of the rest: fraction or count. Default 0.15.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the split and the model.")]
EngineOpt = Annotated[str, typer.Option("--engine", help="local: here, one piece after another; ray: as Ray tasks at once (pip install 'textladder[ray]'), on a local Ray instance sized to this machine or the cluster at --ray-address.")]
RayAddress = Annotated[Optional[str], typer.Option("--ray-address", help="With --engine ray: join this Ray cluster (ray://HOST:10001, or auto) instead of starting a local instance.")]
TrackOpt = Annotated[Optional[str], typer.Option("--track", envvar="TEXTLADDER_TRACKING_URI", show_envvar=True, help="Log to this MLflow tracking URI (http://HOST:5000, sqlite:///mlflow.db, file:./mlruns; pip install 'textladder[mlflow]'). The run folder stays the record; a tracking failure only warns.")]
CvOpt = Annotated[Optional[int], typer.Option(
    "--cv", min=2, max=20, help="K: stratified K-fold cross-validation over train+val (test untouched): mean ± std "
    "of each metric and out-of-fold probabilities for every train+val row (oof_predictions.csv); the saved model "
    "is then one refit on all of train+val.")]
MinClassRows = Annotated[int, typer.Option(
    "--min-class-rows", min=0,
    help="Drop classes with fewer rows than this, with a warning (a stratified split needs 3 of each).")]


SplitCol = Annotated[Optional[str], typer.Option(
    "--split-col", help="A column giving each row's part of a given split: train, val, test (val optional: "
                        "else --val-size of train is held out). Test rows are never used to choose.")]
TestData = Annotated[Optional[Path], typer.Option(
    "--test-data", help="A file of test rows, with DATA's columns: DATA is then train (and validation, unless "
                        "--val-data). Test rows are never used to choose.")]
ValData = Annotated[Optional[Path], typer.Option("--val-data", help="With --test-data: a file of validation rows.")]
Corrections = Annotated[Optional[Path], typer.Option(
    "--corrections", help="A CSV/Parquet file of id and label (what 'label-issues --html' saves): labels people "
                          "corrected, applied before the split and recorded in the run.")]


def _data_options(data, seed: int, split: str = "auto", **options) -> dict:
    """A command's data and split flags as the Python API takes them (``split``, ``test``, ``val``, ...)."""
    if split not in ("auto", "reference", "stratified"):
        raise TextladderError(f"--split must be auto, reference or stratified, not '{split}' (a column that gives "
                              "each row's part is --split-col)")
    return {"split": split, "seed": seed, **{k: v for k, v in options.items() if v is not None}}


# Commands ---------------------------------------------------------------------------------------
@app.command()
def train(
    data: DataArg = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Registered model name (see 'textladder models').")] = "tfidf-linear",
    runs_dir: Annotated[Path, typer.Option("--out", "-o", help="Runs folder; the run gets its own folder inside.")] = Path("runs"),
    name: Annotated[Optional[str], typer.Option("--name", help="Run folder name (default: MODEL-TIME-RANDOM). An existing run of that name is refused unless --overwrite.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the run called --name if it exists (the old one stays until the new one is complete).")] = False,
    set_: Annotated[Optional[list[str]], typer.Option("--set", "-s", help="Model parameter KEY=VALUE (JSON value); repeat.")] = None,
    class_weight: Annotated[Optional[str], typer.Option("--class-weight", help="'balanced': weight classes by inverse frequency (the same as --balance class-weight).")] = None,
    features: Annotated[Optional[str], typer.Option("--features", help="Extra inputs joined before the classifier head: categorical columns of the data, one-hot (COL[,COL...]; 'period' is the reflection-period column).")] = None,
    balance: Annotated[str, typer.Option("--balance", help="Class-imbalance remedy on the train split: none, oversample, undersample, smote (fixed-length-vector rungs), class-weight.")] = "none",
    epochs: Annotated[Optional[int], typer.Option("--epochs", min=1, help="Neural rungs: most epochs.", rich_help_panel=NEURAL)] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", min=1, help="Neural rungs: batch size.", rich_help_panel=NEURAL)] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", min=0.0, help="Neural rungs: learning rate.", rich_help_panel=NEURAL)] = None,
    lr_decay: Annotated[Optional[float], typer.Option("--lr-decay", min=0.0, max=1.0, help="Neural rungs: learning rate multiplied by this after each epoch.", rich_help_panel=NEURAL)] = None,
    hidden: Annotated[Optional[int], typer.Option("--hidden", min=1, help="Neural rungs: units per recurrent layer.", rich_help_panel=NEURAL)] = None,
    layers: Annotated[Optional[int], typer.Option("--layers", min=1, help="Neural rungs: stacked recurrent layers.", rich_help_panel=NEURAL)] = None,
    dropout: Annotated[Optional[float], typer.Option("--dropout", min=0.0, max=0.99, help="Neural rungs: dropout.", rich_help_panel=NEURAL)] = None,
    activation: Annotated[Optional[str], typer.Option("--activation", help="Neural rungs: relu or leaky_relu in the dense layers.", rich_help_panel=NEURAL)] = None,
    leaky_alpha: Annotated[Optional[float], typer.Option("--leaky-alpha", help="Neural rungs: negative slope of leaky_relu.", rich_help_panel=NEURAL)] = None,
    patience: Annotated[Optional[int], typer.Option("--patience", min=1, help="Neural rungs: early-stopping patience in epochs.", rich_help_panel=NEURAL)] = None,
    seq_len: Annotated[Optional[int], typer.Option("--seq-len", min=1, help="Sequence rungs: truncate texts to this many tokens (default: 98th percentile).", rich_help_panel=NEURAL)] = None,
    embeddings: Annotated[Optional[str], typer.Option("--embeddings", help="Sequence rungs: random, w2v, minilm-static (distilled from the encoder by model2vec), or a vectors file (GloVe, word2vec, fastText .vec).", rich_help_panel=NEURAL)] = None,
    trainable_embeddings: Annotated[Optional[bool], typer.Option("--trainable-embeddings/--frozen-embeddings", help="Sequence rungs: train the embedding layer (default: yes for random, no for w2v or a file).", show_default=False, rich_help_panel=NEURAL)] = None,
    encoder: Annotated[Optional[str], typer.Option("--encoder", help="contextual, transformer and minilm-static: a local Hugging Face model folder (default: the packaged all-MiniLM-L6-v2). Nothing is downloaded.", rich_help_panel=NEURAL)] = None,
    accelerator: Annotated[Optional[str], typer.Option("--accelerator", help="Neural rungs: Lightning accelerator, cpu, gpu or auto (default cpu; transformer: auto).", rich_help_panel=NEURAL)] = None,
    devices: Annotated[Optional[str], typer.Option("--devices", help="Neural rungs: Lightning devices, a count or 'auto' (with --strategy ddp: one process each).", rich_help_panel=NEURAL)] = None,
    strategy: Annotated[Optional[str], typer.Option("--strategy", help="Neural rungs: Lightning strategy, e.g. ddp.", rich_help_panel=NEURAL)] = None,
    precision: Annotated[Optional[str], typer.Option("--precision", help="Neural rungs: Lightning precision, e.g. 32-true, bf16-mixed, 16-mixed (default: mixed on GPU).", rich_help_panel=NEURAL)] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the interrupted run of this same command from its last finished epoch.")] = False,
    cv: CvOpt = None,
    text_col: TextCol = None, label_col: LabelCol = None, id_col: IdCol = None, period_col: PeriodCol = None,
    max_drop: MaxDrop = 0.05, min_class_rows: MinClassRows = 0,
    split: SplitOpt = "auto", test_size: TestSize = None, val_size: ValSize = None, seed: Seed = 42,
    split_col: SplitCol = None, test_data: TestData = None, val_data: ValData = None, corrections: Corrections = None,
    track: TrackOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also log debug messages.")] = False,
):
    """Train one model, evaluate it on validation and test, and save a run folder.

    Prints the metrics, then the run folder's path as the last line of stdout. Neural rungs log
    each epoch; Ctrl-C keeps the last finished epoch, and the same command with --resume goes on.
    """
    _setup_logging(verbose)
    with _errors():
        params = _parse_sets(set_ or [])
        if class_weight is not None:
            if class_weight not in ("balanced", "none"):
                raise TextladderError(f"--class-weight must be 'balanced' or 'none', not '{class_weight}'")
            params["class_weight"] = None if class_weight == "none" else class_weight
        flags = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "lr_decay": lr_decay, "hidden": hidden,
                 "layers": layers, "dropout": dropout, "activation": activation, "leaky_alpha": leaky_alpha,
                 "patience": patience, "seq_len": seq_len, "embeddings": embeddings,
                 "trainable_embeddings": trainable_embeddings, "encoder": encoder}
        trainer = {"accelerator": accelerator, "devices": int(devices) if devices is not None and devices.isdigit()
                   else devices, "strategy": strategy, "precision": precision}
        params.update({k: v for k, v in flags.items() if v is not None})
        check(balance, BALANCE, "--balance")
        extra = [f.strip() for f in (features or "").split(",") if f.strip()]
        path = _data_path(data)
        options = _data_options(
            path, seed, split, text_col=text_col, label_col=label_col, id_col=id_col, period_col=period_col,
            max_drop=max_drop, min_class_rows=min_class_rows, test_size=test_size, val_size=val_size,
            split_col=split_col, test=test_data, val=val_data, corrections=corrections)
        clash = sorted(set(params) & {*options, "balance", "features"})
        if clash:
            raise TextladderError(f"--set {clash[0]}=... is a model parameter of that name; the run's own option "
                                  f"is --{clash[0].replace('_', '-')}")
        neural = api.model_info(model)["neural"]  # its loop shows its own bar and a line per epoch
        if neural:
            log.info("training %s on %s ...", model, path.name)
        spinner = nullcontext() if neural else err.status(f"training {model} on {path.name} ...", spinner="dots")
        with _file_progress(path, f"reading {path.name}") as progress, spinner:
            run = api.train(path, model, runs_dir, name=name, overwrite=overwrite, resume=resume,
                            progress=neural and err.is_terminal, cv=cv, track=track, trainer=trainer,
                            on_read=progress, balance=balance, features=extra, **options, **params)
        if run is None:  # an extra DDP process: the first one reports
            return
        _print_metrics(run)
        print(run.path)


def _print_metrics(run) -> None:
    m = run.metrics
    table = Table(title=f"{run.name}")
    for col in ("split", "accuracy", "macro-F1", "weighted-F1", "n"):
        table.add_column(col, justify="right" if col != "split" else "left")
    for part in ("val", "test"):
        r = m[part]
        table.add_row(part, f"{r['accuracy']:.4f}", f"{r['macro_f1']:.4f}", f"{r['weighted_f1']:.4f}", f"{r['n']:,}")
    cv = m.get("cv")
    if cv:
        table.add_row(f"cv{cv['k']} train+val", f"{cv['accuracy']['mean']:.4f} ± {cv['accuracy']['std']:.4f}",
                      f"{cv['macro_f1']['mean']:.4f} ± {cv['macro_f1']['std']:.4f}", "", "")
    out.print(table)
    if m.get("val_source"):
        out.print(f"trained on {m.get('trained_on', 'train')}; validation figures: {m['val_source']}")
    out.print(f"training time {m['train_seconds']:.1f} s")


MinConfidence = Annotated[Optional[float], typer.Option("--min-confidence", min=0.0, max=1.0, help="Below this highest probability, answer 'uncertain' instead of a label (the probabilities are still given).")]
NoCalibration = Annotated[bool, typer.Option("--no-calibration", help="Use the model's own probabilities, not the run's temperature-scaled ones (to compare).")]


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run folder.")],
    data: Annotated[Optional[Path], typer.Argument(help="File to score (default: the run's own test split).")] = None,
    label_col: LabelCol = None, text_col: TextCol = None, id_col: IdCol = None,
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON object to stdout, nothing else.")] = False,
    out_dir: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for the plots and CSVs (default: RUN/eval-NAME).")] = None,
    no_calibration: NoCalibration = False,
    target_accuracy: Annotated[Optional[float], typer.Option("--target-accuracy", min=0.0, max=1.0, help="Choose on validation the lowest confidence threshold whose answered rows reach this accuracy, and report the coverage and accuracy it gives here.")] = None,
):
    """Score a run: accuracy, macro/weighted F1, per-class report, confusion matrices, misclassified rows,
    calibration (ECE, Brier, log loss; reliability diagram) and accuracy against coverage.

    Rows of DATA with no label are skipped and counted.
    """
    _setup_logging()
    with _errors():
        target = out_dir or api.evaluation_folder(run, data)
        result = api.evaluate(run, data, runtime=_runtime(), calibrated=not no_calibration,
                              target_accuracy=target_accuracy, out=target, label_col=label_col, text_col=text_col,
                              id_col=id_col)
        if json_:
            print(json.dumps(result))
            return
        _print_report(run.name, result, target)


def _print_report(name: str, result: dict, target: Path) -> None:
    source, skipped = result["source"], result["skipped_unlabelled"]
    table = Table(title=f"{name} on {source}")
    for col in ("class", "precision", "recall", "F1", "support"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for c, v in result["per_class"].items():
        table.add_row(c, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", f"{v['support']:,}")
    out.print(table)
    out.print(f"accuracy {result['accuracy']:.4f}   macro-F1 {result['macro_f1']:.4f}   "
              f"weighted-F1 {result['weighted_f1']:.4f}   n {result['n']:,}")
    cal, before = result["calibration"], result["uncalibrated"]
    if cal["calibrated"] and cal["temperature"] != 1.0:
        out.print(f"calibration: temperature {cal['temperature']:.3f} (fitted on {cal['fitted_on']}); "
                  f"ECE {before['ece']:.4f} -> {result['ece']:.4f}, Brier {before['brier']:.4f} -> "
                  f"{result['brier']:.4f}, log loss {before['log_loss']:.4f} -> {result['log_loss']:.4f}")
    else:
        out.print(f"{'uncalibrated' if not cal['calibrated'] else 'no temperature (run from before calibration)'}: "
                  f"ECE {result['ece']:.4f}, Brier {result['brier']:.4f}, log loss {result['log_loss']:.4f}")
    out.print("accuracy of the most confident rows: " + ", ".join(
        f"{float(c):.0%} answered {a:.4f}" for c, a in result["coverage"].items()))
    chosen = result.get("selective")
    if chosen:
        if chosen["reached"]:
            out.print(f"target accuracy {chosen['target_accuracy']}: threshold {chosen['threshold']:.4f} (chosen on "
                      f"{chosen['chosen_on']}) answers {chosen['coverage']:.1%} of these rows at accuracy "
                      f"{chosen['accuracy'] if chosen['accuracy'] is not None else float('nan'):.4f}; "
                      f"{chosen['withheld']:,} withheld")
        else:
            out.print(f"target accuracy {chosen['target_accuracy']}: no confidence threshold reaches it on validation")
    if skipped:
        out.print(f"skipped {skipped:,} rows with no label")
    out.print(f"plots and CSVs: {target}")


@app.command()
def predict(
    run: Annotated[Path, typer.Argument(help="Run folder.")],
    inputs: Annotated[list[Path], typer.Argument(metavar="INPUT...", help="CSV or Parquet file to predict (with --engine ray: files or folders of them).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV or Parquet (by suffix) to write; with --engine ray, a new folder of partitioned Parquet files (CSV with --format csv).")],
    text_col: TextCol = None, id_col: IdCol = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1, help="Rows per chunk; memory stays flat.")] = 10_000,
    min_confidence: MinConfidence = None,
    no_calibration: NoCalibration = False,
    keep_text: Annotated[bool, typer.Option("--keep-text", help="Also write the input's text, as a 'text' column.")] = False,
    engine: EngineOpt = "local", ray_address: RayAddress = None,
    fmt: Annotated[str, typer.Option("--format", help="With --engine ray: parquet or csv files in the output folder.")] = "parquet",
):
    """Predict a file in chunks: id, predicted label and one (calibrated) probability per class.

    With --engine ray, Ray Data scores one or many files (or folders) at once, the model loaded once
    per worker, into a folder of partitioned files with the same columns.
    """
    _setup_logging()
    with _errors():
        if engine == "ray":
            check(fmt, ("parquet", "csv"), "--format")
            with err.status(f"scoring {len(inputs)} inputs with Ray ...", spinner="dots"):
                done = api.predict_files(run, inputs, output, engine=engine, ray_address=ray_address,
                                         text_col=text_col, id_col=id_col, runtime=_runtime(),
                                         min_confidence=min_confidence, calibrated=not no_calibration,
                                         keep_text=keep_text, fmt=fmt, chunk_size=chunk_size)
            err.print(f"wrote {done.rows:,} predictions to {output}/"
                      + (f"; {done.withheld:,} withheld as 'uncertain'" if min_confidence is not None else ""))
            return
        if len(inputs) != 1:
            raise TextladderError("the local engine predicts one INPUT file; give several with --engine ray")
        input_path = inputs[0]
        with _file_progress(input_path, f"predicting {input_path.name}") as progress:
            done = api.predict_files(run, inputs, output, chunk_size=chunk_size, text_col=text_col, id_col=id_col,
                                     runtime=_runtime(), on_read=progress, min_confidence=min_confidence,
                                     calibrated=not no_calibration, keep_text=keep_text, engine=engine,
                                     ray_address=ray_address)
        withheld = (f"; {done.withheld:,} ({done.withheld / done.rows:.1%}) withheld as 'uncertain' (confidence "
                    f"below {min_confidence})" if min_confidence is not None else "")
        err.print(f"wrote {done.rows:,} predictions to {output}{withheld}")


@app.command()
def ensemble(
    runs_: Annotated[list[Path], typer.Argument(metavar="RUN...", help="Run folders, or a folder of runs (all its finished runs).")],
    vote: Annotated[str, typer.Option("--vote", help="soft: mean of the probabilities; hard: majority of the predicted labels (ties: the larger summed probability); stack: a logistic regression on the members' log-probabilities (one weight per member, one intercept per class), fitted on their out-of-fold predictions when all have them (train --cv), otherwise cross-fitted on validation.")] = "soft",
    weights: Annotated[Optional[str], typer.Option("--weights", help="Comma-separated positive weights, one per run, in order (not with --select).")] = None,
    select: Annotated[Optional[str], typer.Option("--select", help="top-K: keep the K runs with the best validation macro-F1 (never test); greedy: forward selection with replacement (Caruana) of soft-voting weights on out-of-fold or validation predictions; default all.")] = None,
    runs_dir: Annotated[Path, typer.Option("--out", "-o", help="Runs folder; the ensemble gets its own run folder inside.")] = Path("runs"),
    name: Annotated[Optional[str], typer.Option("--name", help="Run folder name (default: ensemble-VOTE-TIME-RANDOM).")] = None,
    no_calibration: Annotated[bool, typer.Option("--no-calibration", help="Combine the members' own probabilities, not their calibrated ones, and leave the ensemble uncalibrated (to compare).")] = False,
    track: TrackOpt = None,
):
    """Combine finished runs by soft or hard voting, stacking or greedy selection into a new run folder
    (evaluate, predict, serve and runs work on it). Test is never used to choose or fit.

    Members must have the same labels and the same validation and test rows. Prints the metrics,
    then the ensemble's run folder as the last line of stdout.
    """
    _setup_logging()
    with _errors():
        check(vote, VOTES, "--vote")
        w = None
        if weights is not None:
            try:
                w = [float(x) for x in weights.split(",")]
            except ValueError:
                raise TextladderError(f"--weights must be numbers separated by commas, not '{weights}'") from None
        with err.status(f"scoring {len(runs_)} runs on validation and test ...", spinner="dots"):
            made = api.ensemble(runs_, vote=vote, select=select, weights=w, out=runs_dir, name=name,
                                calibrated=not no_calibration, runtime=_runtime(), track=track)
        _print_metrics(made)
        print(made.path)


@app.command()
def ladder(
    data: DataArg = None,
    config: Annotated[str, typer.Option("--config", "-c", help="Ladder: auto (search every rung within --budget, refit the winners, stack), a preset (quick, full) or a TOML file of rungs.")] = "quick",
    budget: Annotated[Optional[str], typer.Option("--budget", help="--config auto: the time to spend, e.g. 10m or 30m (default 10m).")] = None,
    runs_dir: Annotated[Path, typer.Option("--out", "-o", help="Runs folder: finished rungs in it are read back, not retrained.")] = Path("runs"),
    no_report: Annotated[bool, typer.Option("--no-report", help="Do not write RUNS_DIR/report.html.")] = False,
    text_col: TextCol = None, label_col: LabelCol = None, id_col: IdCol = None, period_col: PeriodCol = None,
    max_drop: MaxDrop = 0.05, min_class_rows: MinClassRows = 0,
    split: SplitOpt = "auto", test_size: TestSize = None, val_size: ValSize = None, seed: Seed = 42,
    split_col: SplitCol = None, test_data: TestData = None, val_data: ValData = None, corrections: Corrections = None,
    engine: EngineOpt = "local", ray_address: RayAddress = None, track: TrackOpt = None,
):
    """Climb a whole ladder in one command: train every rung not finished yet, build the ensembles,
    print the leaderboard and write the HTML report.

    Interrupted? Run the same command again: finished rungs are read back and an interrupted neural
    rung goes on from its last finished epoch. The last line of stdout is the report's path.
    """
    _setup_logging()
    with _errors():
        options = _data_options(
            data, seed, split, text_col=text_col, label_col=label_col, id_col=id_col, period_col=period_col,
            max_drop=max_drop, min_class_rows=min_class_rows, test_size=test_size, val_size=val_size,
            split_col=split_col, test=test_data, val=val_data, corrections=corrections)
        if config != "auto" and budget is not None:
            raise TextladderError("--budget applies to --config auto; a preset or TOML ladder trains each rung as written")
        board = api.climb(_data_path(data), config, runs_dir, report=not no_report, progress=err.is_terminal,
                          budget=(budget or "10m") if config == "auto" else None, engine=engine,
                          ray_address=ray_address, track=track, **options)
        result = board.attrs["result"]
        runs(runs_dir)
        if result.budget is not None:
            for model, why in result.dropped.items():
                err.print(f"[yellow]{escape(model)}[/]: {escape(why)}", highlight=False)
            out.print(f"{len(result.searched)} rungs searched, {len(result.refits)} refit, "
                      f"{len(result.ensembles)} ensembles; {result.seconds:.0f} s of a {result.budget:.0f} s budget")
            if result.best is not None:
                score, source = result.best.pick_score()
                out.print(f"pick: {result.best.name} (macro-F1 {score:.4f}, {source}); test accuracy "
                          f"{result.best.metrics['test']['accuracy']:.4f}")
        else:
            out.print(f"{result.trained} rungs trained, {result.reused} read back, {len(result.ensembles)} ensembles, "
                      f"{result.seconds:.0f} s")
            for rung, problem in result.failed:
                err.print(f"[red]failed:[/] {escape(rung)}: {escape(problem)}", highlight=False)
        if result.report is not None:
            print(result.report)
        if result.budget is None and result.failed:
            raise typer.Exit(1)


@app.command()
def search(
    data: DataArg = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Registered model name with a search space.")] = "tfidf-linear",
    runs_dir: Annotated[Path, typer.Option("--out", "-o", help="Runs folder: the study (search.sqlite), the trials CSV and the best run go here.")] = Path("runs"),
    trials: Annotated[Optional[int], typer.Option("--trials", min=1, help="More trials to run (with --budget: whichever ends first).")] = None,
    budget: Annotated[Optional[str], typer.Option("--budget", help="Time to search: 90s, 15m, 2h.")] = None,
    metric: Annotated[str, typer.Option("--metric", help="Validation metric to maximise: macro_f1 or accuracy.")] = "macro_f1",
    study: Annotated[Optional[str], typer.Option("--study", help="Study name (default: from the model, data, split and metric: the same search continues).")] = None,
    refit: Annotated[bool, typer.Option("--refit", help="Also retrain the best configuration on train+validation (neural rungs: for the epochs validation chose) as its own run, scored on test once.")] = False,
    autotune: Annotated[bool, typer.Option("--autotune", help="fasttext: use fastText's own autotune on the validation split for --budget instead of Optuna (a fast path; it maximises accuracy).")] = False,
    cv: CvOpt = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", "-s", help="Model parameter KEY=VALUE fixed for every trial (JSON value); repeat.")] = None,
    balance: Annotated[str, typer.Option("--balance", help="Class-imbalance remedy, as for train.")] = "none",
    features: Annotated[Optional[str], typer.Option("--features", help="Extra input columns, as for train.")] = None,
    text_col: TextCol = None, label_col: LabelCol = None, id_col: IdCol = None, period_col: PeriodCol = None,
    max_drop: MaxDrop = 0.05, min_class_rows: MinClassRows = 0,
    split: SplitOpt = "auto", test_size: TestSize = None, val_size: ValSize = None, seed: Seed = 42,
    split_col: SplitCol = None, test_data: TestData = None, val_data: ValData = None, corrections: Corrections = None,
    engine: EngineOpt = "local", ray_address: RayAddress = None, track: TrackOpt = None,
):
    """Search a rung's parameters on validation (Optuna, TPE, seeded; the defaults are the first trial),
    then train the best and write it as a run folder, whose path is the last line of stdout (the refit's,
    with --refit). Neural trials that fall behind are stopped early (median pruner).

    The study is kept in RUNS/search.sqlite: run the same command again (with more --trials or
    --budget) and it continues. Test is never used to choose.
    """
    _setup_logging()
    with _errors():
        check(balance, BALANCE, "--balance")
        if trials is None and budget is None:
            raise TextladderError("say how long to search: --trials N and/or --budget 15m")
        options = _data_options(
            data, seed, split, text_col=text_col, label_col=label_col, id_col=id_col, period_col=period_col,
            max_drop=max_drop, min_class_rows=min_class_rows, test_size=test_size, val_size=val_size,
            split_col=split_col, test=test_data, val=val_data, corrections=corrections)
        params = _parse_sets(set_ or [])
        extra = [f.strip() for f in (features or "").split(",") if f.strip()]
        if autotune:
            if budget is None or trials is not None or cv or refit:
                raise TextladderError("--autotune takes a --budget only (no --trials, --cv or --refit)")
            run = api.autotune(_data_path(data), model, runs_dir, budget=budget, balance=balance, features=extra,
                               **options, **params)
            _print_metrics(run)
            print(run.path)
            return
        result = api.search(_data_path(data), model, runs_dir, trials=trials, budget=budget, metric=metric, cv=cv,
                            refit=refit, study=study, progress=err.is_terminal, engine=engine,
                            ray_address=ray_address, track=track, balance=balance, features=extra, **options,
                            **params)
        default = "-" if result.default_value is None else f"{result.default_value:.4f}"
        out.print(f"study {result.study_name}: {result.trials} trials ({result.pruned} pruned), best "
                  f"{'cross-validated' if cv else 'validation'} {metric} {result.best_value:.4f} (the defaults: "
                  f"{default}); {result.seconds:.0f} s")
        out.print(f"trials: {result.trials_csv}")
        _print_metrics(result.run)
        if result.refit is not None:
            _print_metrics(result.refit)
        print(result.final.path)


@app.command("label-issues")
def label_issues(
    data: Annotated[Optional[Path], typer.Argument(help="The labelled data file.")] = None,
    runs_dir: Annotated[Path, typer.Option("--runs", help="Runs folder: the best configuration of each family there (on DATA) is the one cross-fitted; the findings are written there too (RUNS/label_issues.csv, which the report shows).")] = Path("runs"),
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="CSV to write (default: RUNS/label_issues.csv); the conflicting duplicates go beside it, in FILE.duplicates.csv.")] = None,
    cv: Annotated[int, typer.Option("--cv", min=2, help="Folds of the cross-fitting over every row.")] = 5,
    html_out: Annotated[Optional[Path], typer.Option("--html", help="Also write a page to review the flagged rows in a browser (offline): keep, accept or change each label, then save the corrections CSV that --corrections reads.")] = None,
    budget: Annotated[str, typer.Option("--budget", help="Time for the cross-fitting: the strongest families it allows, "
                                        "by their estimated cost (the frozen encoder joins on short texts of a few thousand rows).")] = "150s",
    top: Annotated[Optional[int], typer.Option("--top", min=1, help="Keep only the N most likely wrong rows (with --trusted: list the N most likely wrong, even beyond the rows flagged).")] = None,
    show: Annotated[int, typer.Option("--show", min=0, help="Rows to print.")] = 10,
    split_col: SplitCol = None, test_data: TestData = None, val_data: ValData = None, corrections: Corrections = None,
    val_size: ValSize = None, seed: Seed = 42,
    trusted: Annotated[Optional[str], typer.Option("--trusted", help="Labels people checked on some rows: a column of DATA (empty where unchecked) or a CSV/Parquet file of id and label (HappyDB: ground_truth_train.csv). The ranking is then learned from where they disagree with the given labels, instead of confident learning; the CSV gets a trusted_label column.")] = None,
):
    """Rank every row whose label looks wrong (confident learning, cleanlab, on out-of-fold probabilities
    pooled from the strongest families --budget allows, cross-fitted over all the rows), most likely wrong
    first: id, text, given_label, suggested_label, score (the out-of-fold probability that the given label
    is wrong). Near-duplicate texts with conflicting labels are listed too.
    With --trusted, what people checked teaches where the labels go wrong, and score is the learned
    probability that people would disagree with the given label."""
    _setup_logging()
    with _errors():
        options = _data_options(data, seed, split_col=split_col, test=test_data, val=val_data, val_size=val_size,
                                 corrections=corrections)
        found = api.find_label_issues(_data_path(data), runs_dir, cv=cv, top=top, out=output or True, progress=True,
                                      trusted=trusted, budget=budget, html=html_out, **options)
        target = found.path
        learned = f"; learned from {found.trusted:,} rows checked by people" if found.trusted else ""
        table = Table(title=f"{len(found.issues):,} of {found.rows:,} rows flagged "
                            f"(out-of-fold probabilities of {', '.join(found.runs)}{learned})")
        for col in ("id", "given", "suggested", "score", "text"):
            table.add_column(col, justify="right" if col == "score" else "left", overflow="fold",
                             max_width=60 if col == "text" else None)
        for row in found.issues.head(show).itertuples():
            table.add_row(str(row.id), row.given_label, row.suggested_label, f"{row.score:.3f}", row.text)
        out.print(table)
        groups = found.duplicates["group"].nunique() if len(found.duplicates) else 0
        err.print(f"{len(found.duplicates):,} rows in {groups:,} groups of near-duplicate texts with conflicting "
                  f"labels: {target.with_name(f'{target.stem}.duplicates.csv')}")
        if html_out is not None:
            err.print(f"review page: {html_out} (open it in a browser; 'Save corrections' writes the CSV for "
                      "--corrections)")
        print(target)


@app.command()
def report(
    runs_dir: Annotated[Path, typer.Argument(help="Folder of run folders.")] = Path("runs"),
    output: Annotated[Optional[Path], typer.Option("--out", "-o", help="HTML file (default: RUNS_DIR/report.html).")] = None,
    top_words: Annotated[int, typer.Option("--top-words", min=3, help="Words in the PCA and t-SNE maps.")] = 1000,
    examples: Annotated[int, typer.Option("--examples", min=1, help="Misclassified examples shown per class.")] = 5,
    second_label: Annotated[Optional[str], typer.Option("--second-label", help="A second label to compare the test predictions with: a column of the data, or a CSV/Parquet file of id and label (HappyDB: ground_truth_train.csv).")] = None,
):
    """Write one self-contained HTML report of a runs folder: leaderboard, confusion matrices, learning
    curves, class and length plots, word maps, mistakes. Opens offline in any browser."""
    _setup_logging()
    with _errors():
        with err.status("writing the report (t-SNE of the word map takes a few seconds) ...", spinner="dots"):
            path = api.report(runs_dir, out=output, top_words=top_words, examples=examples, second_label=second_label)
        print(path)


@app.command()
def serve(
    run: Annotated[Path, typer.Argument(help="Run folder (any rung, or an ensemble).")],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Processes, each with its own copy of the model.")] = 1,
    max_batch: Annotated[int, typer.Option("--max-batch", min=1, help="Most texts per request (more: 413).")] = 1000,
    max_chars: Annotated[int, typer.Option("--max-chars", min=1, help="Longest text in characters (longer: 413, or cut with --truncate).")] = 10_000,
    truncate: Annotated[bool, typer.Option("--truncate", help="Cut texts longer than --max-chars instead of refusing them.")] = False,
    max_body: Annotated[int, typer.Option("--max-body", min=1024, help="Largest request body in bytes (larger: 413, refused before it is read).")] = 4 * 1024 * 1024,
    api_key: Annotated[Optional[str], typer.Option("--api-key", envvar="TEXTLADDER_API_KEY", show_envvar=True, help="Require 'Authorization: Bearer KEY' on every endpoint but /health (prefer the environment variable: a command line is visible to other users).")] = None,
    cors_origin: Annotated[Optional[str], typer.Option("--cors-origin", help="Allow browser calls from this one origin (CORS is off by default).")] = None,
    no_docs: Annotated[bool, typer.Option("--no-docs", help="Do not serve /docs, /redoc and /openapi.json.")] = False,
    header_timeout: Annotated[float, typer.Option("--header-timeout", min=0.1, help="Close connections whose request headers take longer than this many seconds.")] = 10.0,
    body_timeout: Annotated[float, typer.Option("--body-timeout", min=0.1, help="End a request (408) whose body stops arriving for this many seconds.")] = 30.0,
    min_confidence: MinConfidence = None,
    no_calibration: NoCalibration = False,
):
    """Serve a run over HTTP: POST /predict {"texts": [...]}, GET /health, /labels, /model; docs at /docs.

    Binds 127.0.0.1 unless --host says otherwise; for public use put a TLS-terminating reverse proxy
    in front and set an API key (docs: Serving and export).
    """
    _setup_logging()
    with _errors():
        docs = "" if no_docs else f" (docs: http://{host}:{port}/docs)"
        err.print(f"serving {run} on http://{host}:{port}{docs}{'; API key required' if api_key else ''}; Ctrl-C stops")
        api.serve(run, host=host, port=port, workers=workers, max_batch=max_batch, max_chars=max_chars,
                  runtime=_runtime(),
                  truncate=truncate, max_body=max_body, api_key=api_key, cors_origin=cors_origin, docs=not no_docs,
                  header_timeout=header_timeout, body_timeout=body_timeout, min_confidence=min_confidence,
                  calibrated=not no_calibration)


@app.command()
def export(
    run: Annotated[Path, typer.Argument(help="Run folder of a neural or transformer rung.")],
    onnx: Annotated[bool, typer.Option("--onnx", help="Export to ONNX (model/onnx/model.onnx).")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="Also write an int8 copy (dynamic quantisation of the weights).")] = False,
):
    """Export a run's model to ONNX; predict, evaluate and serve then use onnxruntime (int8 when exported).

    Prints the largest difference of the exported model's probabilities from PyTorch's on a few texts.
    TEXTLADDER_RUNTIME=torch|onnx|onnx-int8 picks the runtime when a run has several.
    """
    _setup_logging()
    with _errors():
        if not onnx:
            raise TextladderError("say what to export: --onnx (with --int8 for an int8 copy too)")
        with err.status("exporting to ONNX ...", spinner="dots"):
            report = api.export(run, int8=int8)
        for key in ("max_abs_diff_fp32", "max_abs_diff_int8"):
            if key in report:
                out.print(f"{key.replace('max_abs_diff_', '')}: largest probability difference from PyTorch "
                          f"{report[key]:.2e}")
        if report.get("warnings"):
            err.print(f"{len(report['warnings'])} kinds of warning from the exporter (harmless unless the differences "
                      "above are large):")
            for line in report["warnings"]:
                err.print(f"  {escape(line)}", highlight=False)
        for f in report["files"]:
            print(f)


@app.command()
def runs(
    runs_dir: Annotated[Path, typer.Argument(help="Folder of run folders.")] = Path("runs"),
    json_: Annotated[bool, typer.Option("--json", help="Print the leaderboard as JSON.")] = False,
    clean: Annotated[bool, typer.Option("--clean", help="Delete temporaries and locks left by commands that no longer run.")] = False,
    by: Annotated[str, typer.Option("--by", help="Rank by val (validation macro-F1, or its cross-validated mean), pick (as --best picks: figures no search maximised first) or test (to look at only: choosing by test overstates the winner).")] = "val",
    best: Annotated[bool, typer.Option("--best", help="Print only the folder of the run to use: the best macro-F1 on a figure no search has maximised (out of fold where a run has one), never a test figure.")] = False,
):
    """Leaderboard of the runs in a folder, best validation macro-F1 first (test shown beside it).

    Unreadable run folders are named and skipped; temporaries left by killed commands are listed
    (--clean deletes them).
    """
    _setup_logging()
    with _errors():
        if best:
            print(api.best(runs_dir).path)
            return
        rows = api.leaderboard(runs_dir, by=by, frame=False)
        if clean:
            gone = api.temporaries(runs_dir, remove=True)
            err.print(f"removed {len(gone)} stale temporaries" + (f": {', '.join(p.name for p in gone)}" if gone else ""))
        else:
            stale = api.temporaries(runs_dir)
            if stale:
                log.warning("%d temporaries left by commands that no longer run (%s); 'textladder runs %s --clean' "
                            "deletes them", len(stale), ", ".join(p.name for p in stale[:5]), runs_dir)
        if json_:
            print(json.dumps(rows, indent=2))
            return
        if not rows:
            out.print(f"no finished runs in {runs_dir}")
            return
        ranked = {"test": "test macro-F1", "val": "validation macro-F1", "pick": "the figure the pick is made on"}[by]
        table = Table(title=f"leaderboard: {runs_dir} (ranked by {ranked})")
        numeric = ("#", "val macro-F1", "test acc", "test macro-F1", "train s")
        for col in ("#", "run", "model", "options", "trained on", "val macro-F1", "test acc", "test macro-F1", "train s"):
            table.add_column(col, justify="right" if col in numeric else "left")
        fmt = lambda v, d=4: "-" if v is None else f"{v:.{d}f}"  # noqa: E731
        for i, row in enumerate(rows, 1):
            val = fmt(row["val_macro_f1"]) + (f" ± {row['cv_macro_f1_std']:.4f}" if row["cv_macro_f1_std"] is not None else "")
            table.add_row(str(i), row["run"], row["model"], row["options"], row["trained_on"], val,
                          fmt(row["accuracy"]), fmt(row["macro_f1"]), fmt(row["train_seconds"], 1))
        out.print(table)
        chosen = api.leaderboard(runs_dir, by="pick", frame=False)[0]
        out.print(f"pick (runs --best): {chosen['run']}, macro-F1 {fmt(chosen['pick_macro_f1'])} "
                  f"({chosen['pick_source']})")


@app.command()
def explore(
    data: DataArg = None,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for summary.json and the plots.")] = Path("explore"),
    text_col: TextCol = None, label_col: LabelCol = None, id_col: IdCol = None, period_col: PeriodCol = None,
    max_drop: MaxDrop = 0.05, min_class_rows: MinClassRows = 0,
    split: SplitOpt = "auto", test_size: TestSize = None, val_size: ValSize = None, seed: Seed = 42,
    split_col: SplitCol = None, test_data: TestData = None, val_data: ValData = None, corrections: Corrections = None,
):
    """Summarise a dataset: class balance (pie and bar), token lengths, split sizes, a suggested sequence length."""
    _setup_logging()
    with _errors():
        path = _data_path(data)
        options = _data_options(
            path, seed, split, text_col=text_col, label_col=label_col, id_col=id_col, period_col=period_col,
            max_drop=max_drop, min_class_rows=min_class_rows, test_size=test_size, val_size=val_size,
            split_col=split_col, test=test_data, val=val_data, corrections=corrections)
        with _file_progress(path, f"reading {path.name}") as progress:
            s = api.explore(path, out_dir, on_read=progress, **options)
        table = Table(title=f"{path.name}: {s['rows']:,} rows, format {s['format']}")
        table.add_column("class")
        table.add_column("rows", justify="right")
        table.add_column("share", justify="right")
        for c, n in s["classes"].items():
            table.add_row(c, f"{n:,}", f"{n / s['rows']:.1%}")
        out.print(table)
        t = s["tokens"]
        out.print(f"tokens per text: mean {t['mean']:.1f}, median {t['median']:.0f}, p95 {t['p95']:.0f}, "
                  f"max {t['max']:,}; suggested sequence length {t['suggested_seq_len']} ({t['suggested_covers']})")
        if s["split"]:
            sp = s["split"]
            out.print(f"split ({sp['method']}): train {sp['train']:,}, val {sp['val']:,}, test {sp['test']:,}")
        out.print(f"wrote {out_dir}/summary.json and plots")


@app.command()
def models(
    name: Annotated[Optional[str], typer.Argument(help="A model's name: list its parameters.")] = None,
):
    """The registered models (name, family, what it is); with NAME, that model's parameters and defaults."""
    with _errors():
        if name is None:
            table = Table(title="models (textladder models NAME: its parameters)", title_justify="left")
            for col in ("name", "family", "description", "needs"):
                table.add_column(col)
            for info in api.models():
                needs = "" if info["available"] else f'pip install "textladder[{info["extra"]}]"'
                table.add_row(info["name"], info["family"], escape(info["description"]) if info["available"] else "",
                              escape(needs))
            out.print(table)
            return
        info = api.model_info(name)
        table = Table(title=f"{name} ({info['family']}): {info['description']}", title_justify="left")
        for col in ("parameter", "default", "description"):
            table.add_column(col, overflow="fold")
        for key, default, description in info["params"]:
            table.add_row(key, repr(default), description)
        out.print(table)
        out.print(f"explain: {info['explanation']}; searchable (textladder search): "
                  f"{'yes' if info['searchable'] else 'no'}")


@data_app.command("fetch")
def data_fetch(
    name: Annotated[str, typer.Argument(help="Dataset: happydb.")] = "happydb",
    url: Annotated[Optional[str], typer.Option("--url", help="Download from here instead of the public home.")] = None,
    sha256: Annotated[Optional[str], typer.Option("--sha256", help="Expected sha256 of the file.")] = None,
    dest: Annotated[Optional[Path], typer.Option("--dest", help="Where to save (default: the user cache).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Download even if a verified copy is there.")] = False,
):
    """Download a public dataset into the user cache, verify its sha256, and save it atomically.

    Prints the saved file's path as the last line of stdout.
    """
    _setup_logging()
    with _errors():
        with _progress(f"downloading {name}") as progress:
            task = progress.add_task(f"downloading {name}", total=None)
            path = api.fetch_data(name, url=url, sha256=sha256, dest=dest, force=force,
                         on_start=lambda total: progress.update(task, total=total),
                         on_progress=lambda n: progress.advance(task, n))
        record = path.parent / f"{path.name}.sha256"
        digest = record.read_text().strip() if record.exists() else "?"
        err.print(f"sha256 {digest}")
        print(path)


@vectors_app.command("similar")
def vectors_similar(
    run: Annotated[Path, typer.Argument(help="Run folder of a neural rung.")],
    word: Annotated[str, typer.Argument(help="Word to look up.")],
    top: Annotated[int, typer.Option("--top", "-n", min=1, help="How many neighbours.")] = 10,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON: [[word, score], ...].")] = False,
):
    """The words nearest to WORD in the run's vectors, by cosine similarity (gensim's most_similar)."""
    with _errors():
        result = api.similar_words(run, word, top=top)
        if json_:
            print(json.dumps(result))
            return
        table = Table(title=f"nearest to '{word}' in {run.name}")
        table.add_column("word")
        table.add_column("cosine", justify="right")
        for w, score in result:
            table.add_row(w, f"{score:.3f}")
        out.print(table)


@vectors_app.command("map")
def vectors_map(
    run: Annotated[Path, typer.Argument(help="Run folder of a neural rung.")],
    output: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path("word_map.html"),
    method: Annotated[str, typer.Option("--method", help="pca or tsne.")] = "pca",
    top: Annotated[int, typer.Option("--top", min=3, help="Map the most common words, this many.")] = 2000,
):
    """An interactive Bokeh map of the most common words (PCA or t-SNE); hover shows the word. Opens offline."""
    with _errors():
        with err.status(f"projecting the most common words with {method} ...", spinner="dots"):
            path = api.word_map(run, output, method=method, top=top)
        print(path)


@app.command()
def explain(
    run: Annotated[Path, typer.Argument(help="Run folder (any rung, or an ensemble).")],
    text: Annotated[str, typer.Argument(help="The text to explain.")],
    label: Annotated[Optional[str], typer.Option("--label", help="Explain this class (default: the predicted one).")] = None,
    samples: Annotated[int, typer.Option("--samples", min=10, help="Most model evaluations of a SHAP explanation (rungs with no exact or attention weights).")] = 300,
    period: Annotated[Optional[str], typer.Option("--period", help="Its reflection period, for runs trained "
                                                                  "with --features period.")] = None,
    feature: Annotated[Optional[list[str]], typer.Option("--feature", help="COLUMN=VALUE of an extra input the run was trained with; repeat.")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON: {label, proba, method, base, tokens: [[token, weight], ...], ...}.")] = False,
    html_out: Annotated[Optional[Path], typer.Option("--html", help="Also write an HTML page with the tokens highlighted.")] = None,
):
    """Why the model says what it says: each token's weight toward the predicted class (or --label).

    tfidf-linear: exact contributions (coefficient x feature value); attention: the attention weights;
    every other rung and ensembles: SHAP over the predicted probabilities, in at most --samples evaluations.
    """
    _setup_logging()
    with _errors():
        given = {"period": period} if period is not None else {}
        for item in feature or []:
            if "=" not in item:
                raise TextladderError(f"--feature takes COLUMN=VALUE, got '{item}'")
            key, value = item.split("=", 1)
            given[key.strip()] = value
        with err.status("explaining ...", spinner="dots"):
            e = api.explain(run, text, label=label, samples=samples, features=given, runtime=_runtime(), html=html_out)
        if html_out is not None:
            err.print(f"wrote {html_out}")
        if json_:
            print(json.dumps(e.to_dict()))
            return
        top = max((abs(w) for w in e.weights), default=1.0) or 1.0
        table = Table(title=f"{run.name}: '{e.label}' ({e.proba[e.label]:.2f}), {e.method}")
        table.add_column("token")
        table.add_column("weight", justify="right")
        table.add_column("")
        for t, w in zip(e.tokens, e.weights):
            bar = "█" * max(1, round(20 * abs(w) / top)) if w else ""
            table.add_row(t, f"{w:+.4f}", f"[blue]{bar}[/]" if w >= 0 else f"[red]{bar}[/]")
        out.print(table)
        if e.base is not None:
            out.print(f"base {e.base:+.4f}: {e.note}")
        elif e.note:
            out.print(e.note)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
