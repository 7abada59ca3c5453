"""The names of the files and folders textladder writes, in one place: a runs folder, and the run folders
inside it. Every module that reads or writes one of them takes its name from here.

A run folder (``RUNS/NAME/``) holds ``config.json`` (the run's :class:`~textladder.config.RunConfig`),
``labels.json``, ``split.json`` (the ids of each part), ``metrics.json``, the predictions
(``val_predictions.csv``, ``test_predictions.csv``, and ``oof_predictions.csv`` when cross-validated),
``history.csv`` (a neural run's epochs), ``search/`` (a searched run's study) and ``model/`` (safe formats
only: ``rung.json`` says which rung, ``checksums.json`` what each file must hash to).

Example:
    >>> CONFIG, MODEL_DIR, RUNG_FILE
    ('config.json', 'model', 'rung.json')
"""

# a run folder
CONFIG = "config.json"
LABELS = "labels.json"
SPLIT = "split.json"
METRICS = "metrics.json"
MODEL_DIR = "model"
TEST_PREDICTIONS = "test_predictions.csv"
VAL_PREDICTIONS = "val_predictions.csv"
OOF_PREDICTIONS = "oof_predictions.csv"
HISTORY = "history.csv"
SEARCH_DIR = "search"  # a searched run's study: study.json, history.png, importance.png
# a model/ folder
RUNG_FILE = "rung.json"  # which rung, its parameters, inputs and classes
CHECKSUMS = "checksums.json"
# a runs folder
CHECKPOINTS = ".checkpoints"  # RUNS/.checkpoints/NAME: a neural run's checkpoints while it trains
STUDIES = "search.sqlite"  # every search's Optuna study
ISSUES_FILE = "label_issues.csv"  # the last label-issues finding, which the report shows
REPORT = "report.html"
TMP_PREFIX = ".tmp-"  # a folder or file being written, renamed when complete
LOCK_PREFIX = ".lock-"  # a command's lock on a target
