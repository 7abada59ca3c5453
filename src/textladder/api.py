"""The Python API: what the CLI does, as functions a notebook calls. Wherever a command reads a data
file, a function takes the file's path or a pandas DataFrame (saved once in the runs folder's ``data/``,
so each run still records its data file: :mod:`textladder.data.frames`).

Example:
    >>> import textladder
    >>> texts = ["my dog", "the gym", "a dog", "gym day", "dog walk", "gym class"] * 4
    >>> labels = ["pets", "sport", "pets", "sport", "pets", "sport"] * 4
    >>> model = textladder.build_model("tfidf-linear", min_df=1).fit(texts, labels)
    >>> model.predict(["walked my dog"]).tolist()
    ['pets']
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from textladder.choices import SPLIT_METHODS
from textladder.errors import TextladderError

if TYPE_CHECKING:
    import pandas as pd

DATA_OPTIONS = ("text_col", "label_col", "id_col", "period_col", "max_drop", "min_class_rows", "split_col")
SPLIT_OPTIONS = ("split", "test_size", "val_size")
GIVEN_FILES = {"test": "test_path", "val": "val_path"}  # test= / val=: the test (validation) rows in their own file


def load(path: str | Path, runtime: str = "auto"):
    """A fitted classifier from a run folder, an ensemble run, or a bare ``model/`` folder: its
    ``predict`` gives labels, ``predict_proba`` one column per ``classes_`` entry. ``runtime`` picks how
    a model exported to ONNX predicts (auto: int8 ONNX, else fp32 ONNX, else torch; torch; onnx; onnx-int8).

    Example:
        >>> model = load("runs/tfidf-linear-20261124-101500-1a2b")  # doctest: +SKIP
        >>> model.predict(["went for a run with my dog"])  # doctest: +SKIP
        array(['exercise'], dtype=object)
    """
    from textladder.files import verify_checksums
    from textladder.models import load_folder
    from textladder.models.base import RUNG_FILE
    from textladder.runs import CONFIG, Run

    p = Path(path)
    if (p / CONFIG).is_file():
        return Run.open(p).load_model(runtime)
    if (p / RUNG_FILE).is_file():
        verify_checksums(p)
        return load_folder(p, runtime)
    if not p.exists():
        raise TextladderError(f"{p}: no such run or model folder")
    raise TextladderError(f"{p}: neither a run folder (config.json) nor a model folder ({RUNG_FILE})")


def build_model(name: str, **params):
    """An unfitted rung: a scikit-learn estimator with ``params`` (validated); ``features`` (extra input
    columns) and ``smote`` are accepted too.

    Example:
        >>> build_model("fasttext", epochs=5).get_params()["epochs"]
        5
    """
    from textladder.models import get

    return get(name)(**params)


def run_config(data: str | Path, model: str = "tfidf-linear", *, balance: str = "none",
               features: list[str] | tuple[str, ...] = (), seed: int = 42, **options: Any):
    """The :class:`~textladder.config.RunConfig` of a training: ``options`` are data options
    (``text_col``, ``label_col``, ``id_col``, ``period_col``, ``max_drop``, ``min_class_rows``), split
    options (``split``: auto, reference, stratified, or the name of a column giving each row's part,
    ``train``, ``val`` or ``test``; ``test``: a file of test rows, ``val``: one of validation rows;
    ``test_size``, ``val_size``), and otherwise the model's parameters.

    Example:
        >>> cfg = run_config("sst5.csv", "fasttext", split="split", epochs=5)
        >>> cfg.data.split_col, cfg.split.method, cfg.params
        ('split', 'auto', {'epochs': 5})
        >>> run_config("train.csv", test="test.csv").data.test_path
        'test.csv'
    """
    from textladder.config import RunConfig

    data_cfg, split = _data_and_split(data, seed, options)
    return RunConfig(model=model, params=options, balance=balance, features=list(features), seed=seed,
                     data=data_cfg, split=split)


def _data_and_split(data: str | Path, seed: int, options: dict):
    """The :class:`~textladder.config.DataConfig` and :class:`~textladder.data.SplitConfig` that ``options``
    describe; their keys are taken out of ``options``, which keeps the rest (a model's parameters)."""
    from textladder.config import DataConfig
    from textladder.data import SplitConfig

    data_opts = {k: options.pop(k) for k in DATA_OPTIONS if options.get(k) is not None}
    data_opts.update({field: str(options.pop(k)) for k, field in GIVEN_FILES.items() if options.get(k) is not None})
    split_opts = {k: options.pop(k) for k in SPLIT_OPTIONS if k in options}
    method = split_opts.pop("split", None) or "auto"
    if method not in SPLIT_METHODS:  # a column of the data that gives each row's part
        if data_opts.get("split_col", method) != method:
            raise TextladderError(f"split='{method}' and split_col='{data_opts['split_col']}' disagree")
        data_opts["split_col"], method = method, "auto"
    for k in (*DATA_OPTIONS, *GIVEN_FILES):
        options.pop(k, None)
    return DataConfig(path=str(data), **data_opts), SplitConfig(method=method, seed=seed, **split_opts)


def _given_files(options: dict, runs: str | Path) -> dict:
    """``options`` with a DataFrame given as ``test=`` or ``val=`` saved as a file under ``runs`` (as the
    data is: :func:`~textladder.data.frames.data_path`)."""
    from textladder.data.frames import data_path

    return {k: data_path(v, runs) if k in GIVEN_FILES and v is not None else v for k, v in options.items()}


def train(data: str | Path | pd.DataFrame, model: str = "tfidf-linear", out: str | Path = "runs", *,
          name: str | None = None, overwrite: bool = False, resume: bool = False, progress: bool = False,
          cv: int | None = None, track: str | None = None, **options: Any):
    """Train one rung on a data file or DataFrame, as ``textladder train`` does, and return its
    :class:`~textladder.runs.Run` (``run.metrics``, ``run.load_model()``, ``run.path``). ``options``
    are as :func:`run_config` takes them; ``cv=K`` cross-validates over train+val first (out-of-fold
    predictions in ``oof_predictions.csv``) and keeps one refit on train+val. ``track`` logs the run to
    that MLflow tracking URI.

    Example:
        >>> run = train("hm_train.csv", model="fasttext", out="runs", epochs=20)  # doctest: +SKIP
        >>> run.metrics["test"]["accuracy"]  # doctest: +SKIP
        0.9258
    """
    from textladder.data.frames import data_path
    from textladder.runs import Run
    from textladder.training import train as train_run

    config = run_config(data_path(data, out), model, **_given_files(options, out))
    config = config.model_copy(update={"cv": cv, "fit_on": "train+val" if cv else "train"})
    path = train_run(config, out, name=name, resume=resume, progress=progress, overwrite=overwrite)
    if path is None:
        return None
    run = Run.open(path)
    _track(track, lambda t: t.log_run(run))
    return run


def _track(uri: str | None, log) -> None:
    from textladder.tracking import Tracker

    tracker = Tracker.make(uri)
    if tracker is not None:
        log(tracker)


def search(data: str | Path | pd.DataFrame, model: str = "tfidf-linear", out: str | Path = "runs", *,
           trials: int | None = None, budget: float | str | None = None, metric: str = "macro_f1",
           cv: int | None = None, refit: bool = False, engine: str = "local", ray_address: str | None = None,
           track: str | None = None, **options: Any):
    """Search a rung's parameters on validation, as ``textladder search`` does, and return the
    :class:`~textladder.tuning.SearchResult` (``.run``: the best trial's run; ``.refit``; ``.best_value``,
    ``.default_value``, ``.trials_csv``). ``budget`` is seconds or a time such as ``"15m"``; ``options``
    are as :func:`run_config` takes them (model parameters given there are fixed, not searched).
    ``engine="ray"`` runs the trials as Ray tasks (``ray_address``: a cluster's); ``track``: an MLflow URI.

    Example:
        >>> result = search("hm_train.csv", model="tfidf-linear", budget="10m", refit=True)  # doctest: +SKIP
        >>> result.final.metrics["test"]["accuracy"]  # doctest: +SKIP
    """
    from textladder.data.frames import data_path
    from textladder.engine import Engine
    from textladder.tracking import Tracker
    from textladder.tuning import search as run_search

    runner = Engine.make(engine, ray_address)
    try:
        config = run_config(data_path(data, out), model, **_given_files(options, out))
        return run_search(config, out, trials=trials, budget=_seconds(budget), metric=metric, cv=cv, refit=refit,
                          engine=runner, tracker=Tracker.make(track))
    finally:
        runner.stop()


def _seconds(budget: float | str | None) -> float | None:
    """``90``, ``"90s"``, ``"15m"``, ``"2h"`` -> seconds."""
    if budget is None or isinstance(budget, (int, float)):
        return budget
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(budget))
    if not m:
        raise TextladderError(f"a budget is a time such as 90s, 15m or 2h, not '{budget}'")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def climb(data: str | Path | pd.DataFrame, config: str | Path = "quick", out: str | Path = "runs", *,
          report: bool = True, seed: int = 42, progress: bool = False, budget: float | str | None = None,
          engine: str = "local", ray_address: str | None = None, track: str | None = None,
          **options: Any) -> pd.DataFrame:
    """Climb a ladder (``auto`` within ``budget``, a preset, ``quick`` or ``full``, or a TOML file) as
    ``textladder ladder`` does and return the leaderboard as a DataFrame (best on validation first);
    ``.attrs`` holds the report's path, the rungs that failed (or were dropped) and the time taken (and, for
    ``auto``, ``best``: the pick, as :func:`best` makes it).
    ``options`` are data and split options. ``engine="ray"`` trains a preset's or TOML ladder's rungs as
    Ray tasks at once (``ray_address``: a cluster's); ``track`` logs the ladder to an MLflow URI.

    Example:
        >>> board = climb("hm_train.csv", config="quick", out="runs")  # doctest: +SKIP
        >>> board[["run", "model", "accuracy"]].head(3)  # doctest: +SKIP
    """
    import pandas as pd

    from textladder.data.frames import data_path
    from textladder.ladder import climb as climb_ladder
    from textladder.ladder import load_ladder
    from textladder.runs import leaderboard

    options = _given_files(options, out)
    data_cfg, split = _data_and_split(data_path(data, out), seed, options)
    if options:
        raise TextladderError(f"climb() takes data and split options only, not {', '.join(options)}")
    from textladder.engine import Engine
    from textladder.tracking import Tracker

    tracker = Tracker.make(track)
    if str(config) == "auto":
        from textladder.auto import climb_auto

        runner = Engine.make(engine, ray_address)
        try:
            auto = climb_auto(data_cfg, out, _seconds(budget or "10m"), split=split, seed=seed, report=report,
                              progress=progress, engine=runner)
        finally:
            runner.stop()
        if tracker is not None:
            tracker.log_ladder(auto, data_cfg)
        board = pd.DataFrame(leaderboard(auto.runs + auto.ensembles))
        board.attrs.update(report=auto.report, failed=list(auto.dropped.items()), seconds=auto.seconds,
                           best=auto.best)
        return board
    if budget is not None:
        raise TextladderError("budget applies to config='auto'")
    spec = load_ladder(config)
    if seed != spec.seed:
        spec = spec.model_copy(update={"seed": seed})
    runner = Engine.make(engine, ray_address)
    try:
        result = climb_ladder(spec, data_cfg, out, split=split, report=report, progress=progress, engine=runner,
                              tracker=tracker)
    finally:
        runner.stop()
    board = pd.DataFrame(leaderboard(result.runs + result.ensembles))
    board.attrs.update(report=result.report, failed=result.failed, seconds=result.seconds)
    return board


def find_label_issues(data: str | Path | pd.DataFrame, runs: str | Path = "runs", *, cv: int = 5,
                      top: int | None = None, out: str | Path | None = None, progress: bool = False,
                      trusted: str | Path | pd.DataFrame | None = None, seed: int = 42, **options: Any):
    """The rows of ``data`` whose label looks wrong, as ``textladder label-issues`` finds them: a
    :class:`~textladder.label_issues.LabelIssues` (``.issues``: id, text, given_label, suggested_label,
    score, most likely wrong first; ``.duplicates``: near-duplicate texts with conflicting labels). The
    out-of-fold probabilities come from the cross-validated runs of ``data`` in ``runs`` (``cv`` folds
    of the best run there are trained first when there are none). ``out`` also writes them as CSV.
    ``trusted``: labels people checked on some rows (a column of ``data``, empty where unchecked, or a
    CSV/Parquet file or DataFrame of id and label); the ranking is then learned from where they disagree with the
    given labels (:func:`textladder.label_issues.trusted_scores`), and ``.issues`` gets ``trusted_label``.
    ``options`` are data and split options, as :func:`run_config` takes them (``split="COL"``, ``test=``).

    Example:
        >>> found = find_label_issues("hm_train.csv", runs="runs", top=200)  # doctest: +SKIP
        >>> checked = find_label_issues("hm_train.csv", runs="runs", trusted="ground_truth_train.csv")  # doctest: +SKIP
        >>> found.issues[["given_label", "suggested_label", "score"]].head()  # doctest: +SKIP
    """
    from textladder.data.frames import data_path
    from textladder.label_issues import find_label_issues as find
    from textladder.label_issues import write

    if trusted is not None:
        trusted = data_path(trusted, runs)
    options = _given_files(options, runs)
    data_cfg, split = _data_and_split(data_path(data, runs), seed, options)
    if options:
        raise TextladderError(f"find_label_issues() takes data and split options only, not {', '.join(options)}")
    found = find(data_cfg.path, runs, cv=cv, top=top, progress=progress, trusted=trusted, seed=seed,
                 data_config=data_cfg, split=split)
    if out is not None:
        write(found, out)
    return found


def _run(run):
    """A :class:`~textladder.runs.Run` from a run or its folder."""
    from textladder.runs import Run

    return run if isinstance(run, Run) else Run.open(run)


def leaderboard(runs: str | Path = "runs", by: str = "val") -> pd.DataFrame:
    """The finished runs of a folder as ``textladder runs`` ranks them: best validation macro-F1 first (its
    cross-validated mean where a run has one), test shown beside it. ``by="pick"`` ranks as :func:`best`
    picks (``pick_macro_f1``, ``pick_source``, ``maximised``: figures no search maximised first).
    ``by="test"`` ranks by test macro-F1, with a warning: a model chosen by its test score has been fitted to
    the test split.

    Example:
        >>> leaderboard("runs")[["run", "model", "val_macro_f1", "accuracy"]].head(3)  # doctest: +SKIP
    """
    import pandas as pd

    from textladder.runs import leaderboard as board
    from textladder.runs import list_runs

    return pd.DataFrame(board(list_runs(runs), by=by))


def best(runs: str | Path = "runs"):
    """The run to use from a runs folder, as ``textladder runs RUNS --best`` prints it: the best macro-F1 on
    a figure no search has maximised (out of fold over train+val where a run has one), so a search's best
    trial does not win on the luck of its validation rows (:func:`textladder.runs.best`); a
    :class:`~textladder.runs.Run`. Test is never read to choose.

    Example:
        >>> best("runs").load_model().predict(["went for a run with my dog"])  # doctest: +SKIP
        array(['exercise'], dtype=object)
    """
    from textladder.runs import best as pick
    from textladder.runs import list_runs

    return pick(list_runs(runs))


def ensemble(runs, vote: str = "soft", *, select: str | None = None, weights: list[float] | None = None,
             out: str | Path = "runs", name: str | None = None, calibrated: bool = True, runtime: str = "auto",
             track: str | None = None):
    """Combine finished runs into an ensemble run, as ``textladder ensemble`` does, and return it (a
    :class:`~textladder.runs.Run`: it evaluates, predicts and serves like any other). ``runs``: runs, run
    folders, or a folder of runs (all its finished runs but ensembles). ``vote``: soft, hard or stack;
    ``select``: ``top-K`` (the K best on validation), ``greedy`` (Caruana's forward selection of soft-voting
    weights) or all; ``weights``: one per run, in order. Test is never used to choose or fit.

    Example:
        >>> stacked = ensemble("runs", vote="stack", select="top-3")  # doctest: +SKIP
        >>> stacked.metrics["test"]["accuracy"]  # doctest: +SKIP
    """
    from textladder.ensembles import build, choose_members
    from textladder.runs import Run

    given = [runs] if isinstance(runs, str | Path | Run) else list(runs)
    members, greedy = choose_members([r.path if isinstance(r, Run) else r for r in given], select, weights)
    path = build(members, vote=vote, weights=weights, runs_dir=out, name=name, runtime=runtime, greedy=greedy,
                 calibrated=calibrated)
    made = Run.open(path)
    _track(track, lambda t: t.log_run(made))
    return made


def evaluate(run, data: str | Path | pd.DataFrame | None = None, *, target_accuracy: float | None = None,
             calibrated: bool = True, out: str | Path | None = None, runtime: str = "auto",
             label_col: str | None = None, text_col: str | None = None, id_col: str | None = None) -> dict:
    """Score a run as ``textladder evaluate`` does and return its figures: accuracy, macro- and weighted-F1,
    ``per_class``, calibration (``ece``, ``brier``, ``log_loss``, and under ``uncalibrated`` the model's
    own), accuracy against ``coverage``, and with ``target_accuracy`` the confidence threshold chosen on
    validation and what it gives here (``selective``). ``data``: the run's own test split when None, else a
    file or DataFrame whose rows with a label are scored (the others are counted as
    ``skipped_unlabelled``). ``out``: a folder for the plots and CSVs (none are written without it).

    Example:
        >>> evaluate("runs/tfidf-linear-...", target_accuracy=0.98)["selective"]["coverage"]  # doctest: +SKIP
    """
    from textladder.data.frames import data_path
    from textladder.evaluation import evaluate_run, rows_to_score

    r = _run(run)
    source = None if data is None else data_path(data, r.path.parent)
    ds, name, skipped = rows_to_score(r, source, label_col=label_col, text_col=text_col, id_col=id_col)
    return evaluate_run(r, ds, runtime=runtime, calibrated=calibrated, target_accuracy=target_accuracy,
                        out_dir=None if out is None else Path(out), source=name, skipped=skipped)


def predict(run, data, *, output: str | Path | None = None, min_confidence: float | None = None,
            calibrated: bool = True, keep_text: bool = False, runtime: str = "auto", text_col: str | None = None,
            id_col: str | None = None):
    """Predict ``data`` (a CSV or Parquet file, a DataFrame, or a list of texts) as ``textladder predict``
    does: one row per input with ``id``, ``predicted`` and a probability per class (calibrated unless
    ``calibrated`` is False). With ``min_confidence``, a prediction less sure than that is ``uncertain``
    (the probabilities still given, and a ``confidence`` column). Returns a DataFrame (``.attrs``:
    ``rows``, ``withheld``), or, with ``output``, writes that CSV or Parquet file in chunks, atomically,
    and returns its path: the way for files larger than memory.

    Example:
        >>> predict("runs/tfidf-linear-...", ["went for a run with my dog"])[["id", "predicted"]]  # doctest: +SKIP
    """
    import tempfile

    import pandas as pd

    from textladder.data.frames import data_path
    from textladder.prediction import predict_file

    r = _run(run)
    if isinstance(data, list | tuple | pd.Series):
        data, text_col = pd.DataFrame({"text": list(data)}), "text"
    elif not isinstance(data, str | Path | pd.DataFrame):
        raise TextladderError(f"data is a file path, a pandas DataFrame or a list of texts, not {type(data).__name__}")
    with tempfile.TemporaryDirectory(prefix="textladder-predict-") as tmp:
        data = data_path(data, tmp)
        target = Path(output) if output is not None else Path(tmp) / "predictions.parquet"
        done = predict_file(r, data, target, text_col=text_col, id_col=id_col, runtime=runtime,
                            min_confidence=min_confidence, calibrated=calibrated, keep_text=keep_text)
        if output is not None:
            return target
        frame = pd.read_parquet(target)
    frame.attrs.update(rows=done.rows, withheld=done.withheld)
    return frame


def report(runs: str | Path = "runs", *, out: str | Path | None = None, second_label: str | Path | None = None,
           top_words: int = 1000, examples: int = 5) -> Path:
    """Write the HTML report of a runs folder, as ``textladder report`` does (one self-contained file that
    opens offline), and return its path (default ``RUNS/report.html``). ``second_label``: a column of the
    data, or a CSV/Parquet file of id and label, to compare the test predictions with.

    Example:
        >>> report("runs")  # doctest: +SKIP
        PosixPath('runs/report.html')
    """
    from textladder.reporting import write_report

    return Path(write_report(runs, out=out, top_words=top_words, examples=examples, second_label=second_label))


def explore(data: str | Path | pd.DataFrame, out: str | Path = "explore", *, seed: int = 42,
            **options: Any) -> dict:
    """Summarise a dataset as ``textladder explore`` does and return the summary: rows, ``classes`` (rows
    per class), ``tokens`` (length statistics and a suggested sequence length) and ``split`` (its sizes).
    ``out`` gets ``summary.json``, the class pie and bar charts and the token-length histogram.
    ``options`` are data and split options, as :func:`run_config` takes them.

    Example:
        >>> explore("hm_train.csv")["classes"]["exercise"]  # doctest: +SKIP
        729
    """
    import tempfile

    from textladder.data.frames import data_path
    from textladder.exploration import explore as write_explore
    from textladder.runs import load_data

    with tempfile.TemporaryDirectory(prefix="textladder-explore-") as tmp:
        options = _given_files(options, tmp)
        data_cfg, split = _data_and_split(data_path(data, tmp), seed, options)
        if options:
            raise TextladderError(f"explore() takes data and split options only, not {', '.join(options)}")
        return write_explore(load_data(data_cfg), out, split)
