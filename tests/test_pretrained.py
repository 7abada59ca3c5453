"""Pretrained encoders, offline: the packaged all-MiniLM-L6-v2 or any local Hugging Face folder;
static vectors distilled by model2vec for the sequence rungs; the ``contextual`` rung with its
on-disk embedding cache."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import make_rows, write_csv

from textladder.config import DataConfig, RunConfig
from textladder.errors import RunError, TextladderError
from textladder.runs import Run
from textladder.training import train


@pytest.fixture
def data(tmp_path):
    return write_csv(tmp_path / "small.csv", make_rows(300))


def cfg(data, model, **params) -> RunConfig:
    return RunConfig(model=model, params=params, data=DataConfig(path=str(data)))


def test_packaged_minilm_static_vectors_for_a_sequence_rung(data, tmp_path, model_cache):
    run = Run.open(train(cfg(data, "lstm", embeddings="minilm-static", hidden=16, head=[16], epochs=3, lr=0.01),
                         tmp_path / "runs"))
    report = run.metrics["model_report"]["embeddings"]
    assert report["source"] == "minilm-static" and report["found"] == report["vocab"]  # sub-words cover every word
    assert run.metrics["test"]["accuracy"] > 0.6
    assert list((model_cache / "static").iterdir())  # distilled once, cached
    model = run.load_model()
    words, vectors = model.word_vectors()
    assert vectors.shape[1] == 256  # model2vec's PCA size
    near = dict(zip(words, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)))
    assert near["gym"] @ near["weights"] > near["gym"] @ near["husband"]  # pretrained meaning, frozen


def test_any_local_encoder_folder_for_static_vectors_and_contextual(data, tmp_path, model_cache, tiny_encoder):
    run = Run.open(train(cfg(data, "gru", embeddings="minilm-static", encoder=str(tiny_encoder), hidden=8,
                             head=[], epochs=1), tmp_path / "a"))
    assert run.load_model().meta_["embedding_dim"] == 32  # the tiny encoder's width (below PCA's 256)
    run = Run.open(train(cfg(data, "contextual", encoder=str(tiny_encoder), epochs=2), tmp_path / "b"))
    meta = json.loads((run.path / "model" / "model.json").read_text())
    assert meta["encoder"] == str(tiny_encoder) and meta["in_dim"] == 32


def test_contextual_caches_embeddings_reloads_and_predicts_the_same(data, tmp_path, model_cache, monkeypatch):
    run = Run.open(train(cfg(data, "contextual", epochs=5), tmp_path / "runs"))
    assert run.metrics["test"]["accuracy"] > 0.8
    assert json.loads((run.path / "model" / "model.json").read_text())["encoder"] == "minilm"

    from sentence_transformers import SentenceTransformer

    def refuse(*a, **k):
        raise AssertionError("the encoder ran although every text is cached")

    monkeypatch.setattr(SentenceTransformer, "encode", refuse)
    again = Run.open(train(cfg(data, "contextual", epochs=5), tmp_path / "runs2"))  # second run: cache only
    assert again.metrics["test"] == run.metrics["test"]
    saved = pd.read_csv(run.path / "test_predictions.csv")
    texts = pd.read_csv(data, dtype=str).set_index("hmid").loc[saved["id"].astype(str), "cleaned_hm"]
    proba = run.load_model().predict_proba(pd.DataFrame({"text": texts.to_numpy()}))
    np.testing.assert_allclose(proba, saved[[c for c in saved.columns if c.startswith("proba_")]].to_numpy(),
                               atol=1e-5)
    with pytest.raises(AssertionError, match="encoder ran"):  # a new text does need the encoder
        run.load_model().predict_proba(pd.DataFrame({"text": ["a text never seen before"]}))


def test_a_changed_encoder_folder_is_refused_at_load(data, tmp_path, model_cache, tiny_encoder):
    enc = tmp_path / "enc"
    shutil.copytree(tiny_encoder, enc)
    run = Run.open(train(cfg(data, "contextual", encoder=str(enc), epochs=1), tmp_path / "runs"))
    (enc / "config.json").write_text((enc / "config.json").read_text().replace("\n", "\n "))
    with pytest.raises(RunError, match="files differ from the one the run was trained with"):
        run.load_model().predict_proba(pd.DataFrame({"text": ["hello"]}))


@pytest.mark.parametrize("make,problem", [
    (lambda p: None, "no such encoder folder"),
    (lambda p: p.mkdir(), "no config.json"),
    (lambda p: (p.mkdir(), (p / "config.json").write_text("{}"), (p / "pytorch_model.bin").write_bytes(b"x")),
     "pytorch_model.bin is pickled and is never loaded"),
])
def test_bad_encoder_folders_are_clear_errors(data, tmp_path, make, problem):
    path = tmp_path / "encoder"
    make(path)
    with pytest.raises(TextladderError, match=problem):
        train(cfg(data, "contextual", encoder=str(path), epochs=1), tmp_path / "runs")


def test_the_encoder_loads_once_per_process(data, tmp_path, model_cache, tiny_encoder, monkeypatch):
    """Loading a contextual run again (evaluate, then predict, then serve in one process) reuses the
    encoder: sentence-transformers builds it, and prints its load report, once."""
    import sentence_transformers

    from textladder.models import contextual

    run = Run.open(train(cfg(data, "contextual", encoder=str(tiny_encoder), epochs=1), tmp_path / "runs"))
    built = []
    real = sentence_transformers.SentenceTransformer
    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", lambda *a, **k: built.append(a) or real(*a, **k))
    monkeypatch.setattr(contextual, "_ENCODERS", {})
    texts = pd.DataFrame({"text": ["three new texts", "never cached before", "so the encoder runs"]})
    first = run.load_model().predict_proba(texts)
    for _ in range(2):
        np.testing.assert_allclose(run.load_model().predict_proba(texts), first, atol=1e-6)
    assert len(built) == 1
