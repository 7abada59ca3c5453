"""The fine-tuned ``transformer`` rung: trains in the one Lightning loop (AdamW, warm-up and decay,
accumulation, class weights), saves self-contained, reloads and predicts the same; and runs as
two DDP processes on the CPU. A tiny local encoder folder keeps it quick."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import make_rows, write_csv

from textladder.config import DataConfig, RunConfig
from textladder.runs import Run, list_runs
from textladder.training import train


@pytest.fixture
def data(tmp_path):
    return write_csv(tmp_path / "small.csv", make_rows(300))


def cfg(data, encoder, **params) -> RunConfig:
    base = {"encoder": str(encoder), "epochs": 3, "batch_size": 16, "lr": 2e-3, "accelerator": "cpu"}
    return RunConfig(model="transformer", params={**base, **params}, data=DataConfig(path=str(data)))


def test_transformer_fine_tunes_saves_self_contained_and_reloads(data, tmp_path, tiny_encoder):
    run = Run.open(train(cfg(data, tiny_encoder, accumulate=2, warmup=0.2).model_copy(
        update={"balance": "class-weight"}), tmp_path / "runs"))
    assert run.metrics["test"]["accuracy"] > 0.8, run.metrics["test"]
    history = pd.read_csv(run.path / "history.csv")
    assert len(history) == 3 and history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    lrs = history["lr"].tolist()  # the rate at each epoch's end: decaying to 0 after the warm-up
    assert lrs[0] > lrs[1] > lrs[2] >= 0 and lrs[0] <= 2e-3
    assert len(run.metrics["model_report"]["class_weights"]) == 3
    files = {p.name for p in (run.path / "model").rglob("*")}
    assert {"weights.safetensors", "config.json", "tokenizer.json"} <= files
    assert not [p for p in run.path.rglob("*") if p.suffix in (".ckpt", ".pt", ".bin", ".pkl")]
    saved = pd.read_csv(run.path / "test_predictions.csv")
    texts = pd.read_csv(data, dtype=str).set_index("hmid").loc[saved["id"].astype(str), "cleaned_hm"]
    proba = run.load_model().predict_proba(pd.DataFrame({"text": texts.to_numpy()}))
    np.testing.assert_allclose(proba, saved[[c for c in saved.columns if c.startswith("proba_")]].to_numpy(),
                               atol=1e-5)
    meta = json.loads((run.path / "model" / "model.json").read_text())
    assert meta["encoder"] == str(tiny_encoder)


def test_transformer_ddp_two_processes_on_cpu(data, tmp_path, tiny_encoder):
    runs = tmp_path / "runs"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "textladder.cli", "train", str(data), "--model", "transformer", "--out", str(runs),
           "--encoder", str(tiny_encoder), "--epochs", "2", "--lr", "0.002", "--accelerator", "cpu",
           "--devices", "2", "--strategy", "ddp", "--batch-size", "16"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = list_runs(runs)  # one run folder: only the first process writes
    assert run.metrics["model_report"]["processes"] == 2
    assert run.metrics["test"]["accuracy"] > 0.5
    assert done.stdout.strip().splitlines()[-1] == str(run.path)
    assert not (runs / ".checkpoints").exists()  # no checkpoints left, nor an empty folder


def test_frozen_layers_keep_the_lower_encoder_as_pretrained(tiny_encoder):
    from textladder.errors import TextladderError
    from textladder.models import build

    model = build("transformer", {"encoder": str(tiny_encoder), "frozen_layers": 1})
    model._prepare(None, None)
    net = model._build_net(3)
    frozen = [n for n, p in net.named_parameters() if not p.requires_grad]
    assert frozen and all(n.startswith(("encoder.embeddings", "encoder.encoder.layer.0.")) for n in frozen)
    assert any(p.requires_grad for n, p in net.named_parameters() if n.startswith("encoder.encoder.layer.1."))
    assert all(p.requires_grad for p in net.out.parameters())
    too_many = build("transformer", {"encoder": str(tiny_encoder), "frozen_layers": 99})
    too_many._prepare(None, None)
    with pytest.raises(TextladderError, match="the encoder has only"):
        too_many._build_net(3)


def test_layer_decay_gives_each_lower_layer_a_smaller_learning_rate(data, tmp_path, tiny_encoder):
    from textladder.loop import LitClassifier, LoopConfig
    from textladder.models import build

    model = build("transformer", {"encoder": str(tiny_encoder), "layer_decay": 0.5, "frozen_layers": 1})
    model._prepare(None, None)
    net = model._build_net(3)
    groups = net.param_groups(1e-3)
    rate = {id(p): g["lr"] for g in groups for p in g["params"]}
    assert len(rate) == sum(p.requires_grad for p in net.parameters())  # every trainable one, once
    named = dict(net.named_parameters())
    n_layers = len(net.encoder.encoder.layer)
    assert {rate[id(p)] for n, p in named.items() if n.startswith("out.")} == {1e-3}
    top = f"encoder.encoder.layer.{n_layers - 1}."
    assert {rate[id(p)] for n, p in named.items() if n.startswith(top)} == {1e-3 * 0.5}
    assert not any(n.startswith(("encoder.embeddings", "encoder.encoder.layer.0.")) and id(p) in rate
                   for n, p in named.items())  # frozen: in no group
    # The optimiser keeps the groups' rates, and the warm-up schedule scales them alike.
    lit = LitClassifier(net, 3, LoopConfig(lr=1e-3, optimizer="adamw"))
    assert sorted(g["lr"] for g in lit.configure_optimizers().param_groups) == sorted(g["lr"] for g in groups)
    # Without decay, one group as before (a resumed run's optimiser state still fits).
    plain = build("transformer", {"encoder": str(tiny_encoder)})
    plain._prepare(None, None)
    assert len(LitClassifier(plain._build_net(3), 3, LoopConfig(optimizer="adamw")).configure_optimizers()
               .param_groups) == 1
    run = Run.open(train(cfg(data, tiny_encoder, layer_decay=0.8, epochs=1), tmp_path / "runs"))
    assert run.load_model().params.layer_decay == 0.8 and run.metrics["val"]["accuracy"] > 0
