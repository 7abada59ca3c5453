"""Model registry; importing this package registers every built-in rung.

The neural rungs are registered here too, but torch is imported only when one is built.
"""

from textladder.models import linear  # noqa: F401  (registers tfidf-linear)
from textladder.models.base import Params, TextClassifier, TrainingContext, load_folder
from textladder.models.registry import build, get, make_params, names, register, register_lazy

for _name in ("lstm", "bilstm", "bilstm2", "gru", "bigru"):
    register_lazy(_name, "textladder.models.rnn")
for _name in ("w2v-dense", "w2v-dense2"):
    register_lazy(_name, "textladder.models.w2v_dense")
register_lazy("fasttext", "textladder.models.fasttext_clf")
register_lazy("contextual", "textladder.models.contextual")
register_lazy("transformer", "textladder.models.transformer")
for _name in ("cnn", "attention", "capsule"):
    register_lazy(_name, f"textladder.models.{_name}")
register_lazy("ensemble", "textladder.models.voting")

__all__ = ["Params", "TextClassifier", "TrainingContext", "build", "get", "load_folder", "make_params", "names",
           "register"]
