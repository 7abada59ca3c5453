"""The neural rungs' thread count and OpenMP's waiting: chosen from what this process may use."""

from __future__ import annotations

import os
import subprocess
import sys

from textladder.engine import available_cpus
from textladder.threads import thread_count


def test_thread_count_follows_the_option_then_the_environment_then_the_cpus(monkeypatch):
    monkeypatch.delenv("TEXTLADDER_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert thread_count() == available_cpus() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what Ray gives a one-CPU task
    assert thread_count() == 1
    monkeypatch.setenv("TEXTLADDER_THREADS", "3")
    assert thread_count() == 3 and thread_count(5) == 5


def test_affinity_limits_the_cpus_in_a_fresh_process_and_a_rung_caps_them():
    code = ("import os; os.sched_setaffinity(0, {0}); import textladder, torch;"
            "from textladder.threads import apply; print(apply(), apply(cap=4))")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "TEXTLADDER_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out == ["1", "1"]


def test_a_sequence_rung_trains_with_its_one_thread_and_an_encoder_with_every_cpu(monkeypatch):
    import torch

    from textladder.models import build, get

    monkeypatch.delenv("TEXTLADDER_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert get("attention").max_threads == 1 and get("transformer").max_threads is None
    texts, labels = ["my dog", "the gym", "a dog", "gym day"] * 6, ["pets", "sport"] * 12
    before = torch.get_num_threads()
    try:
        build("gru", {"epochs": 1, "min_count": 1}).fit(texts, labels)
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("TEXTLADDER_THREADS", "2")
        build("gru", {"epochs": 1, "min_count": 1}).fit(texts, labels)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_the_threads_option_reaches_the_environment(monkeypatch):
    from typer.testing import CliRunner

    from textladder.cli import app

    monkeypatch.delenv("TEXTLADDER_THREADS", raising=False)
    result = CliRunner().invoke(app, ["--threads", "1", "models"])
    assert result.exit_code == 0 and os.environ.pop("TEXTLADDER_THREADS") == "1"



def test_the_linear_rung_learns_the_same_model_whatever_the_blas_threads(hm_train):
    """A Ray task gets one BLAS thread, this process two: lbfgs's sums must not depend on it. They did: on
    these 5,000 HappyDB rows the probabilities were up to 0.009 apart (one test row of 600 flipped on the
    6,000-row quick ladder), which synthetic rows are too small to show."""
    import numpy as np
    import pandas as pd
    from threadpoolctl import threadpool_limits

    import textladder

    frame = pd.read_csv(hm_train, nrows=6000)
    texts, labels = frame["cleaned_hm"].tolist(), frame["predicted_category"].tolist()
    probas = []
    for threads in (1, 2):
        with threadpool_limits(threads, user_api="blas"):
            model = textladder.build_model("tfidf-linear").fit(texts[:5000], labels[:5000])
        probas.append(model.predict_proba(texts[5000:]))
    assert np.array_equal(probas[0], probas[1])
