"""Model registry: every rung is one module whose class is decorated with ``@register(name)``.

Rungs are found through the ``textladder.rungs`` entry points (``pyproject.toml``: a name and the
module that registers it), so a rung in another installed package appears in ``textladder models``,
``train`` and ``ladder`` too. A module is imported only when its rung is used: torch loads only for
a neural rung.
"""

from textladder.models.base import Params, TextClassifier, TrainingContext
from textladder.models.registry import build, get, load_folder, make_params, names, register, register_lazy

__all__ = ["Params", "TextClassifier", "TrainingContext", "build", "get", "load_folder", "make_params", "names",
           "register", "register_lazy"]
