"""Why did the model say that? One explanation type for every rung and ensemble.

Every model's ``explain(text)`` returns an :class:`Explanation`: the text's tokens, each with a weight
toward one class (the predicted one unless asked), and how the weights were found. Each rung declares
its method (``TextClassifier.explanation``):

- ``linear`` (``tfidf-linear``): exact. Each feature's value times its coefficient, per class, in the
  units of the (calibrated) log-probability; a word n-gram's contribution is shared among the words
  it spans, a character n-gram's among the words that hold it. The weights, the extra inputs and the
  intercept add up to the class's score.
- ``attention`` (``attention``): the attention weight of each token (they sum to 1; not per class).
- ``shap`` (every other rung, and ensembles): SHAP's partition explainer with a text masker over
  ``predict_proba``, within a bounded number of model evaluations (``samples``). The weights add up to
  the class's probability minus its probability with every word masked (``base``). SHAP is used, not
  LIME, because it is maintained, its values add up (a property the tests check), and its partition
  explainer respects the order of the words with few evaluations.

Example:
    >>> import textladder
    >>> texts = ["my dog", "the gym", "a dog", "gym day", "dog walk", "gym class"] * 4
    >>> labels = ["pets", "sport", "pets", "sport", "pets", "sport"] * 4
    >>> model = textladder.build_model("tfidf-linear", min_df=1).fit(texts, labels)
    >>> e = model.explain("walked my dog")
    >>> e.label, e.method, max(e.weights) == e.weights[e.tokens.index("dog")]
    ('pets', 'linear', True)
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field

import numpy as np

from textladder.errors import MissingExtra, TextladderError

EXPLAIN_SAMPLES = 300  # most model evaluations of a model-agnostic (SHAP) explanation


@dataclass
class Explanation:
    """``tokens`` of ``text`` and their ``weights`` toward ``label`` (``proba``: every class's probability).
    ``method``: linear (exact contributions), attention (attention weights) or shap. ``base``: what the
    weights add to (linear: the intercept and extra inputs; shap: the probability with every word masked).
    ``per_class``: the weights toward every class, where the method gives them. ``features``: the largest
    contributions by feature (linear: n-grams and extra inputs)."""

    text: str
    label: str
    proba: dict[str, float]
    tokens: list[str]
    weights: list[float]
    method: str
    base: float | None = None
    per_class: dict[str, list[float]] | None = None
    features: list[tuple[str, float]] = field(default_factory=list)
    note: str = ""

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` tokens that weigh most toward the label."""
        order = np.argsort(-np.asarray(self.weights), kind="stable")[:k]
        return [(self.tokens[i], self.weights[i]) for i in order]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tokens"] = [[t, round(float(w), 6)] for t, w in zip(self.tokens, self.weights)]
        del d["weights"]
        d["proba"] = {c: round(float(p), 6) for c, p in self.proba.items()}
        d["features"] = [[f, round(float(w), 6)] for f, w in self.features]
        return d

    def to_html(self, title: str = "") -> str:
        """The text with each token highlighted by its weight (blue toward the label, red against), and the
        probabilities: a fragment to put in a page (see :func:`html_page`)."""
        return tokens_html(self.tokens, self.weights, title or f"{self.label} ({self.proba[self.label]:.2f})",
                           f"{self.method}; {self.note}" if self.note else self.method)


def tokens_html(tokens: list[str], weights: list[float], title: str, subtitle: str = "") -> str:
    top = max([abs(w) for w in weights] + [1e-12])
    spans = []
    for t, w in zip(tokens, weights):
        a = min(1.0, abs(w) / top)
        color = f"rgba(33,102,172,{a:.2f})" if w >= 0 else f"rgba(178,24,43,{a:.2f})"
        spans.append(f'<span class="tok" style="background:{color}" title="{w:+.4f}">{html.escape(t)}</span>')
    return (f'<div class="explained"><div class="ex-title">{html.escape(title)} '
            f'<small>{html.escape(subtitle)}</small></div><div class="ex-text">{" ".join(spans)}</div></div>')


STYLE = """<style>
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
.explained{margin:.8rem 0;overflow-wrap:anywhere}.ex-title{font-weight:600;margin-bottom:.3rem}
.ex-title small{font-weight:400;color:#666}.tok{padding:1px 3px;border-radius:3px;line-height:1.9}
table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #ddd}
</style>"""


def html_page(explanation: Explanation, title: str) -> str:
    """A self-contained HTML page: the highlighted text, and the probability of every class."""
    rows = "".join(f"<tr><td>{html.escape(c)}</td><td>{p:.4f}</td></tr>"
                   for c, p in sorted(explanation.proba.items(), key=lambda kv: -kv[1]))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>{STYLE}</head>"
            f"<body><h1>{html.escape(title)}</h1>{explanation.to_html()}"
            "<p>Blue: toward the label; red: against it; the stronger the colour, the larger the weight "
            "(hover a word for its value).</p>"
            f"<table><tr><th>class</th><th>probability</th></tr>{rows}</table></body></html>")


def text_frame(model, text, features: dict | None):
    """One text (and the values of the model's extra inputs) as the one-row frame a model predicts."""
    import pandas as pd

    if not isinstance(text, str):
        raise TextladderError("explain takes one text (a string)")
    frame = pd.DataFrame({"text": [text]})
    for key, value in (features or {}).items():
        frame[key] = [value]
    missing = [f for f in model.features if f not in frame.columns]
    if missing:
        raise TextladderError(f"this model also reads {', '.join(missing)}: give its value "
                              f"(features={{'{missing[0]}': ...}})")
    return frame


def chosen_class(model, proba: np.ndarray, label) -> int:
    """The column of ``label`` (default: the predicted class) in ``model``'s probabilities."""
    classes = model.classes_.tolist()
    if label is None:
        return int(proba.argmax())
    if label not in classes:
        raise TextladderError(f"'{label}' is not a class of this model ({', '.join(map(str, classes))})")
    return classes.index(label)


def shap_explanation(model, text: str, label=None, samples: int = EXPLAIN_SAMPLES,
                     features: dict | None = None) -> Explanation:
    """SHAP's partition explainer with a text masker (words split on non-word characters) over
    ``model.predict_proba``, in at most ``samples`` model evaluations."""
    import logging

    try:
        import shap
    except ModuleNotFoundError as exc:
        raise MissingExtra(f"explaining a '{model.name}' model (SHAP)", exc.name or "shap") from None

    frame = text_frame(model, text, features)
    extra = {k: frame[k].iloc[0] for k in frame.columns if k != "text"}

    def f(texts):
        import pandas as pd

        batch = pd.DataFrame({"text": [str(t) for t in texts], **{k: [v] * len(texts) for k, v in extra.items()}})
        return model.predict_proba(batch)

    proba = f([text])[0]
    k = chosen_class(model, proba, label)
    classes = [str(c) for c in model.classes_]
    logging.getLogger("shap").setLevel(logging.ERROR)
    explainer = shap.Explainer(f, shap.maskers.Text(r"\W+"), output_names=classes, algorithm="partition")
    result = explainer([text], max_evals=max(samples, 2 * len(text.split()) + 1), batch_size=50, silent=True)
    values = np.asarray(result.values[0], dtype=np.float64)  # tokens x classes
    tokens = [str(t).strip() for t in result.data[0]]
    keep = [i for i, t in enumerate(tokens) if t]
    return Explanation(text=text, label=classes[k], proba=dict(zip(classes, map(float, proba))),
                       tokens=[tokens[i] for i in keep], weights=values[keep, k].tolist(), method="shap",
                       base=float(np.asarray(result.base_values[0])[k]),
                       per_class={c: values[keep, j].tolist() for j, c in enumerate(classes)},
                       note=f"SHAP partition explainer, at most {samples} evaluations; the weights add up to "
                            "the probability minus the base (every word masked)")


def probe_words(model, vocabulary: list[str], top: int = 10) -> dict[str, list[tuple[str, float]]]:
    """For any model: the words that most raise each class's probability when read alone, as the
    log-ratio of the class's probability for the one-word text to its mean over all the words."""
    import pandas as pd

    if not vocabulary:
        return {}
    frame = pd.DataFrame({"text": vocabulary})
    for feature in model.features:  # one-word texts with no extra input: encoded as an unseen value
        frame[feature] = "unknown"
    proba = np.clip(model.predict_proba(frame), 1e-9, 1.0)
    lift = np.log(proba) - np.log(proba.mean(axis=0, keepdims=True))
    return {str(c): [(vocabulary[i], float(lift[i, j])) for i in np.argsort(-lift[:, j], kind="stable")[:top]]
            for j, c in enumerate(model.classes_)}
