"""``tfidf-linear``: TF-IDF n-grams + logistic regression or a calibrated linear SVM.

The roadmap's "traditional methods work surprisingly well" baseline. Word
1..``ngram_max``-grams (sub-linear tf, ``min_df`` 2), optionally joined by
character n-grams; logistic regression (C 20) or ``LinearSVC`` wrapped in
``CalibratedClassifierCV`` so it gives probabilities. Saved with skops, and
loaded back only if the file holds the scikit-learn types this rung uses.

Example:
    >>> import numpy as np, pandas as pd
    >>> X = pd.DataFrame({"text": ["i love my dog", "ran five miles", "my dog is cute", "gym run today"] * 5})
    >>> y = np.array([0, 1, 0, 1] * 5)
    >>> m = TfidfLinear(min_df=1).fit(X, y)
    >>> m.predict(pd.DataFrame({"text": ["cute dog"]})).tolist()
    [0]
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.svm import LinearSVC

from textladder.balance import smote
from textladder.errors import RunError, TextladderError, option
from textladder.explain import EXPLAIN_SAMPLES, Explanation, chosen_class, text_frame
from textladder.features import ExtraInputs
from textladder.models.base import Params, TextClassifier
from textladder.models.registry import register

log = logging.getLogger("textladder")
MODEL_FILE = "model.skops"
SVM_UNNORMALISED = ("LinearSVC on unnormalised tf-idf (norm=None) converges very slowly: its feature values run "
                    "into the hundreds, and liblinear's 2,000 iterations take minutes where norm='l2' needs about "
                    "16 (on HappyDB, one search trial took 855 s)")


class TfidfLinearParams(Params):
    classifier: Literal["logreg", "svm"] = "logreg"
    ngram_max: int = Field(2, ge=1, le=5, description="word n-grams from 1 to this")
    token_pattern: str = Field(r"(?u)\b\w\w+\b", description="regular expression of a word (default: 2+ letters "
                               r"or digits; '(?u)\b\w+\b' keeps one-character words)")
    min_df: int = Field(2, ge=1, description="ignore n-grams in fewer documents")
    max_features: int | None = Field(None, ge=1)
    sublinear_tf: bool = True
    use_idf: bool = Field(True, description="weight words by inverse document frequency (false: plain counts)")
    binary: bool = Field(False, description="word presence (0/1) instead of counts")
    norm: Literal["l2", "l1"] | None = Field("l2", description="normalise each text's vector (None: raw values)")
    char_ngrams: bool = Field(False, description="add character 2..char_ngram_max-grams (within word boundaries)")
    char_ngram_max: int = Field(5, ge=2, le=8, description="longest character n-gram (with char_ngrams)")
    C: float | None = Field(None, gt=0, description="inverse regularisation; default 20 (logreg) or 1 (svm)")
    class_weight: Literal["balanced"] | None = None
    max_iter: int = Field(2000, ge=1)
    seed: int = 42

    def inert(self) -> set[str]:
        """``char_ngram_max`` without character n-grams; ``sublinear_tf`` on 0/1 features (``binary``)."""
        return ({"char_ngram_max"} if not self.char_ngrams else set()) | ({"sublinear_tf"} if self.binary else set())


@register("tfidf-linear")
class TfidfLinear(TextClassifier):
    """TF-IDF features and a linear classifier, in one scikit-learn Pipeline."""

    family = "bag of words"

    Params = TfidfLinearParams
    train_cost = (1.5, 0.2, 0.0)  # measured: benchmarks/rung_costs.py (docs/BENCHMARKS.md)

    @classmethod
    def estimate_seconds(cls, params, train_rows: int, words: float | None = None) -> float:
        """Character n-grams cost about 3.5 times the words' (HappyDB: 29 s against 8 s)."""
        fixed, once, _ = cls.train_cost
        longer = 1.0 if words is None else max(1.0, words / 21)  # longer texts: more n-grams to count
        return fixed + train_rows / 1000 * once * longer * (3.5 if params.char_ngrams else 1.0)

    @staticmethod
    def search_space(trial) -> dict:
        """The parameters a search tries (an Optuna trial suggests each): word patterns and n-grams,
        character n-grams, counts against tf-idf, pruning of rare words, the classifier and its C."""
        space = {
            "token_pattern": trial.suggest_categorical("token_pattern", [r"(?u)\b\w\w+\b", r"\b\w+\b"]),
            "ngram_max": trial.suggest_int("ngram_max", 1, 3),
            "char_ngrams": trial.suggest_categorical("char_ngrams", [False, True]),
            "char_ngram_max": trial.suggest_int("char_ngram_max", 3, 5),
            "use_idf": trial.suggest_categorical("use_idf", [True, False]),
            "sublinear_tf": trial.suggest_categorical("sublinear_tf", [True, False]),
            "binary": trial.suggest_categorical("binary", [False, True]),
            "norm": trial.suggest_categorical("norm", ["l2", "l1", None]),
            "min_df": trial.suggest_int("min_df", 1, 5),
            "max_features": trial.suggest_categorical("max_features", [None, 20_000, 100_000]),
            "classifier": trial.suggest_categorical("classifier", ["logreg", "svm"]),
            "C": trial.suggest_float("C", 0.01, 100.0, log=True),
            "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"]),
        }
        return space

    @classmethod
    def search_refuses(cls, params, fixed: set[str]) -> str | None:
        """LinearSVC on unnormalised tf-idf: liblinear does not converge on such large feature values (on
        HappyDB one fit ran its 2,000 iterations for minutes; 16 iterations with l2; docs/BENCHMARKS.md)."""
        if params.classifier == "svm" and params.norm is None and not {"classifier", "norm"} <= fixed:
            return SVM_UNNORMALISED
        return None

    # The best of a 35-trial search on HappyDB (docs/BENCHMARKS.md "Search"): unigram counts with idf, l2,
    # rare words out, a lightly regularised logistic regression
    search_portfolio = [{"token_pattern": r"(?u)\b\w\w+\b", "ngram_max": 1, "char_ngrams": False, "use_idf": True,
                         "sublinear_tf": False, "binary": False, "norm": "l2", "min_df": 4, "max_features": 100_000,
                         "classifier": "logreg", "C": 15.0, "class_weight": None}]

    @classmethod
    def search_start(cls, params) -> dict:
        start = params.model_dump(mode="json")
        start["C"] = params.C or (20.0 if params.classifier == "logreg" else 1.0)  # what C=None means
        return start

    def _pipeline(self, extra: ExtraInputs | None = None) -> Pipeline:
        p = self.params
        words = TfidfVectorizer(
            ngram_range=(1, p.ngram_max), min_df=p.min_df, max_features=p.max_features, token_pattern=p.token_pattern,
            sublinear_tf=p.sublinear_tf, use_idf=p.use_idf, binary=p.binary, norm=p.norm, dtype=np.float32,
        )
        features = words
        if p.char_ngrams:
            chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, p.char_ngram_max), min_df=p.min_df,
                                    sublinear_tf=True, dtype=np.float32, max_features=p.max_features)
            features = FeatureUnion([("words", words), ("chars", chars)])
        if p.classifier == "logreg":
            clf = LogisticRegression(C=p.C or 20.0, max_iter=p.max_iter, class_weight=p.class_weight,
                                     random_state=p.seed)
        else:
            svm = LinearSVC(C=p.C or 1.0, class_weight=p.class_weight, max_iter=p.max_iter, random_state=p.seed)
            clf = CalibratedClassifierCV(svm, cv=3, method="sigmoid")
        parts = [("text", features, "text")]
        for name, cats in (extra.categories.items() if extra else ()):  # each extra input one-hot, beside the n-grams
            parts.append((name, OneHotEncoder(categories=[cats], dtype=np.float32), [name]))
        columns = ColumnTransformer(parts)
        return Pipeline([("features", columns), ("clf", clf)])

    supports_smote = True
    blas_threads = 1  # lbfgs sums in BLAS: the same model on any machine or engine (and no slower here)

    def _inputs(self, X, extra: ExtraInputs | None):
        if extra is None:
            return X[["text"]]
        return pd.DataFrame({"text": X["text"].to_numpy(), **extra.clean(X, "this tfidf-linear model")})

    def _extra(self) -> ExtraInputs | None:
        transformers = self.pipeline_.named_steps["features"].named_transformers_
        columns = [c for c in self.features if c in transformers]
        return ExtraInputs({c: list(transformers[c].categories_[0]) for c in columns}) if columns else None

    def _fit(self, X, y, X_val=None, y_val=None):
        if self.params.classifier == "svm" and self.params.norm is None:
            log.warning("tfidf-linear: %s; norm='l2' or the logistic regression is much quicker", SVM_UNNORMALISED)
        try:
            return self._fit_pipeline(X, y)
        except ValueError as exc:
            if "empty vocabulary" not in str(exc):
                raise
            raise TextladderError(
                f"tfidf-linear: no word in the train texts matches its token pattern '{self.params.token_pattern}'"
                f"{f' at least {self.params.min_df} times' if self.params.min_df > 1 else ''}, so it has no "
                "features (texts of digits, one-letter words, punctuation or emoji only?). Keep one-character "
                f"words with {option('set', 'token_pattern=' + chr(39) + '(?u)' + chr(92) + 'b' + chr(92) + 'w+' + chr(92) + 'b' + chr(39))}, "
                f"add character n-grams with {option('set', 'char_ngrams=true')}, or use a rung that reads every "
                "token (fasttext, the sequence rungs)") from None

    def _fit_pipeline(self, X, y):
        extra = ExtraInputs.fit(X, self.features, "tfidf-linear")
        pipeline = self._pipeline(extra)
        inputs = self._inputs(X, extra)
        if not self.smote:
            self.pipeline_ = pipeline.fit(inputs, y)
            return self
        features = pipeline.named_steps["features"]
        Xs, ys = smote(features.fit_transform(inputs), y, seed=self.params.seed)
        pipeline.named_steps["clf"].fit(Xs, ys)
        self.report_ = {"smote_counts": np.bincount(ys).tolist()}
        self.pipeline_ = pipeline  # both steps fitted: the sampler is not part of prediction
        return self

    def _predict_proba(self, X) -> np.ndarray:
        return self.pipeline_.predict_proba(self._inputs(X, self._extra()))

    # -- explaining: exact, from the coefficients -------------------------------------------------------
    explanation = "linear"

    def _linear(self) -> tuple[np.ndarray, np.ndarray, str]:
        """``(W, b, units)``: one row of coefficients per class and the intercepts, such that a text's class
        scores are ``W @ x + b``. Logistic regression: its log-probabilities up to a constant per text (two
        classes: the log-odds split in halves). LinearSVC: the mean decision function of the calibrated folds
        (their sigmoid turns it into probabilities)."""
        clf = self.pipeline_.named_steps["clf"]
        if isinstance(clf, CalibratedClassifierCV):
            parts = [c.estimator for c in clf.calibrated_classifiers_]
            W = np.mean([m.coef_ for m in parts], axis=0)
            b = np.mean([np.atleast_1d(m.intercept_) for m in parts], axis=0)
            units = "LinearSVC decision function (before its sigmoid calibration)"
        else:
            W, b = clf.coef_, np.atleast_1d(clf.intercept_)
            units = "log-probability, up to a constant"
        if W.shape[0] == 1:  # two classes: one row of log-odds
            W, b = np.vstack([-W[0] / 2, W[0] / 2]), np.array([-b[0] / 2, b[0] / 2])
        return np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64), units

    def _vectorizers(self):
        """``[(kind, vectorizer, first column)]`` of the text features: "words", then "chars" when used."""
        text = self.pipeline_.named_steps["features"].named_transformers_["text"]
        found, start = [], 0
        for kind, vec in (text.transformer_list if isinstance(text, FeatureUnion) else [("words", text)]):
            found.append((kind, vec, start))
            start += len(vec.vocabulary_)
        return found

    def explain(self, text: str, label=None, samples: int = EXPLAIN_SAMPLES, features: dict | None = None):
        """Exact contributions: each feature's value times its coefficient (divided by the run's temperature
        when calibrated), shared among the words the feature spans. The weights, ``base`` (the intercept, the
        extra inputs, and any character n-gram no whole word holds) add up to the class's score (see
        :meth:`_linear`). ``samples`` is not used (nothing is sampled)."""
        frame = text_frame(self, text, features)
        x = self.pipeline_.named_steps["features"].transform(self._inputs(frame, self._extra())).tocsr()
        proba = self.predict_proba(frame)[0]
        k = chosen_class(self, proba, label)
        W, b, units = self._linear()
        scale = 1.0 / self.temperature_ if (self.calibration and "log-probability" in units) else 1.0
        vectorizers = self._vectorizers()
        words_vec = vectorizers[0][1]
        tokens = words_vec.build_tokenizer()(words_vec.build_preprocessor()(text))
        per_token = np.zeros((len(W), len(tokens)))
        base = b * scale
        named: dict[str, np.ndarray] = {}
        ends = {kind: start + len(vec.vocabulary_) for kind, vec, start in vectorizers}
        names = {kind: vec.get_feature_names_out() for kind, vec, _ in vectorizers}
        for col, value in zip(x.indices, x.data):
            c = W[:, col] * value * scale
            kind = next((kd for kd, _, start in vectorizers if start <= col < ends[kd]), None)
            if kind is None:  # an extra input's one-hot column
                name = self.pipeline_.named_steps["features"].get_feature_names_out()[col].split("__", 1)[-1]
                named[name] = c
                base = base + c
                continue
            start = next(st for kd, _, st in vectorizers if kd == kind)
            gram = names[kind][col - start]
            named[gram] = c
            if kind == "words":
                n = len(gram.split(" "))
                slots = [i + j for i in range(len(tokens) - n + 1) if " ".join(tokens[i:i + n]) == gram for j in range(n)]
            else:
                slots = [i for i, t in enumerate(tokens) if gram in f" {t} "]
            if slots:
                for i in slots:
                    per_token[:, i] += c / len(slots)
            else:
                base = base + c
        classes = [str(v) for v in self.classes_]
        largest = sorted(named.items(), key=lambda kv: -abs(kv[1][k]))[:15]
        return Explanation(text=text, label=classes[k], proba=dict(zip(classes, map(float, proba))),
                           tokens=list(tokens), weights=per_token[k].tolist(), method="linear", base=float(base[k]),
                           per_class={c: per_token[j].tolist() for j, c in enumerate(classes)},
                           features=[(g, float(v[k])) for g, v in largest],
                           note=f"exact: coefficient x feature value, in units of the {units}; the weights and "
                                "the base add up to the class's score")

    def class_words(self, vocabulary: list[str] | None = None, top: int = 10) -> dict[str, list[tuple[str, float]]]:
        """Each class's largest word coefficients (single words; relative to the mean over the classes),
        among ``vocabulary`` when given."""
        W, _, _ = self._linear()
        _, vec, start = self._vectorizers()[0]
        names = vec.get_feature_names_out()
        single = np.array([" " not in g for g in names])
        if vocabulary is not None:
            single &= np.isin(names, np.asarray(list(vocabulary), dtype=object))
        cols = np.flatnonzero(single)
        rel = W[:, start + cols] - W[:, start + cols].mean(axis=0, keepdims=True)
        return {str(c): [(str(names[cols[i]]), float(rel[j, i])) for i in np.argsort(-rel[j], kind="stable")[:top]]
                for j, c in enumerate(self.classes_)}

    def _save(self, folder: Path) -> None:
        sio = _skops()
        sio.dump(self.pipeline_, Path(folder) / MODEL_FILE)

    def _load(self, folder: Path) -> None:
        sio = _skops()
        path = Path(folder) / MODEL_FILE
        if not path.is_file():
            raise RunError(f"{path}: model file missing")
        try:
            untrusted = sio.get_untrusted_types(file=path)
        except Exception as exc:  # noqa: BLE001 - a damaged zip or schema
            raise RunError(f"{path}: not a readable skops file ({exc})") from None
        unexpected = sorted(set(untrusted) - TRUSTED)
        if unexpected:
            raise RunError(f"{path}: refusing to load: the file names types or functions this rung never writes "
                           f"({', '.join(unexpected)}); it may have been tampered with")
        self.pipeline_ = sio.load(path, trusted=sorted(set(untrusted)))


# The exact types a saved tfidf-linear pipeline holds beyond skops's own trusted defaults (scikit-learn
# estimators, numpy and scipy containers, builtins): the calibrated LinearSVC's internals. Nothing is
# trusted by prefix: skops calls any function named in a file, so one foreign name is refused outright.
TRUSTED = frozenset({"sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration",
                     "builtins.slice"})


def _skops():
    """``skops.io``, imported without torch. skops lists scikit-learn's estimators when it is imported, and the
    listing imports every scikit-learn package, among them the array-API shim for torch, which imports torch
    (about 1.2 s, on a path that has no use for it). While skops is imported, that one shim is a stub with no
    contents; it is removed afterwards, so a later real import of the shim works as before."""
    import sys
    import types

    name = "sklearn.externals.array_api_compat.torch"
    stub = None
    if name not in sys.modules and "torch" not in sys.modules:
        stub = types.ModuleType(name)
        stub.__path__ = []
        sys.modules[name] = stub
    try:
        import skops.io as sio
    finally:
        if stub is not None and sys.modules.get(name) is stub:
            del sys.modules[name]
    return sio
