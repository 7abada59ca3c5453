"""textladder: build ever better multi-class text classifiers, one rung at a time.

The Python API (importing ``textladder`` stays light: nothing heavy loads until it is used):

- :func:`load` opens a run folder, an ensemble or a ``model/`` folder: a fitted classifier;
- :func:`build_model` gives an unfitted rung, a scikit-learn estimator;
- :func:`train` trains one rung on a file (or a DataFrame) into a run folder; :func:`search` searches its parameters on
  validation; :func:`climb` climbs a whole ladder (``config="auto"``: search every rung within a budget);
- :func:`ensemble` combines runs (soft, hard, stacked, greedy); :func:`leaderboard` ranks a runs folder on
  validation; :func:`report` writes its HTML report;
- :func:`explore` summarises a dataset (classes, lengths, split sizes) with plots;
- :func:`evaluate` scores a run (calibration and coverage too); :func:`predict` labels a file, a DataFrame or
  a list of texts, with ``min_confidence`` for "uncertain";
- :func:`find_label_issues` ranks the rows whose label looks wrong; every model has ``explain(text)``.

Wherever a data file is read, a pandas DataFrame will do as well.
"""

from textladder._version import __version__

from textladder.api import (  # noqa: E402
    best,
    build_model,
    climb,
    ensemble,
    evaluate,
    explore,
    find_label_issues,
    leaderboard,
    load,
    predict,
    report,
    search,
    train,
)
from textladder.errors import DataError, RunError, TextladderError  # noqa: E402

__all__ = ["DataError", "RunError", "TextladderError", "__version__", "best", "build_model", "climb", "ensemble", "evaluate",
           "explore", "find_label_issues", "leaderboard", "load", "predict", "report", "search", "train"]
