"""ONNX export: fp32 parity with PyTorch, int8, runtime choice, and the rungs that cannot be exported."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import make_rows, write_csv
from typer.testing import CliRunner

from textladder.cli import app
from textladder.config import DataConfig, RunConfig
from textladder.runs import Run
from textladder.training import train

runner = CliRunner()

TEXTS = pd.DataFrame({"text": [
    "went to the gym", "today I hugged my son and my daughter smiled and we went out for a long walk together",
    "passed", "got promoted at work after finishing my project, and then I lifted weights with a friend",
    "a long swim in the lake"] * 7})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp("export") / "small.csv", make_rows(300))


def _run(data, tmp_path, model, **params) -> Run:
    config = RunConfig(model=model, params={"epochs": 2, **params}, data=DataConfig(path=str(data)))
    return Run.open(train(config, tmp_path / "runs"))


def _proba(run: Run, runtime: str, monkeypatch) -> np.ndarray:
    model = run.load_model(runtime)
    assert (getattr(model, "onnx_", None) is None) == (runtime == "torch")
    return model.predict_proba(TEXTS)


def test_transformer_onnx_matches_pytorch_and_int8_is_close(data, tmp_path, tiny_encoder, monkeypatch):
    run = _run(data, tmp_path, "transformer", encoder=str(tiny_encoder), batch_size=16, lr=2e-3,
               accelerator="cpu")
    result = runner.invoke(app, ["export", str(run.path), "--onnx", "--int8"])
    assert result.exit_code == 0, result.output
    assert (run.path / "model" / "onnx" / "model.onnx").is_file()
    assert (run.path / "model" / "onnx" / "model.int8.onnx").is_file()
    torch_p = _proba(run, "torch", monkeypatch)
    fp32 = _proba(run, "onnx", monkeypatch)
    assert np.abs(fp32 - torch_p).max() < 1e-4  # texts of many lengths, batched and padded together
    int8 = _proba(run, "onnx-int8", monkeypatch)
    assert (int8.argmax(1) == torch_p.argmax(1)).mean() >= 0.9
    assert json.loads((run.path / "model" / "model.json").read_text())["onnx_inputs"] == ["ids", "lengths"]
    # by default a run with an int8 file uses it, and evaluate works through it
    assert run.load_model().onnx_path_.name == "model.int8.onnx"
    ev = runner.invoke(app, ["evaluate", str(run.path), "--json"])
    assert ev.exit_code == 0, ev.output
    # the CLI takes its default from the environment; a wrong value is one clear error
    monkeypatch.setenv("TEXTLADDER_RUNTIME", "torch")
    assert runner.invoke(app, ["evaluate", str(run.path), "--json"]).exit_code == 0
    monkeypatch.setenv("TEXTLADDER_RUNTIME", "tpu")
    bad = runner.invoke(app, ["evaluate", str(run.path)])
    assert bad.exit_code == 1 and "TEXTLADDER_RUNTIME must be one of auto, torch, onnx, onnx-int8" in bad.stderr


@pytest.mark.parametrize("model, params", [("cnn", {}), ("attention", {}), ("lstm", {}),
                                           ("bilstm2", {}), ("bigru", {"pool": "max"})])
def test_sequence_rungs_export_with_the_period_input(data, tmp_path, model, params, monkeypatch):
    """Recurrent rungs read packed sequences, which do not export; their export path (each row
    reversed within its length for the backward direction) must give the same probabilities."""
    config = RunConfig(model=model, params={"epochs": 2, **params}, features=["period"],
                       data=DataConfig(path=str(data)))
    run = Run.open(train(config, tmp_path / "runs"))
    assert runner.invoke(app, ["export", str(run.path), "--onnx"]).exit_code == 0
    X = TEXTS.assign(period=["24h", "3m", "24h", "3m", "unknown"] * 7)
    torch_p = run.load_model(runtime="torch").predict_proba(X)
    assert np.abs(run.load_model(runtime="onnx").predict_proba(X) - torch_p).max() < 1e-4


def test_what_cannot_be_exported_says_so(data, tmp_path):
    tfidf = Run.open(train(RunConfig(model="tfidf-linear", params={"min_df": 1}, data=DataConfig(path=str(data))),
                           tmp_path / "runs"))
    result = runner.invoke(app, ["export", str(tfidf.path), "--onnx"])
    assert result.exit_code == 1 and "not a neural rung" in result.output
    assert runner.invoke(app, ["export", str(tfidf.path)]).exit_code == 1


def test_a_failed_export_leaves_nothing_behind(data, tmp_path, monkeypatch):
    import torch

    run = _run(data, tmp_path, "cnn")

    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operator aten::imaginary\nmore detail")

    monkeypatch.setattr(torch.onnx, "export", broken)
    result = runner.invoke(app, ["export", str(run.path), "--onnx"])
    assert result.exit_code == 1
    assert "model 'cnn' cannot be exported to ONNX (unsupported operator aten::imaginary)" in result.output
    assert not (run.path / "model" / "onnx").exists()
    assert "onnx_inputs" not in json.loads((run.path / "model" / "model.json").read_text())


def test_export_warnings_are_summarised_once_each_with_a_count():
    import warnings

    from textladder.export import _summarise

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            warnings.warn("constant folding skipped\nmore detail", UserWarning)
        warnings.warn("opset 18 is new", FutureWarning)
    assert _summarise(caught) == ["3x UserWarning: constant folding skipped", "FutureWarning: opset 18 is new"]
