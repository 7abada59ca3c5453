"""The model contract across the whole registry, scikit-learn compatibility, and the Python API (issue 14)."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_rows, write_csv
from sklearn.base import clone

import textladder
from textladder.errors import TextladderError
from textladder.models import TrainingContext, get, load_folder, names
from textladder.runs import Run

WORDS = {"pets": ["my dog", "the cat", "a puppy", "fed the fish"], "sport": ["the gym", "ran far", "a swim", "yoga"],
         "work": ["got promoted", "a raise", "my boss", "the project"]}


def tiny(n: int = 90, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        label = list(WORDS)[i % 3]
        texts.append(f"today {rng.choice(WORDS[label])} and {rng.choice(WORDS[label])}")
        labels.append(label)
    return texts, labels


QUICK = {"tfidf-linear": {"min_df": 1}, "fasttext": {"epochs": 20, "min_count": 1}}


def quick_params(name: str, tiny_encoder: Path) -> dict:
    params = dict(QUICK.get(name, {"epochs": 2, "lr": 0.01}))
    if "min_count" in get(name).Params.model_fields:
        params["min_count"] = 1
    if "encoder" in get(name).Params.model_fields:
        params["encoder"] = str(tiny_encoder)
    return params


RUNGS = [n for n in names() if n != "ensemble"]


@pytest.mark.parametrize("name", RUNGS)
def test_every_registered_rung_keeps_the_contract(name, tmp_path, tiny_encoder, model_cache):
    cls = get(name)
    params = quick_params(name, tiny_encoder)
    model = textladder.build_model(name, **params)
    # scikit-learn's clone and get_params round trip
    again = clone(model)
    assert again.get_params() == model.get_params() and type(again) is cls
    assert model.set_params(seed=7).get_params()["seed"] == 7 and model.params.seed == 7
    with pytest.raises(TextladderError, match="bad parameters"):
        model.set_params(not_a_parameter=1)
    # unsupported SMOTE is refused at construction, with the reason
    if not cls.supports_smote:
        with pytest.raises(TextladderError, match="smote"):
            cls(**params, smote=True)
    texts, labels = tiny()
    work = tmp_path / "work"
    model = cls(**params).fit(texts[:60], labels[:60], texts[60:], labels[60:],
                              context=TrainingContext(work_dir=work if cls.checkpointed else None))
    assert model.classes_.tolist() == ["pets", "sport", "work"]
    proba = model.predict_proba(texts)
    assert proba.shape == (90, 3) and np.allclose(proba.sum(axis=1), 1, atol=1e-4)
    assert set(model.predict(texts).tolist()) <= {"pets", "sport", "work"}
    assert 0 <= model.score(texts, labels) <= 1
    if cls.checkpointed:
        assert model.history_ and (work / "last.ckpt").is_file()
    # the saved folder describes itself: it loads back with no other information, predicting the same
    model.save(tmp_path / "model")
    info = json.loads((tmp_path / "model" / "rung.json").read_text())
    assert info["rung"] == name and info["classes"] == ["pets", "sport", "work"]
    back = load_folder(tmp_path / "model")
    assert np.allclose(back.predict_proba(texts), proba, atol=1e-5)
    assert back.predict(["today my dog"]).tolist() == model.predict(["today my dog"]).tolist()
    # declared capabilities hold
    if cls.has_word_vectors:
        words, vectors = back.word_vectors()
        assert len(words) == len(vectors) > 0
    # every rung explains, by the method it declares, consistently with its own output
    e = back.explain("today my dog walked", samples=40)
    p = back.predict_proba(["today my dog walked"])[0]
    assert e.method == cls.explanation and e.label == back.classes_[p.argmax()] and len(e.tokens) == len(e.weights)
    assert e.proba[e.label] == pytest.approx(p.max(), abs=1e-5)
    if cls.explanation == "attention":
        assert abs(sum(e.weights) - 1) < 1e-3
    elif cls.explanation == "shap":  # SHAP's values add up to the probability minus the all-masked one
        assert sum(e.weights) + e.base == pytest.approx(p.max(), abs=1e-3)
    else:
        assert "dog" in e.tokens and cls.explanation == "linear"


def test_a_rung_without_extra_inputs_refuses_them(tmp_path):
    from textladder.models.linear import TfidfLinear

    class NoExtras(TfidfLinear):  # not registered: the registry stays as it was for the other tests
        name = "no-extras"
        supports_features = False

    with pytest.raises(TextladderError, match="takes no extra inputs beside the text"):
        NoExtras(features=["period"])


def test_neural_rungs_hold_out_a_validation_slice_when_given_none(caplog):
    caplog.set_level("INFO", logger="textladder")
    texts, labels = tiny()
    model = textladder.build_model("cnn", epochs=2, min_count=1, filters=4).fit(texts, labels)
    assert "no validation rows given; holding out 9 of 90 train rows" in caplog.text
    assert model.history_ and model.predict(texts[:3]).shape == (3,)


@pytest.mark.parametrize("name, params, grid", [
    ("tfidf-linear", {"min_df": 1}, {"C": [0.5, 5.0]}),
    ("fasttext", {"epochs": 10}, {"lr": [0.1, 0.5]}),
    ("cnn", {"epochs": 8, "min_count": 1, "filters": 8, "lr": 0.02}, {"dropout": [0.0, 0.3]}),
])
def test_scikit_learn_tools_work_on_rungs(name, params, grid):
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    texts, labels = tiny(120)
    model = textladder.build_model(name, **params)
    scores = cross_val_score(model, texts, labels, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.6, scores
    lower = FunctionTransformer(lambda x: [t.lower() for t in x])
    pipe = make_pipeline(lower, clone(model)).fit([t.upper() for t in texts], labels)
    assert pipe.predict(["TODAY MY DOG AND THE CAT"]).tolist() == ["pets"]
    search = GridSearchCV(model, grid, cv=2).fit(texts, labels)
    assert set(search.best_params_) == set(grid) and search.best_estimator_.classes_.tolist() == sorted(WORDS)


def test_fit_takes_lists_series_frames_and_any_labels():
    texts, labels = tiny()
    ints = [sorted(WORDS).index(x) for x in labels]
    for X, y in ((texts, labels), (pd.Series(texts), pd.Series(labels)), (pd.DataFrame({"text": texts}), np.array(ints))):
        m = textladder.build_model("tfidf-linear", min_df=1).fit(X, y)
        assert m.predict(["today my dog"])[0] in ("pets", 0)
    with pytest.raises(TextladderError, match="not one string"):
        m.predict("today my dog")
    with pytest.raises(TextladderError, match="90 texts but 3 labels"):
        m.fit(texts, labels[:3])


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("api")
    return write_csv(root / "small.csv", make_rows(150)), root / "runs"


def test_train_load_and_predict_labels_from_python(runs):
    data, out = runs
    run = textladder.train(data, model="tfidf-linear", out=out, min_df=1, name="t")
    assert isinstance(run, Run) and run.metrics["test"]["accuracy"] > 0.9
    for path in (run.path, run.path / "model"):
        model = textladder.load(path)
        assert model.predict(["went to the gym and ran five miles"]).tolist() == ["exercise"]
        assert model.classes_.tolist() == run.classes
    other = textladder.train(data, model="fasttext", out=out, epochs=10, name="f")
    from textladder.ensembles import build

    ens = build([run, other], runs_dir=out, name="e")
    assert textladder.load(ens).predict(["hugged my son"]).tolist() == ["affection"]
    with pytest.raises(TextladderError, match="neither a run folder"):
        textladder.load(out)


def test_climb_returns_the_leaderboard(runs, tmp_path):
    data, _ = runs
    ladder = tmp_path / "l.toml"
    ladder.write_text('[[rung]]\nmodel = "tfidf-linear"\nset = { min_df = 1 }\n[[rung]]\nmodel = "fasttext"\n'
                      'set = { epochs = 5 }\n[ensemble]\nvote = ["soft"]\nselect = "all"\n')
    board = textladder.climb(data, config=ladder, out=tmp_path / "runs", report=False)
    assert len(board) == 3 and set(board["model"]) == {"tfidf-linear", "fasttext", "ensemble"}
    assert board.attrs["failed"] == []


def test_runs_written_before_model_folders_described_themselves_still_load(runs, tmp_path):
    data, out = runs
    a = textladder.train(data, model="tfidf-linear", out=tmp_path / "r", min_df=1)
    b = textladder.train(data, model="fasttext", out=tmp_path / "r", epochs=5)
    from textladder.ensembles import build

    ens = Run.open(build([a, b], runs_dir=tmp_path / "r"))
    old = ens.load_model(calibrated=False)  # old runs had no temperatures
    for m in old.members_:
        m.calibration = False
    expected = old.predict_proba(["hugged my son"])
    # the old layout: no rung.json, no checksums, no calibration; members as run-folder copies
    for run in (a, ens):
        (run.path / "model" / "rung.json").unlink()
        (run.path / "model" / "checksums.json").unlink()
        metrics = json.loads((run.path / "metrics.json").read_text())
        del metrics["calibration"]
        (run.path / "metrics.json").write_text(json.dumps(metrics))
    members = ens.path / "model" / "members"
    for m in (a, b):
        folder = members / m.name
        shutil.rmtree(folder)
        folder.mkdir()
        shutil.copy(m.path / "config.json", folder / "config.json")
        shutil.copy(m.path / "labels.json", folder / "labels.json")
        shutil.copytree(m.path / "model", folder / "model")
    assert textladder.load(a.path).predict(["went to the gym"]).tolist() == ["exercise"]
    assert np.allclose(textladder.load(ens.path).predict_proba(["hugged my son"]), expected)


def test_a_rung_in_another_package_is_found_trained_and_climbed(runs, tmp_path, monkeypatch):
    """A third-party rung: one module with @register, announced by an installed package's entry point."""
    data, _ = runs
    site = tmp_path / "site"
    (site / "my_rungs").mkdir(parents=True)
    (site / "my_rungs" / "__init__.py").write_text(textwrap.dedent('''
        import numpy as np
        from textladder.models import register
        from textladder.models.linear import TfidfLinear, TfidfLinearParams


        class ShoutParams(TfidfLinearParams):
            shout: bool = True


        @register("shouting-tfidf")
        class Shouting(TfidfLinear):
            """tfidf-linear on upper-cased texts."""

            Params = ShoutParams

            def _fit(self, X, y, X_val=None, y_val=None):
                return super()._fit(X.assign(text=X["text"].str.upper()), y)

            def _predict_proba(self, X):
                return super()._predict_proba(X.assign(text=X["text"].str.upper()))
    '''))
    dist = site / "my_rungs-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-rungs\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[textladder.rungs]\nshouting-tfidf = my_rungs\n")
    monkeypatch.syspath_prepend(str(site))
    from textladder.models import registry

    monkeypatch.setattr(registry, "_discovered", False)
    assert "shouting-tfidf" in names()
    from typer.testing import CliRunner

    from textladder.cli import app

    listed = CliRunner().invoke(app, ["models"])
    assert "shouting-tfidf" in listed.stdout
    run = textladder.train(data, model="shouting-tfidf", out=tmp_path / "runs", min_df=1)
    assert run.config.params["shout"] is True and run.metrics["test"]["accuracy"] > 0.9
    ladder = tmp_path / "l.toml"
    ladder.write_text('[[rung]]\nmodel = "shouting-tfidf"\nset = { min_df = 1 }\n')
    board = textladder.climb(data, config=ladder, out=tmp_path / "runs", report=False)
    assert board["model"].tolist() == ["shouting-tfidf"]  # read back: the same run
    sys.modules.pop("my_rungs", None)
    registry._REGISTRY.pop("shouting-tfidf", None)
    registry._LAZY.pop("shouting-tfidf", None)


def test_library_errors_name_options_as_python_does_and_the_cli_as_flags(tmp_path):
    rows = [{"id": str(i), "text": f"text {i}", "label": "ab"[i % 2]} for i in range(60)]
    rows.append({"id": "60", "text": "lonely", "label": "c"})
    data = write_csv(tmp_path / "d.csv", rows)
    with pytest.raises(TextladderError) as caught:
        textladder.train(data, out=tmp_path / "runs", min_df=1)
    assert "min_class_rows=3" in str(caught.value) and "--" not in str(caught.value)
    from typer.testing import CliRunner

    from textladder.cli import app

    result = CliRunner().invoke(app, ["train", str(data), "--out", str(tmp_path / "runs"), "--set", "min_df=1"])
    assert result.exit_code == 1 and "--min-class-rows 3" in result.stderr and "min_class_rows" not in result.stderr


def test_no_library_error_message_spells_a_command_line_flag():
    """Messages raised outside the CLI module name options with errors.option()/flag(), never '--flag'."""
    import ast
    import re

    root = Path(textladder.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if path.name == "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                texts = [n.value for n in ast.walk(node.exc) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
                offenders += [f"{path.name}:{node.lineno}" for t in texts if re.search(r"(^|\s)--[a-z]", t)]
    assert offenders == []


def test_a_config_written_with_trainer_settings_among_the_parameters_still_reads(tmp_path):
    from textladder.config import RunConfig, resolve

    old = {"model": "lstm", "params": {"epochs": 2, "accelerator": "cpu", "devices": 2, "strategy": "ddp"},
           "data": {"path": "d.csv"}, "balance": "none"}
    config = RunConfig.model_validate(old)
    assert "accelerator" not in config.params and config.trainer.devices == 2 and config.trainer.strategy == "ddp"
    _, effective = resolve(config)
    two = RunConfig(model="lstm", params={"epochs": 2}, data={"path": "d.csv"})
    assert resolve(two)[1].params == effective.params  # the same run, whatever it trained on


def test_class_weight_spellings_are_one_setting():
    from textladder.config import RunConfig, resolve

    a = resolve(RunConfig(model="tfidf-linear", params={"class_weight": "balanced"}, data={"path": "d.csv"}))[1]
    b = resolve(RunConfig(model="tfidf-linear", balance="class-weight", data={"path": "d.csv"}))[1]
    assert (a.balance, a.params) == (b.balance, b.params) == ("class-weight", b.params)


def test_search_and_cross_validation_from_python(tmp_path):
    data = write_csv(tmp_path / "d.csv", make_rows(150))
    result = textladder.search(data, model="tfidf-linear", out=tmp_path / "runs", trials=2, refit=True, max_iter=300)
    assert result.final.trained_on == "train+val" and result.run.config.params["max_iter"] == 300  # fixed, not searched
    run = textladder.train(data, model="tfidf-linear", out=tmp_path / "runs", cv=3, min_df=1)
    assert run.trained_on == "cv3" and (run.path / "oof_predictions.csv").is_file()
    with pytest.raises(TextladderError, match="a budget is a time"):
        textladder.search(data, budget="soon")


def test_a_dataframe_is_data_as_a_file_is(tmp_path):
    rows = make_rows(150)
    data = write_csv(tmp_path / "d.csv", rows)
    frame = pd.DataFrame(rows)
    out = tmp_path / "runs"
    from_file = textladder.train(data, model="tfidf-linear", out=out, min_df=1)
    from_frame = textladder.train(frame.sample(frac=1.0, random_state=0).sort_values("hmid"), model="tfidf-linear",
                                  out=out, min_df=1)
    assert from_frame.split_ids == from_file.split_ids
    assert from_frame.metrics["test"] == from_file.metrics["test"]
    saved = Path(from_frame.config.data.path)
    assert saved.parent == out / "data"
    assert pd.read_csv(saved)["cleaned_hm"].tolist() == frame["cleaned_hm"].tolist()
    # the same rows again are the same file, so a ladder reads its rung back instead of training it again
    board = textladder.climb(frame.set_index("hmid"), config=_one_rung(tmp_path), out=out, report=False)
    assert from_frame.name in board["run"].tolist() and [p.name for p in (out / "data").iterdir()] == [saved.name]
    # without an id column, rows are numbered in order, and a problem names the saved file and the row
    broken = frame.drop(columns="hmid").assign(predicted_category=lambda f: f["predicted_category"].where(f.index != 4))
    with pytest.raises(TextladderError, match=r"data/frame-[0-9a-f]{16}\.csv: row 5: .*label"):
        textladder.train(broken, out=out, text_col="cleaned_hm", label_col="predicted_category", max_drop=0)
    with pytest.raises(TextladderError, match="column names must be text, not 0"):
        textladder.train(pd.DataFrame({0: ["a"], "label": ["b"]}), out=out)
    with pytest.raises(TextladderError, match="a file path or a pandas DataFrame, not list"):
        textladder.train(["my dog"], out=out)
    with pytest.raises(TextladderError, match="column 'tags' holds lists or dicts"):
        textladder.train(pd.DataFrame({"text": ["a", "b"], "label": ["x", "y"], "tags": ["t", ["u", "v"]]}), out=out)
    assert not list((out / "data").glob(".tmp-*"))


def _one_rung(folder: Path) -> Path:
    ladder = folder / "one.toml"
    ladder.write_text('[[rung]]\nmodel = "tfidf-linear"\nset = { min_df = 1 }\n[ensemble]\nvote = []\n')
    return ladder


def test_the_api_ranks_combines_evaluates_predicts_and_reports_as_the_commands_do(tmp_path):
    from typer.testing import CliRunner

    from textladder.cli import app

    data = write_csv(tmp_path / "d.csv", make_rows(150, noise=0.2))
    out = tmp_path / "runs"
    linear = textladder.train(data, model="tfidf-linear", out=out, min_df=1)
    fast = textladder.train(data, model="fasttext", out=out, epochs=5)
    board = textladder.leaderboard(out)
    assert board["run"].tolist() == [r["run"] for r in json.loads(
        CliRunner().invoke(app, ["runs", str(out), "--json"]).stdout)]
    assert board["val_macro_f1"].is_monotonic_decreasing
    stacked = textladder.ensemble(out, vote="stack", select="top-2", out=out)
    assert stacked.config.model == "ensemble" and set(stacked.config.params["members"]) == {
        linear.name, fast.name}
    with pytest.raises(TextladderError, match="weights gives one weight per run in order; it cannot be combined with select"):
        textladder.ensemble([linear, fast], weights=[1, 2], select="top-2", out=out)
    # evaluate: the run's test split by default, or the labelled rows of a DataFrame (unlabelled ones counted)
    scored = textladder.evaluate(stacked, target_accuracy=0.9)
    assert scored["accuracy"] == pytest.approx(stacked.metrics["test"]["accuracy"]) and "selective" in scored
    frame = pd.read_csv(data, dtype=str, keep_default_na=False)
    frame.loc[:9, "predicted_category"] = ""
    on_frame = textladder.evaluate(linear, frame, out=tmp_path / "eval")
    assert on_frame["n"] == 140 and on_frame["skipped_unlabelled"] == 10 and (tmp_path / "eval" / "metrics.json").is_file()
    # predict: a list of texts, a DataFrame, or a file written in chunks
    said = textladder.predict(linear, ["went to the gym and ran five miles", "hugged my son"], min_confidence=0.99)
    model = textladder.load(linear.path)
    sure = model.predict_proba(["went to the gym and ran five miles", "hugged my son"]).max(axis=1) >= 0.99
    assert said["id"].tolist() == ["1", "2"] and said.attrs["withheld"] == int((~sure).sum())
    assert said["predicted"].tolist() == [p if s else "uncertain" for p, s in zip(
        model.predict(["went to the gym and ran five miles", "hugged my son"]), sure)]
    written = textladder.predict(linear, frame, output=tmp_path / "p.csv")
    assert written == tmp_path / "p.csv" and len(pd.read_csv(written)) == 150
    with pytest.raises(TextladderError, match="a list of texts, not int"):
        textladder.predict(linear, 3)
    page = textladder.report(out)
    assert page == out / "report.html" and stacked.name in page.read_text()


def test_no_module_of_the_package_shadows_a_function_of_the_api():
    import importlib
    import pkgutil

    from textladder import api

    for found in pkgutil.iter_modules(textladder.__path__):
        importlib.import_module(f"textladder.{found.name}")  # importing a submodule sets textladder.<its name>
    for name in textladder.__all__:
        if callable(getattr(api, name, None)):
            assert getattr(textladder, name) is getattr(api, name), name


def test_explore_from_python_summarises_a_dataframe(tmp_path):
    frame = pd.DataFrame(make_rows(150))
    summary = textladder.explore(frame, out=tmp_path / "explore", text_col="cleaned_hm",
                                 label_col="predicted_category", test_size=30)
    assert summary["classes"] == frame["predicted_category"].value_counts().to_dict()
    assert summary["split"]["test"] == 30 and (tmp_path / "explore" / "class_distribution_pie.png").is_file()
    with pytest.raises(TextladderError, match="explore\\(\\) takes data and split options only, not epochs"):
        textladder.explore(frame, out=tmp_path / "e2", epochs=3)
