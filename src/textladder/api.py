"""The Python API: every command of the CLI as a function a notebook calls (the CLI parses its flags,
calls one of these and prints what it returns). Wherever a command reads a data file, a function takes
the file's path or a pandas DataFrame (saved once in the runs folder's ``data/``, so each run still
records its data file: :mod:`textladder.data.frames`).

Each function imports the layers it uses when it is called, so that ``import textladder`` and
``textladder --help`` stay light (no scikit-learn, Optuna or matplotlib until a command needs them).

Example:
    >>> import textladder
    >>> texts = ["my dog", "the gym", "a dog", "gym day", "dog walk", "gym class"] * 4
    >>> labels = ["pets", "sport", "pets", "sport", "pets", "sport"] * 4
    >>> model = textladder.build_model("tfidf-linear", min_df=1).fit(texts, labels)
    >>> model.predict(["walked my dog"]).tolist()
    ['pets']
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textladder.choices import SPLIT_METHODS, check
from textladder.errors import TextladderError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("textladder")

DATA_OPTIONS = ("text_col", "label_col", "id_col", "period_col", "max_drop", "min_class_rows", "split_col",
                "corrections")
SPLIT_OPTIONS = ("split", "test_size", "val_size")
GIVEN_FILES = {"test": "test_path", "val": "val_path"}  # test= / val=: the test (validation) rows in their own file
SAVED_FRAMES = ("test", "val", "corrections")  # options that take a DataFrame as well as a file
DEFAULT_DATA = Path("../shared/data/happydb/hm_train.csv")  # where the project's own checkout keeps HappyDB


# -- data ------------------------------------------------------------------------------------------------
def default_data() -> Path:
    """The data file a command reads when given none: ``$TEXTLADDER_DATA``, else HappyDB beside the checkout
    (``../shared/data/happydb/hm_train.csv``), else the HappyDB fetched into the user cache."""
    from textladder.data.fetch import cached_path

    if os.environ.get("TEXTLADDER_DATA"):
        return Path(os.environ["TEXTLADDER_DATA"])
    if DEFAULT_DATA.exists():
        return DEFAULT_DATA
    if cached_path("happydb").exists():
        return cached_path("happydb")
    raise TextladderError(
        f"no data given: pass DATA, set TEXTLADDER_DATA, put HappyDB at {DEFAULT_DATA}, "
        "or run 'textladder data fetch happydb'")


def data_size(path: str | Path) -> tuple[int, str] | None:
    """How much a reader of ``path`` gets through, for a progress bar: ``(total, "bytes")`` or ``(total, "rows")``
    (:func:`textladder.data.reader.total_units`); None when it cannot tell."""
    from textladder.data.reader import total_units

    try:
        return total_units(path)
    except TextladderError:
        return None


def fetch_data(name: str = "happydb", *, url: str | None = None, sha256: str | None = None,
               dest: str | Path | None = None, force: bool = False,
               on_start: Callable[[int | None], None] | None = None,
               on_progress: Callable[[int], None] | None = None) -> Path:
    """Download a public dataset into the user cache (or ``dest``), check its sha256 and save it atomically,
    as ``textladder data fetch`` does; returns its path (its sha256 is in ``PATH.sha256`` beside it).
    ``on_start(total bytes or None)`` and ``on_progress(bytes)`` follow the download."""
    from textladder.data.fetch import fetch

    return fetch(name, url=url, sha256=sha256, dest=dest, force=force, on_start=on_start, on_progress=on_progress)


# -- models ----------------------------------------------------------------------------------------------
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
    from textladder.layout import CONFIG, RUNG_FILE
    from textladder.models import load_folder
    from textladder.runs import Run

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


def models() -> list[dict]:
    """Every registered rung, as ``textladder models`` lists them: :func:`model_info` of each; a rung whose
    optional part is not installed is listed with ``available`` False and the ``extra`` to install.

    Example:
        >>> "tfidf-linear" in [m["name"] for m in models()]
        True
    """
    from textladder.errors import MissingExtra
    from textladder.models import names

    found = []
    for n in names():
        try:
            found.append(model_info(n))
        except MissingExtra as exc:  # listed all the same, with the extra it needs
            found.append({"name": n, "family": "-", "description": str(exc), "params": [], "explanation": "-",
                          "searchable": False, "neural": False, "word_vectors": False, "available": False,
                          "extra": exc.extra})
    return found


def model_info(name: str) -> dict:
    """What a rung is and takes: ``name``, ``family``, ``description`` (its docstring's first line),
    ``params`` (``[(name, default, description), ...]``), ``explanation``, ``searchable``, ``neural`` (trains
    epoch by epoch, with checkpoints), ``word_vectors``, ``available`` (True) and ``extra`` (None). A rung
    whose optional part is not installed raises :class:`~textladder.errors.MissingExtra`, naming it.

    Example:
        >>> info = model_info("fasttext")
        >>> info["family"], info["searchable"], info["neural"], [p[:2] for p in info["params"]][:2]
        ('fastText', True, False, [('lr', 0.5), ('epochs', 10)])
    """
    from textladder.models import TextClassifier, get

    cls = get(name)
    doc = (cls.__doc__ or "").strip().splitlines()
    return {"name": name, "family": cls.family, "description": doc[0] if doc else "",
            "params": [(key, f.get_default(call_default_factory=True), f.description or "")
                       for key, f in cls.Params.model_fields.items()],
            "explanation": cls.explanation, "searchable": cls.search_space is not TextClassifier.search_space,
            "neural": cls.checkpointed, "word_vectors": cls.has_word_vectors, "available": True, "extra": None}


# -- configs ---------------------------------------------------------------------------------------------
def run_config(data: str | Path, model: str = "tfidf-linear", *, balance: str = "none",
               features: list[str] | tuple[str, ...] = (), seed: int = 42, trainer: dict | None = None,
               **options: Any):
    """The :class:`~textladder.config.RunConfig` of a training: ``options`` are data options
    (``text_col``, ``label_col``, ``id_col``, ``period_col``, ``max_drop``, ``min_class_rows``), split
    options (``split``: auto, reference, stratified, or the name of a column giving each row's part,
    ``train``, ``val`` or ``test``; ``test``: a file of test rows, ``val``: one of validation rows;
    ``test_size``, ``val_size``), ``corrections`` (a file or DataFrame of id and label: labels people
    corrected, applied before the split and recorded in the run's config), and otherwise the model's
    parameters. ``trainer``: how a neural rung
    trains (``accelerator``, ``devices``, ``strategy``, ``precision``: Lightning's settings).

    Example:
        >>> cfg = run_config("sst5.csv", "fasttext", split="split", epochs=5)
        >>> cfg.data.split_col, cfg.split.method, cfg.params
        ('split', 'auto', {'epochs': 5})
        >>> run_config("train.csv", test="test.csv").data.test_path
        'test.csv'
    """
    from textladder.config import RunConfig

    data_cfg, split = data_and_split(data, seed, options)
    return RunConfig(model=model, params=options, balance=balance, features=list(features), seed=seed,
                     data=data_cfg, split=split, trainer={k: v for k, v in (trainer or {}).items() if v is not None})


def data_and_split(data: str | Path, seed: int, options: dict):
    """The :class:`~textladder.config.DataConfig` and :class:`~textladder.data.SplitConfig` that ``options``
    describe; their keys are taken out of ``options``, which keeps the rest (a model's parameters)."""
    from textladder.config import DataConfig
    from textladder.data import SplitConfig

    data_opts = {k: options.pop(k) for k in DATA_OPTIONS if options.get(k) is not None}
    if "corrections" in data_opts:
        data_opts["corrections"] = str(data_opts["corrections"])
    data_opts.update({field: str(options.pop(k)) for k, field in GIVEN_FILES.items() if options.get(k) is not None})
    split_opts = {k: options.pop(k) for k in SPLIT_OPTIONS if k in options}
    split_opts = {k: v for k, v in split_opts.items() if v is not None or k == "split"}
    method = split_opts.pop("split", None) or "auto"
    if method not in SPLIT_METHODS:  # a column of the data that gives each row's part
        if data_opts.get("split_col", method) != method:
            raise TextladderError(f"split='{method}' and split_col='{data_opts['split_col']}' disagree")
        data_opts["split_col"], method = method, "auto"
    for k in (*DATA_OPTIONS, *GIVEN_FILES):
        options.pop(k, None)
    return DataConfig(path=str(data), **data_opts), SplitConfig(method=method, seed=seed, **split_opts)


def _data_only(data, out: str | Path, seed: int, options: dict, what: str):
    """The data and split configs of a command that takes data and split options only (``options`` must hold
    nothing else); ``data`` (a path or a DataFrame) and any ``test=`` / ``val=`` DataFrame saved under ``out``."""
    from textladder.data.frames import data_path

    options = _given_files(options, out)
    data_cfg, split = data_and_split(data_path(data, out), seed, options)
    if options:
        raise TextladderError(f"{what}() takes data and split options only, not {', '.join(options)}")
    return data_cfg, split


def _given_files(options: dict, runs: str | Path) -> dict:
    """``options`` with a DataFrame given as ``test=`` or ``val=`` saved as a file under ``runs`` (as the
    data is: :func:`~textladder.data.frames.data_path`)."""
    from textladder.data.frames import data_path

    return {k: data_path(v, runs) if k in SAVED_FRAMES and v is not None else v for k, v in options.items()}


def _seconds(budget: float | str | None) -> float | None:
    """``90``, ``"90s"``, ``"15m"``, ``"2h"`` -> seconds."""
    if budget is None or isinstance(budget, (int, float)):
        return budget
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(budget))
    if not m:
        raise TextladderError(f"a budget is a time such as 90s, 15m or 2h, not '{budget}'")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def _track(uri: str | None, log_to) -> None:
    from textladder.tracking import Tracker

    tracker = Tracker.make(uri)
    if tracker is not None:
        log_to(tracker)


def _run(run):
    """A :class:`~textladder.runs.Run` from a run or its folder."""
    from textladder.runs import Run

    return run if isinstance(run, Run) else Run.open(run)


# -- training --------------------------------------------------------------------------------------------
def train(data: str | Path | pd.DataFrame, model: str = "tfidf-linear", out: str | Path = "runs", *,
          name: str | None = None, overwrite: bool = False, resume: bool = False, progress: bool = False,
          cv: int | None = None, track: str | None = None, trainer: dict | None = None,
          on_read: Callable[[int], None] | None = None, **options: Any):
    """Train one rung on a data file or DataFrame, as ``textladder train`` does, and return its
    :class:`~textladder.runs.Run` (``run.metrics``, ``run.load_model()``, ``run.path``). ``options``
    are as :func:`run_config` takes them (``balance``, ``features``, ``seed``, data, split and model
    options); ``trainer``: Lightning's settings of a neural rung. ``cv=K`` cross-validates over train+val
    first (out-of-fold predictions in ``oof_predictions.csv``) and keeps one refit on train+val. ``track``
    logs the run to that MLflow tracking URI. ``on_read(n)`` follows the reading of the data file
    (:func:`data_size` gives its total). Bad parameters are refused before the data is read.

    Example:
        >>> run = train("hm_train.csv", model="fasttext", out="runs", epochs=20)  # doctest: +SKIP
        >>> run.metrics["test"]["accuracy"]  # doctest: +SKIP
        0.9258
    """
    from textladder.choices import BALANCE
    from textladder.config import resolve
    from textladder.data.frames import data_path
    from textladder.runs import Run
    from textladder.training import train as train_run

    check(options.get("balance", "none"), BALANCE, _flag("balance"))
    config = run_config(data_path(data, out), model, trainer=trainer, **_given_files(options, out))
    config = config.model_copy(update={"cv": cv, "fit_on": "train+val" if cv else "train"})
    resolve(config)  # fail fast on bad parameters, extra inputs or SMOTE, before reading data
    path = train_run(config, out, name=name, on_progress=on_read, resume=resume, progress=progress,
                     overwrite=overwrite)
    if path is None:  # an extra process of a multi-process (DDP) run: the first one reports
        return None
    run = Run.open(path)
    _track(track, lambda t: t.log_run(run))
    return run


def search(data: str | Path | pd.DataFrame, model: str = "tfidf-linear", out: str | Path = "runs", *,
           trials: int | None = None, budget: float | str | None = None, metric: str = "macro_f1",
           cv: int | None = None, refit: bool = False, study: str | None = None, progress: bool = False,
           engine: str = "local", ray_address: str | None = None, track: str | None = None, **options: Any):
    """Search a rung's parameters on validation, as ``textladder search`` does, and return the
    :class:`~textladder.tuning.SearchResult` (``.run``: the best trial's run; ``.refit``; ``.best_value``,
    ``.default_value``, ``.trials_csv``). ``budget`` is seconds or a time such as ``"15m"``; ``options``
    are as :func:`run_config` takes them (model parameters given there are fixed, not searched).
    ``study``: the study's name (default: from the model, data, split and metric, so the same search
    continues). ``engine="ray"`` runs the trials as Ray tasks (``ray_address``: a cluster's); ``track``: an
    MLflow URI.

    Example:
        >>> result = search("hm_train.csv", model="tfidf-linear", budget="10m", refit=True)  # doctest: +SKIP
        >>> result.final.metrics["test"]["accuracy"]  # doctest: +SKIP
    """
    from textladder.choices import BALANCE
    from textladder.data.frames import data_path
    from textladder.engine import Engine
    from textladder.tracking import Tracker
    from textladder.tuning import search as run_search

    if trials is None and budget is None:
        raise TextladderError(f"say how long to search: {_flag('trials', 'N')} and/or {_flag('budget', '15m')}")
    check(options.get("balance", "none"), BALANCE, _flag("balance"))
    config = run_config(data_path(data, out), model, **_given_files(options, out))
    with Engine.make(engine, ray_address) as runner:
        return run_search(config, out, trials=trials, budget=_seconds(budget), metric=metric, name=study, cv=cv,
                          refit=refit, progress=progress, engine=runner, tracker=Tracker.make(track))


def autotune(data: str | Path | pd.DataFrame, model: str = "fasttext", out: str | Path = "runs", *,
             budget: float | str = "5m", **options: Any):
    """A rung's own search instead of Optuna's (fastText's autotune, on the validation split, for ``budget``),
    as ``textladder search --autotune`` does; returns the run of the configuration it chose.

    Example:
        >>> autotune("hm_train.csv", budget="2m").config.params["epochs"]  # doctest: +SKIP
    """
    from textladder.data.frames import data_path
    from textladder.tuning import autotune as run_autotune

    config = run_config(data_path(data, out), model, **_given_files(options, out))
    return run_autotune(config, out, _seconds(budget))


def climb(data: str | Path | pd.DataFrame, config: str | Path = "quick", out: str | Path = "runs", *,
          report: bool = True, seed: int = 42, progress: bool = False, budget: float | str | None = None,
          engine: str = "local", ray_address: str | None = None, track: str | None = None,
          **options: Any) -> pd.DataFrame:
    """Climb a ladder (``auto`` within ``budget``, a preset, ``quick`` or ``full``, or a TOML file) as
    ``textladder ladder`` does and return the leaderboard as a DataFrame (best on validation first);
    ``.attrs`` holds the report's path, the rungs that failed (or were dropped), the time taken, ``best``
    (the pick, as :func:`best` makes it) and ``result``, the whole
    :class:`~textladder.climbing.ClimbResult`. ``options`` are data and split options. ``engine="ray"``
    trains a preset's or TOML ladder's rungs (the auto ladder: each search's trials) as Ray tasks at once
    (``ray_address``: a cluster's); ``track`` logs the ladder to an MLflow URI.

    Example:
        >>> board = climb("hm_train.csv", config="quick", out="runs")  # doctest: +SKIP
        >>> board[["run", "model", "accuracy"]].head(3)  # doctest: +SKIP
    """
    import pandas as pd

    from textladder.auto import AutoPlan, check_budget
    from textladder.climbing import climb as run_climb
    from textladder.engine import Engine
    from textladder.ladder import load_ladder
    from textladder.ranking import leaderboard as board_of
    from textladder.tracking import Tracker

    data_cfg, split = _data_only(data, out, seed, options, "climb")
    if str(config) == "auto":
        planner, budget = AutoPlan(), _seconds(budget or "10m")
        check_budget(budget)
        log.info("auto ladder on %s into %s: a %.0f s budget", Path(data_cfg.path).name, out, budget)
    else:
        if budget is not None:
            raise TextladderError(f"{_flag('budget')} applies to {_flag('config', 'auto')}; a preset or TOML "
                                  "ladder trains each rung as written")
        planner = load_ladder(config)
        if seed != planner.seed:
            planner = planner.model_copy(update={"seed": seed})
        log.info("ladder %s: %d rungs on %s into %s", config, len(planner.rungs), Path(data_cfg.path).name, out)
    tracker = Tracker.make(track)
    with Engine.make(engine, ray_address) as runner:
        result = run_climb(planner, data_cfg, out, split=split, seed=seed, budget=budget, report=report,
                           progress=progress, engine=runner, tracker=tracker)
    board = pd.DataFrame(board_of(result.runs + result.ensembles))
    failed = result.failed if result.budget is None else list(result.dropped.items())
    board.attrs.update(report=result.report, failed=failed, seconds=result.seconds, best=result.best, result=result)
    return board


def _flag(name: str, value=None) -> str:
    from textladder.errors import option

    return option(name, value)


def find_label_issues(data: str | Path | pd.DataFrame, runs: str | Path = "runs", *, cv: int = 5,
                      top: int | None = None, out: str | Path | bool | None = None, progress: bool = False,
                      trusted: str | Path | pd.DataFrame | None = None, seed: int = 42,
                      budget: float | str = "150s", html: str | Path | None = None, **options: Any):
    """The rows of ``data`` whose label looks wrong, as ``textladder label-issues`` finds them: a
    :class:`~textladder.label_issues.LabelIssues` (``.issues``: id, text, given_label, suggested_label,
    score, most likely wrong first; ``.duplicates``: near-duplicate texts with conflicting labels; ``.path``:
    where they were written). Every row of ``data`` (all the parts of a given split) gets an out-of-fold score:
    the strongest families ``budget`` allows (the ladder's best configuration of each in ``runs``, else the
    defaults of tfidf-linear, fastText and the frozen encoder) are cross-fitted in ``cv`` folds over all the
    rows, and their probabilities pooled. ``out``: write them
    to that CSV (``True``: to ``RUNS/label_issues.csv``), the conflicting duplicates beside it, and then also
    to ``RUNS/label_issues.csv``, the copy the report shows.
    ``trusted``: labels people checked on some rows (a column of ``data``, empty where unchecked, or a
    CSV/Parquet file or DataFrame of id and label); the ranking is then learned from where they disagree with the
    given labels (:func:`textladder.label_issues.trusted_scores`), and ``.issues`` gets ``trusted_label``.
    ``options`` are data and split options, as :func:`run_config` takes them (``split="COL"``, ``test=``).
    ``html``: also write a page to review the flagged rows in a browser, offline, which saves the
    corrections as a CSV that ``corrections=`` (``--corrections``) reads.
    ``progress`` is accepted as before and no longer shows anything: the cross-fitting logs one line per
    family.

    Example:
        >>> found = find_label_issues("hm_train.csv", runs="runs", top=200)  # doctest: +SKIP
        >>> checked = find_label_issues("hm_train.csv", runs="runs", trusted="ground_truth_train.csv")  # doctest: +SKIP
        >>> found.issues[["given_label", "suggested_label", "score"]].head()  # doctest: +SKIP
    """
    from textladder.data.frames import data_path
    from textladder.label_issues import write
    from textladder.layout import ISSUES_FILE
    from textladder.label_issues import find_label_issues as find

    if trusted is not None:
        trusted = data_path(trusted, runs)
    data_cfg, _ = _data_only(data, runs, seed, options, "find_label_issues")  # every part is scored: no split
    found = find(data_cfg.path, runs, cv=cv, top=top, trusted=trusted, seed=seed, data_config=data_cfg,
                 budget=_seconds(budget))
    if html is not None:
        from textladder.files import atomic_file
        from textladder.label_issues import review_page, suggestion_words
        from textladder.runs import load_data

        ds = load_data(data_cfg)
        page = review_page(found, ds.classes, suggestion_words(ds, found.issues),
                           f"Label review: {Path(data_cfg.path).name}")
        with atomic_file(html) as tmp:
            tmp.write_text(page, encoding="utf-8")
    if out is None or out is False:
        return found
    copy = Path(runs) / ISSUES_FILE
    target = copy if out is True else Path(out)
    write(found, target)
    if target.resolve() != copy.resolve():  # the copy the report shows
        write(found, copy)
    found.path = target
    return found


def leaderboard(runs: str | Path = "runs", by: str = "val", frame: bool = True):
    """The finished runs of a folder as ``textladder runs`` ranks them: best validation macro-F1 first (its
    cross-validated mean where a run has one), test shown beside it. ``by="pick"`` ranks as :func:`best`
    picks (``pick_macro_f1``, ``pick_source``, ``maximised``: figures no search maximised first).
    ``by="test"`` ranks by test macro-F1, with a warning: a model chosen by its test score has been fitted to
    the test split. A DataFrame, or with ``frame=False`` a list of dicts (as ``runs --json`` prints them).

    Example:
        >>> leaderboard("runs")[["run", "model", "val_macro_f1", "accuracy"]].head(3)  # doctest: +SKIP
    """
    from textladder.ranking import leaderboard as board
    from textladder.runs import list_runs

    rows = board(list_runs(runs), by=by)
    if not frame:
        return rows
    import pandas as pd

    return pd.DataFrame(rows)


def temporaries(runs: str | Path = "runs", remove: bool = False) -> list[Path]:
    """Temporaries and locks left in a runs folder by commands that no longer run (``remove``: delete them),
    as ``textladder runs`` lists them and ``--clean`` deletes them."""
    from textladder.files import remove_stale, stale_temporaries
    from textladder.layout import CHECKPOINTS

    folders = [Path(runs), Path(runs) / CHECKPOINTS]
    return [p for f in folders for p in (remove_stale(f) if remove else stale_temporaries(f))]


def best(runs: str | Path = "runs"):
    """The run to use from a runs folder, as ``textladder runs RUNS --best`` prints it: the best macro-F1 on
    a figure no search has maximised (out of fold over train+val where a run has one), so a search's best
    trial does not win on the luck of its validation rows (:func:`textladder.ranking.best`); a
    :class:`~textladder.runs.Run`. Test is never read to choose.

    Example:
        >>> best("runs").load_model().predict(["went for a run with my dog"])  # doctest: +SKIP
        array(['exercise'], dtype=object)
    """
    from textladder.ranking import best as pick
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
    from textladder.choices import VOTES
    from textladder.ensembles import build, choose_members, parse_select
    from textladder.runs import Run

    check(vote, VOTES, _flag("vote"))
    given = [runs] if isinstance(runs, str | Path | Run) else list(runs)
    members, greedy = choose_members([r.path if isinstance(r, Run) else r for r in given], select, weights)
    if isinstance(parse_select(select), int):
        log.info("selected by validation macro-F1: %s", ", ".join(r.name for r in members))
    path = build(members, vote=vote, weights=weights, runs_dir=out, name=name, runtime=runtime, greedy=greedy,
                 calibrated=calibrated)
    made = Run.open(path)
    _track(track, lambda t: t.log_run(made))
    return made


# -- scoring ---------------------------------------------------------------------------------------------
def evaluation_folder(run, data: str | Path | None = None) -> Path:
    """Where ``textladder evaluate`` writes a run's plots and CSVs by default: ``RUN/eval-test`` for its own
    test split, ``RUN/eval-STEM`` for a file ``STEM.csv``."""
    return _run(run).path / f"eval-{'test' if data is None else Path(data).stem}"


def evaluate(run, data: str | Path | pd.DataFrame | None = None, *, target_accuracy: float | None = None,
             calibrated: bool = True, out: str | Path | None = None, runtime: str = "auto",
             label_col: str | None = None, text_col: str | None = None, id_col: str | None = None) -> dict:
    """Score a run as ``textladder evaluate`` does and return its figures: accuracy, macro- and weighted-F1,
    ``per_class``, calibration (``ece``, ``brier``, ``log_loss``, and under ``uncalibrated`` the model's
    own), accuracy against ``coverage``, and with ``target_accuracy`` the confidence threshold chosen on
    validation and what it gives here (``selective``). ``data``: the run's own test split when None, else a
    file or DataFrame whose rows with a label are scored (the others are counted as
    ``skipped_unlabelled``). ``out``: a folder for the plots and CSVs (none are written without it; the
    command's default is :func:`evaluation_folder`).

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
    and returns its path: the way for files larger than memory (:func:`predict_files` also says how many
    rows it wrote).

    Example:
        >>> predict("runs/tfidf-linear-...", ["went for a run with my dog"])[["id", "predicted"]]  # doctest: +SKIP
    """
    import tempfile

    import pandas as pd

    from textladder.data.frames import data_path

    if isinstance(data, list | tuple | pd.Series):
        data, text_col = pd.DataFrame({"text": list(data)}), "text"
    elif not isinstance(data, str | Path | pd.DataFrame):
        raise TextladderError(f"data is a file path, a pandas DataFrame or a list of texts, not {type(data).__name__}")
    with tempfile.TemporaryDirectory(prefix="textladder-predict-") as tmp:
        data = data_path(data, tmp)
        target = Path(output) if output is not None else Path(tmp) / "predictions.csv"
        done = predict_files(run, [data], target, text_col=text_col, id_col=id_col, runtime=runtime,
                             min_confidence=min_confidence, calibrated=calibrated, keep_text=keep_text)
        if output is not None:
            return target
        frame = pd.read_csv(target, dtype={"id": str, "predicted": str, "text": str}, keep_default_na=False)
    frame.attrs.update(rows=done.rows, withheld=done.withheld)
    return frame


def predict_files(run, inputs: list[str | Path], output: str | Path, *, chunk_size: int = 10_000,
                  min_confidence: float | None = None, calibrated: bool = True, keep_text: bool = False,
                  runtime: str = "auto", text_col: str | None = None, id_col: str | None = None,
                  on_read: Callable[[int], None] | None = None, engine: str = "local",
                  ray_address: str | None = None, fmt: str = "parquet"):
    """Predict files as ``textladder predict`` does and return what was written
    (:class:`~textladder.prediction.Predicted`: ``rows``, ``withheld``). Here: one input file, read in chunks
    of ``chunk_size`` rows (``on_read(n)`` follows it), into ``output`` (CSV or Parquet by its suffix). With
    ``engine="ray"``: Ray Data scores many files or folders at once, the model loaded once per worker, into
    a new folder ``output`` of partitioned ``fmt`` files (parquet or csv)."""
    from textladder.engine import Engine
    from textladder.prediction import predict_file, predict_ray

    r = _run(run)
    with Engine.make(engine, ray_address) as runner:
        if runner.name == "ray":
            check(fmt, ("parquet", "csv"), _flag("format"))
            return predict_ray(r, inputs, output, runner, text_col=text_col, id_col=id_col, runtime=runtime,
                               min_confidence=min_confidence, calibrated=calibrated, keep_text=keep_text,
                               fmt=fmt, batch_size=chunk_size)
    if len(inputs) != 1:
        raise TextladderError(f"the local engine predicts one INPUT file; give several with {_flag('engine', 'ray')}")
    return predict_file(r, inputs[0], output, chunk_size=chunk_size, text_col=text_col, id_col=id_col,
                        runtime=runtime, on_progress=on_read, min_confidence=min_confidence, calibrated=calibrated,
                        keep_text=keep_text)


def explain(run, text: str, *, label: str | None = None, samples: int = 300, features: dict | None = None,
            runtime: str = "auto", html: str | Path | None = None):
    """Why a run's model says what it says about ``text``, as ``textladder explain`` shows it: an
    :class:`~textladder.explain.Explanation` (each token's weight toward the predicted class, or ``label``).
    ``features``: the values of the extra inputs the run was trained with (``{"period": "24h"}``);
    ``samples``: the most model evaluations of a SHAP explanation; ``html``: also write a page with the
    tokens highlighted.

    Example:
        >>> explain("runs/tfidf-linear-...", "went for a run with my dog").label  # doctest: +SKIP
        'exercise'
    """
    from textladder.explain import html_page
    from textladder.files import atomic_file

    r = _run(run)
    e = r.load_model(runtime).explain(text, label=label, samples=samples, features=features or {})
    if html is not None:
        with atomic_file(html) as tmp:
            tmp.write_text(html_page(e, f"{r.name}: why '{e.label}'"), encoding="utf-8")
    return e


def _word_vectors(run):
    from textladder.models import get

    r = _run(run)
    if not get(r.config.model).has_word_vectors:
        raise TextladderError(f"{r.path}: model '{r.config.model}' has no word vectors "
                              "(the sequence rungs, w2v-dense and fasttext have)")
    words, matrix = r.load_model().word_vectors()
    return r, words, matrix


def similar_words(run, word: str, top: int = 10) -> list[tuple[str, float]]:
    """The ``top`` words nearest to ``word`` in a run's word vectors, by cosine similarity, as
    ``textladder vectors similar`` lists them."""
    from textladder.embeddings.vectors import most_similar

    _, words, matrix = _word_vectors(run)
    return most_similar(words, matrix, word, topn=top)


def word_map(run, out: str | Path = "word_map.html", *, method: str = "pca", top: int = 2000) -> Path:
    """An interactive Bokeh map (one offline HTML file) of a run's ``top`` most common words, projected by
    ``method`` (pca or tsne), as ``textladder vectors map`` writes it; returns its path."""
    from textladder.viz.wordmap import METHODS
    from textladder.viz.wordmap import word_map as write_map

    check(method, METHODS, _flag("method"))
    r, words, matrix = _word_vectors(run)
    n = min(top, len(words))
    return write_map(words, matrix, out, method=method, top=top,
                     title=f"{r.name}: {method.upper()} map of the {n:,} most common words")


def export(run, *, int8: bool = False) -> dict:
    """Export a run's model to ONNX (``int8``: also a dynamically quantised copy), as ``textladder export
    --onnx`` does; returns ``files``, the largest probability differences from PyTorch and the exporter's
    ``warnings``."""
    from textladder.export import export as export_run

    return export_run(_run(run), int8=int8)


def serve(run, **options: Any) -> None:
    """Serve a run over HTTP until interrupted, as ``textladder serve`` does (``options``: host, port,
    workers, max_batch, max_chars, truncate, max_body, api_key, cors_origin, docs, header_timeout,
    body_timeout, runtime, min_confidence, calibrated; :func:`textladder.serve.serve`)."""
    from textladder.serve import serve as serve_run

    serve_run(run, **options)


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
            on_read: Callable[[int], None] | None = None, **options: Any) -> dict:
    """Summarise a dataset as ``textladder explore`` does and return the summary: rows, ``format``,
    ``classes`` (rows per class), ``tokens`` (length statistics and a suggested sequence length) and
    ``split`` (its sizes). ``out`` gets ``summary.json``, the class pie and bar charts and the token-length
    histogram. ``options`` are data and split options, as :func:`run_config` takes them.

    Example:
        >>> explore("hm_train.csv")["classes"]["exercise"]  # doctest: +SKIP
        729
    """
    import tempfile

    from textladder.exploration import explore as write_explore
    from textladder.runs import load_data

    with tempfile.TemporaryDirectory(prefix="textladder-explore-") as tmp:
        data_cfg, split = _data_only(data, tmp, seed, options, "explore")
        ds = load_data(data_cfg, on_progress=on_read)
        log.info("%s: detected format '%s'", data_cfg.path, ds.format)
        return write_explore(ds, out, split)
