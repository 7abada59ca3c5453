"""Explanations: exact for the linear rung, SHAP for the rest and for ensembles."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import make_rows, write_csv
from typer.testing import CliRunner

import textladder
from textladder.cli import app
from textladder.ensembles import build
from textladder.explain import html_page
from textladder.runs import Run

runner = CliRunner()
TEXTS = ["i love my dog", "ran five miles", "my dog is cute", "gym run today", "got promoted at work",
         "finished the project"] * 5
LABELS = ["pets", "sport", "pets", "sport", "work", "work"] * 5


@pytest.mark.parametrize("params", [{}, {"char_ngrams": True}, {"classifier": "svm"}, {"ngram_max": 1}])
def test_linear_contributions_add_up_to_the_class_score(params):
    model = textladder.build_model("tfidf-linear", min_df=1, **params).fit(TEXTS, LABELS)
    model.temperature_ = 1.7  # calibrated: the weights are in units of the calibrated log-probability
    text = "my dog ran to the gym today, my dog"
    X = model.pipeline_.named_steps["features"].transform(pd.DataFrame({"text": [text]}))
    W, b, units = model._linear()
    scores = np.asarray(X @ W.T + b)[0] / (1.7 if "log-probability" in units else 1.0)
    for label in ("pets", "sport", "work"):
        e = model.explain(text, label=label)
        assert sum(e.weights) + e.base == pytest.approx(scores[model.classes_.tolist().index(label)], abs=1e-6)
        assert e.tokens == ["my", "dog", "ran", "to", "the", "gym", "today", "my", "dog"]
    e = model.explain(text)
    assert e.label == "pets" and e.top(1)[0][0] in ("my", "dog")
    assert e.weights[e.tokens.index("gym")] < 0  # a sport word speaks against pets
    if "log-probability" in units:  # the scores are the calibrated log-probabilities, up to one constant
        logp = np.log(model.predict_proba([text])[0])
        np.testing.assert_allclose(scores - scores.max(), logp - logp.max(), atol=1e-5)


def test_linear_ranking_agrees_with_removing_words():
    model = textladder.build_model("tfidf-linear", min_df=1, ngram_max=1, norm=None, use_idf=False,
                                   sublinear_tf=False).fit(TEXTS, LABELS)
    text = "my dog ran to the gym"
    e = model.explain(text, label="pets")
    k = model.classes_.tolist().index("pets")
    base = np.log(model.predict_proba([text])[0])
    effect = {}  # how much the pets log-odds against the rest falls when each word is removed
    for i, tok in enumerate(e.tokens):
        rest = " ".join(t for j, t in enumerate(e.tokens) if j != i)
        logp = np.log(model.predict_proba([rest])[0])
        effect[tok] = (base[k] - base.mean()) - (logp[k] - logp.mean())
    by_weight = [t for t, _ in sorted(zip(e.tokens, e.weights), key=lambda kv: -kv[1])]
    by_effect = sorted(effect, key=lambda t: -effect[t])
    assert by_weight[:2] == by_effect[:2] and by_weight[-1] == by_effect[-1]


def test_class_words_of_the_linear_rung_and_of_any_model():
    model = textladder.build_model("tfidf-linear", min_df=1).fit(TEXTS, LABELS)
    words = model.class_words(top=3)
    assert {w for w, _ in words["pets"]} & {"dog", "love", "cute"}
    assert {w for w, _ in words["work"]} & {"promoted", "project", "work"}
    from textladder.explain import probe_words

    probed = probe_words(model, ["dog", "gym", "promoted", "today"], top=1)
    assert probed == {"pets": [("dog", pytest.approx(probed["pets"][0][1]))],
                      "sport": [("gym", pytest.approx(probed["sport"][0][1]))],
                      "work": [("promoted", pytest.approx(probed["work"][0][1]))]}


def test_an_ensemble_explains_with_shap_through_the_cli(tmp_path):
    data = write_csv(tmp_path / "d.csv", make_rows(150))
    a = textladder.train(data, model="tfidf-linear", out=tmp_path / "runs", min_df=1)
    b = textladder.train(data, model="fasttext", out=tmp_path / "runs", epochs=5)
    ens = Run.open(build([a, b], runs_dir=tmp_path / "runs"))
    text = "today I went to the gym and hugged my son"
    r = runner.invoke(app, ["explain", str(ens.path), text, "--json", "--samples", "50"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    p = ens.load_model().predict_proba([text])[0]
    assert got["method"] == "shap" and got["proba"][got["label"]] == pytest.approx(p.max(), abs=1e-5)
    assert sum(w for _, w in got["tokens"]) + got["base"] == pytest.approx(p.max(), abs=1e-3)
    shown = runner.invoke(app, ["explain", str(a.path), text])
    assert shown.exit_code == 0 and "linear" in shown.stdout and "gym" in shown.stdout
    page = html_page(textladder.load(a.path).explain(text), "why")
    assert page.count('class="tok"') == len(textladder.load(a.path).explain(text).tokens)
