"""The auto ladder on any data (issue 26): it plans from the data and the budget, considers the pretrained
rungs, and keeps its budget on long texts (with a given split): no epoch starts that would end past it."""

from __future__ import annotations

import random
import time

import pytest
from conftest import WORDS

from textladder.auto import AutoPlan, AutoRung, DataProfile, climb_auto, plan_rungs
from textladder.config import DataConfig
from textladder.api import build_model as build
from textladder.models import TrainingContext


def long_rows(n: int, words: int, seed: int = 0) -> list[dict]:
    """``n`` texts of about ``words`` words: filler with a few words of their class."""
    rng = random.Random(seed)
    filler = "the a of and to in that it was for on with as at by this had from".split()
    rows = []
    for i in range(n):
        label = list(WORDS)[i % 3]
        body = [rng.choice(filler) for _ in range(words)]
        for k in range(0, words, 25):
            body.insert(k, rng.choice(WORDS[label]))
        rows.append({"text": " ".join(body), "label": label})
    return rows


@pytest.fixture(scope="module")
def long_csv(tmp_path_factory):
    import pandas as pd

    path = tmp_path_factory.mktemp("long") / "long.csv"
    frame = pd.DataFrame(long_rows(240, 400))
    frame.assign(part=["test" if i % 6 == 0 else "train" for i in range(len(frame))]).to_csv(path, index=False)
    return path


def test_the_plan_follows_the_data_and_the_budget():
    plan = AutoPlan()
    short, _ = plan_rungs(plan, DataProfile(train_rows=8000, words=19, classes=5), 1000)
    chosen = {r.model: r for r, _ in short}
    assert set(chosen) == {"tfidf-linear", "fasttext", "contextual", "attention", "transformer"}
    assert [r.model for r, _ in short][-1] == "transformer"  # fine-tuning comes after the probe that gates it
    assert chosen["transformer"].fixed["epochs"] == 3 and "truncation" not in chosen["transformer"].fixed
    long, _ = plan_rungs(plan, DataProfile(train_rows=3000, words=250, classes=23), 1000)
    tuned = {r.model: r for r, _ in long}["transformer"]
    assert tuned.fixed["truncation"] == "head+tail" and tuned.fixed["epochs"] == 1
    # HappyDB's 46k rows in an 8-minute budget: neither pretrained rung fits, and each says why
    big, left_out = plan_rungs(plan, DataProfile(train_rows=46000, words=21, classes=7), 0.6 * 480)
    assert {r.model for r, _ in big} == {"tfidf-linear", "fasttext", "attention"}
    assert "one fine-tuning epoch takes about" in left_out["transformer"]
    assert "one epoch takes about" in left_out["contextual"]


def test_an_epoch_that_would_end_past_the_deadline_is_not_started():
    texts = [r["text"] for r in long_rows(90, 60)]
    labels = [r["label"] for r in long_rows(90, 60)]
    model = build("attention", epochs=30, patience=30, hidden=8)
    model.fit(texts, labels, texts[:30], labels[:30], context=TrainingContext(deadline=time.time() + 0.01))
    assert len(model.history_) == 1 and model.report_["epochs_run"] == 1
    free = build("attention", epochs=3, patience=30, hidden=8).fit(texts, labels, texts[:30], labels[:30])
    assert len(free.history_) == 3


def test_the_auto_ladder_keeps_its_budget_on_long_texts(long_csv, tmp_path):
    plan = AutoPlan(rungs=[AutoRung("tfidf-linear", 1.0, {"min_df": 1}),
                           AutoRung("attention", 1.0, {"epochs": 200, "patience": 200, "seq_len": 512}, first_trials=1)],
                    cv=3)
    budget = 45.0
    result = climb_auto(DataConfig(path=str(long_csv), split_col="part"), tmp_path, budget=budget, plan=plan,
                        report=False)
    assert result.seconds <= 1.1 * budget
    assert "tfidf-linear" in result.searched and result.best is not None
    given_test = [str(i + 2) for i in range(240) if i % 6 == 0]  # rows are numbered by line: the header is 1
    for run in result.runs + result.ensembles:  # the given split, honoured by every run it made
        assert run.config.split.method == "given" and run.split_ids["test"] == given_test
    attention = result.searched.get("attention")
    if attention is not None:  # it trained: stopped by the deadline long before its 200 epochs
        assert attention.metrics["model_report"]["epochs_run"] < 200
