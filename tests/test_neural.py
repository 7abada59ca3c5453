"""The neural ladder on small data the tests write: every rung trains, saves as safetensors + JSON,
reloads and predicts the same; the loop is deterministic, checkpoints the best epoch, decays the
learning rate, stops early and resumes after an interrupt."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import make_rows, write_csv
from typer.testing import CliRunner

from textladder.cli import app
from textladder.config import DataConfig, RunConfig
from textladder.layout import CHECKPOINTS
from textladder.runs import Run, list_runs
from textladder.errors import Interrupted
from textladder.training import train

runner = CliRunner()
TINY = {"hidden": 16, "embedding_dim": 16, "head": [16], "epochs": 3, "batch_size": 32, "lr": 0.01}
RUNGS = ["lstm", "bilstm", "bilstm2", "gru", "bigru", "w2v-dense", "w2v-dense2", "cnn", "attention", "capsule"]


def tiny(model: str, **extra) -> dict:
    params = dict(TINY)
    if model.startswith("w2v"):
        params = {"embedding_dim": 16, "head": [16], "epochs": 10, "batch_size": 16, "lr": 0.01, "min_df": 1,
                  "w2v_min_count": 1, "w2v_epochs": 30}
    return {**params, **extra}


@pytest.fixture
def data(tmp_path):
    return write_csv(tmp_path / "small.csv", make_rows(300))


def run_config(data, model="lstm", **params) -> RunConfig:
    return RunConfig(model=model, params=tiny(model, **params), data=DataConfig(path=str(data)))


@pytest.mark.parametrize("model", RUNGS)
def test_every_rung_trains_saves_and_reloads(data, tmp_path, model):
    run = Run.open(train(run_config(data, model), tmp_path / "runs"))
    files = {p.name for p in (run.path / "model").iterdir()}
    assert "weights.safetensors" in files and "model.json" in files
    assert not [p for p in run.path.rglob("*") if p.suffix in (".ckpt", ".pt", ".pkl", ".pickle")]
    assert run.metrics["test"]["accuracy"] > 0.6, run.metrics["test"]  # three learnable classes
    saved = pd.read_csv(run.path / "test_predictions.csv")
    texts = pd.read_csv(data, dtype=str).set_index("hmid").loc[saved["id"].astype(str), "cleaned_hm"]
    proba = run.load_model().predict_proba(pd.DataFrame({"text": texts.to_numpy()}))
    cols = [c for c in saved.columns if c.startswith("proba_")]
    np.testing.assert_allclose(proba, saved[cols].to_numpy(), atol=1e-5)


def test_same_seed_same_metrics_and_history(data, tmp_path):
    a = Run.open(train(run_config(data, "bilstm"), tmp_path / "a"))
    b = Run.open(train(run_config(data, "bilstm"), tmp_path / "b"))
    assert a.metrics["test"] == b.metrics["test"] and a.metrics["val"] == b.metrics["val"]
    ha, hb = (pd.read_csv(r.path / "history.csv").drop(columns="seconds") for r in (a, b))
    pd.testing.assert_frame_equal(ha, hb)
    c = Run.open(train(run_config(data, "bilstm", seed=7), tmp_path / "c"))
    assert not pd.read_csv(c.path / "history.csv")["train_loss"].equals(ha["train_loss"])


def test_history_learning_curve_best_epoch_and_decay(data, tmp_path):
    run = Run.open(train(run_config(data, "lstm", epochs=4, patience=4, lr_decay=0.5), tmp_path / "runs"))
    history = pd.read_csv(run.path / "history.csv")
    assert list(history["epoch"]) == [1, 2, 3, 4]
    assert {"train_loss", "val_loss", "val_accuracy", "val_macro_f1", "lr"} <= set(history.columns)
    np.testing.assert_allclose(history["lr"], 0.01 * 0.5 ** np.arange(4))  # the rate each epoch used
    assert (run.path / "learning_curve.png").stat().st_size > 10_000
    report = run.metrics["model_report"]
    best = history.loc[history["val_macro_f1"].idxmax()]
    assert report["best_epoch"] == best["epoch"]
    # the saved model is the best epoch's: its validation macro-F1 is the history's best
    assert run.metrics["val"]["macro_f1"] == pytest.approx(best["val_macro_f1"], abs=1e-6)


def test_early_stopping_when_validation_stops_improving(data, tmp_path):
    run = Run.open(train(run_config(data, "lstm", epochs=20, patience=2, lr=1e-9), tmp_path / "runs"))
    history = pd.read_csv(run.path / "history.csv")
    assert len(history) == 3  # epoch 1 is the best a frozen model gets; two more without progress


def test_vocabulary_and_sequence_length_come_from_the_train_split(data, tmp_path):
    run = Run.open(train(run_config(data, "lstm"), tmp_path / "runs"))
    vocab = json.loads((run.path / "model" / "vocab.json").read_text())["itos"]
    assert vocab[:2] == ["<pad>", "<unk>"]
    meta = json.loads((run.path / "model" / "model.json").read_text())
    assert meta["vocab_size"] == len(vocab) and meta["seq_len"] % 8 == 0
    rows = pd.read_csv(data, dtype=str).set_index("hmid")
    train_ids = run.split_ids["train"]
    from textladder.text.tokenize import tokenize

    train_words = {w for t in rows.loc[train_ids, "cleaned_hm"] for w in tokenize(t)}
    assert set(vocab[2:]) <= train_words


def test_interrupt_then_resume_matches_an_uninterrupted_run(data, tmp_path, monkeypatch):
    from textladder import loop

    config = run_config(data, "lstm", epochs=4, patience=4)
    reference = Run.open(train(config, tmp_path / "ref"))
    runs = tmp_path / "runs"
    original = loop.History.on_train_epoch_end

    def stop_after_two(self, trainer, module):
        original(self, trainer, module)
        if trainer.current_epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop.History, "on_train_epoch_end", stop_after_two)
    with pytest.raises(Interrupted, match="with resume=True to continue"):
        train(config, runs)
    monkeypatch.undo()
    assert list_runs(runs) == []
    kept = list((runs / CHECKPOINTS).iterdir())
    assert len(kept) == 1 and (kept[0] / "last.ckpt").is_file()
    resumed = Run.open(train(config, runs, resume=True))
    assert resumed.name == kept[0].name
    assert not (runs / CHECKPOINTS / kept[0].name).exists()
    assert resumed.metrics["test"] == reference.metrics["test"]
    pd.testing.assert_frame_equal(pd.read_csv(resumed.path / "history.csv").drop(columns="seconds"),
                                  pd.read_csv(reference.path / "history.csv").drop(columns="seconds"))


def test_resume_with_nothing_to_resume_is_a_clear_error(data, tmp_path):
    result = runner.invoke(app, ["train", str(data), "-m", "lstm", "--out", str(tmp_path), "--resume"])
    assert result.exit_code == 1 and "nothing to resume" in result.output
    result = runner.invoke(app, ["train", str(data), "--out", str(tmp_path), "--resume"])
    assert result.exit_code == 1 and "trains in one step" in result.output


def test_cli_flags_reach_the_model_and_the_run_predicts(data, tmp_path):
    runs = tmp_path / "runs"
    result = runner.invoke(app, ["train", str(data), "-m", "gru", "--out", str(runs), "--epochs", "2",
                                 "--hidden", "12", "--dropout", "0.1", "--activation", "leaky_relu",
                                 "--leaky-alpha", "0.2", "--batch-size", "16", "--seq-len", "12",
                                 "--lr", "0.01", "--set", "embedding_dim=8"])
    assert result.exit_code == 0, result.output
    run = Run.open(result.stdout.strip().splitlines()[-1])
    p = run.config.params
    assert (p["epochs"], p["hidden"], p["dropout"], p["activation"], p["leaky_alpha"], p["batch_size"],
            p["seq_len"]) == (2, 12, 0.1, "leaky_relu", 0.2, 16, 12)
    assert "epoch 2/2" in result.output
    out = tmp_path / "pred.csv"
    result = runner.invoke(app, ["predict", str(run.path), str(data), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == 300
    result = runner.invoke(app, ["evaluate", str(run.path), "--json"])
    assert json.loads(result.stdout)["accuracy"] == pytest.approx(run.metrics["test"]["accuracy"])


def test_bad_neural_parameters_are_one_line_errors(data, tmp_path):
    result = runner.invoke(app, ["train", str(data), "-m", "lstm", "--out", str(tmp_path), "--activation", "tanh"])
    assert result.exit_code == 1 and "activation" in result.output
    result = runner.invoke(app, ["train", str(data), "-m", "bilstm2", "--out", str(tmp_path),
                                 "--embeddings", str(tmp_path / "nope.txt")])
    assert result.exit_code == 1 and "nope.txt: no such vectors file" in result.output
    assert not (tmp_path / CHECKPOINTS).exists()


# Word vectors ------------------------------------------------------------------------------------
VECTORS = {"gym": [1.0, 0.0, 0.0, 0.5], "yoga": [0.9, 0.1, 0.0, 0.4], "wife": [0.0, 1.0, 0.2, 0.0],
           "son": [0.1, 0.9, 0.3, 0.0], "promoted": [0.0, 0.0, 1.0, 0.1], "Exam": [0.0, 0.1, 0.9, 0.2]}


def write_vectors(path, kind: str):
    """The same six vectors as GloVe text, word2vec text, fastText .vec or word2vec binary."""
    from gensim.models import KeyedVectors

    if kind == "glove":
        path.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in VECTORS.items()))
        return path
    kv = KeyedVectors(vector_size=4)
    kv.add_vectors(list(VECTORS), np.array(list(VECTORS.values()), dtype=np.float32))
    kv.save_word2vec_format(str(path), binary=kind == "binary")
    return path


@pytest.mark.parametrize("kind,name", [("glove", "glove.txt"), ("w2v", "vectors.txt"), ("vec", "wiki.vec"),
                                       ("binary", "vectors.bin")])
def test_vectors_files_of_every_kind_read_the_same(tmp_path, kind, name):
    from textladder.embeddings.vectors import load_vectors

    kv = load_vectors(write_vectors(tmp_path / name, kind))
    assert list(kv.index_to_key) == list(VECTORS)
    np.testing.assert_allclose(kv["yoga"], VECTORS["yoga"], atol=1e-6)


@pytest.mark.parametrize("content,problem,line", [
    ("", "empty vectors file", 1),
    ("hello world\n", "not a vectors file", 1),
    ("2 3\ngym 1 2 3\nyoga 1 2\n", "not a readable vectors file", None),
])
def test_bad_vectors_files_are_clear_errors(tmp_path, content, problem, line):
    from textladder.embeddings.vectors import load_vectors
    from textladder.errors import DataError

    path = tmp_path / "v.txt"
    path.write_text(content)
    with pytest.raises(DataError, match=problem) as info:
        load_vectors(path)
    assert str(path) in str(info.value)
    if line:
        assert f"line {line}" in str(info.value)


@pytest.mark.parametrize("trainable", [False, True])
def test_pretrained_vectors_frozen_or_trainable_with_oov_report(data, tmp_path, trainable):
    vectors = write_vectors(tmp_path / "glove.txt", "glove")
    run = Run.open(train(run_config(data, "bilstm", embeddings=str(vectors), trainable_embeddings=trainable,
                                    epochs=2), tmp_path / "runs"))
    report = run.metrics["model_report"]["embeddings"]
    vocab = json.loads((run.path / "model" / "vocab.json").read_text())["itos"]
    found = [w for w in vocab[2:] if w in VECTORS or w.capitalize() in VECTORS]
    assert report["found"] == len(found) == 6  # 'exam' is found as the file's "Exam"
    assert report["oov"] == len(vocab) - 2 - len(found) and report["vocab"] == len(vocab) - 2
    words, matrix = run.load_model().word_vectors()
    row = matrix[words.index("gym")]
    assert np.allclose(row, VECTORS["gym"], atol=1e-6) != trainable  # frozen keeps the file's vector


def test_vectors_similar_and_map_through_the_cli(data, tmp_path):
    run = Run.open(train(run_config(data, "w2v-dense"), tmp_path / "runs"))
    result = runner.invoke(app, ["vectors", "similar", str(run.path), "gym", "--top", "3", "--json"])
    assert result.exit_code == 0, result.output
    pairs = json.loads(result.stdout)
    assert len(pairs) == 3 and all(-1 <= s <= 1 for _, s in pairs) and "gym" not in [w for w, _ in pairs]
    assert [s for _, s in pairs] == sorted((s for _, s in pairs), reverse=True)
    result = runner.invoke(app, ["vectors", "similar", str(run.path), "zebra"])
    assert result.exit_code == 1 and "'zebra' is not among" in result.output
    for method in ("pca", "tsne"):
        out = tmp_path / f"{method}.html"
        result = runner.invoke(app, ["vectors", "map", str(run.path), "--method", method, "--top", "20",
                                     "--out", str(out)])
        assert result.exit_code == 0, result.output
        html = out.read_text()
        assert '"word"' in html and "@word" in html and '"today"' in html  # in every row: top word
        assert "cdn.bokeh.org" not in html  # self-contained: opens offline
    result = runner.invoke(app, ["vectors", "map", str(run.path), "--method", "umap"])
    assert result.exit_code == 1 and "pca, tsne" in result.output


def test_vectors_of_a_run_without_word_vectors_is_a_clear_error(small_csv, tmp_path):
    result = runner.invoke(app, ["train", str(small_csv), "--out", str(tmp_path), "--set", "min_df=1"])
    run = result.stdout.strip().splitlines()[-1]
    result = runner.invoke(app, ["vectors", "similar", run, "gym"])
    assert result.exit_code == 1 and "has no word vectors" in result.output


# Batching ----------------------------------------------------------------------------------------
def test_bucket_sampler_covers_every_row_once_and_repeats_per_epoch():
    from textladder.text.sequences import BucketBatchSampler

    lengths = np.random.default_rng(0).integers(1, 200, size=1000)
    s = BucketBatchSampler(lengths, batch_size=32, seed=3)
    s.set_epoch(0)
    first = list(s)
    assert sorted(i for b in first for i in b) == list(range(1000)) and len(first) == len(s)
    assert list(s) == first
    s.set_epoch(1)
    assert list(s) != first
    # buckets: padding to each batch's longest costs far less than random batches would
    padded = sum(len(b) * lengths[b].max() for b in first)
    rng = np.random.default_rng(1).permutation(1000)
    random_padded = sum(len(rng[i:i + 32]) * lengths[rng[i:i + 32]].max() for i in range(0, 1000, 32))
    assert padded < 0.7 * random_padded


def _sequence_net(kind: str):
    from textladder.models.attention import AttentionNet, AttentionParams
    from textladder.models.capsule import CapsuleNet, CapsuleParams
    from textladder.models.cnn import CNNNet, CNNParams
    from textladder.models.rnn import RNNNet
    from textladder.models.sequence import SequenceParams

    small = {"hidden": 8, "head": [], "dropout": 0.0}
    if kind == "cnn":
        return CNNNet(20, 8, 3, CNNParams(filters=4, widths=[2, 4], **small))
    if kind == "attention":
        return AttentionNet(20, 8, 3, AttentionParams(**small))
    if kind == "capsule":
        return CapsuleNet(20, 8, 3, CapsuleParams(capsules=3, capsule_dim=4, **small))
    return RNNNet(20, 8, 3, SequenceParams(pool=kind, **small), "lstm", bidirectional=True)


@pytest.mark.parametrize("kind", ["last", "max", "cnn", "attention", "capsule"])
def test_sequence_nets_ignore_padding(kind):
    """A text gives the same output alone or padded in a batch beside a longer one."""
    import torch

    torch.manual_seed(0)
    net = _sequence_net(kind).eval()
    alone = net({"ids": torch.tensor([[3, 4, 5]]), "lengths": torch.tensor([3])})
    batch = net({"ids": torch.tensor([[3, 4, 5, 0, 0, 0], [6, 7, 8, 9, 10, 11]]), "lengths": torch.tensor([3, 6])})
    torch.testing.assert_close(alone[0], batch[0])
    other = net({"ids": torch.tensor([[3, 4, 9]]), "lengths": torch.tensor([3])})
    assert not torch.allclose(alone[0], other[0])  # and it does read the tokens


def test_attention_weights_and_explain_through_the_cli(data, tmp_path):
    run = Run.open(train(run_config(data, "attention", epochs=4), tmp_path / "runs"))
    model = run.load_model()
    text = "we ran a long run in the park and then went to the gym"
    (tokens,) = model.attention_weights([text])
    assert [t for t, _ in tokens] == text.split()
    weights = np.array([w for _, w in tokens])
    assert abs(weights.sum() - 1) < 1e-5 and (weights > 0).all()
    assert weights.max() > 2 / len(weights)  # trained attention is not uniform
    r = runner.invoke(app, ["explain", str(run.path), text, "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["label"] in run.classes and [t for t, _ in got["tokens"]] == text.split()
    np.testing.assert_allclose([w for _, w in got["tokens"]], weights, atol=1e-5)
    assert abs(sum(got["proba"].values()) - 1) < 1e-4
    r = runner.invoke(app, ["explain", str(run.path), text])
    assert r.exit_code == 0 and "attention" in r.output and "gym" in r.output


def test_a_rung_without_attention_is_explained_by_shap_for_any_class(data, tmp_path):
    run = Run.open(train(run_config(data, "gru", epochs=2), tmp_path / "runs"))
    text = "we went to the gym and then hugged my son"
    page = tmp_path / "why.html"
    r = runner.invoke(app, ["explain", str(run.path), text, "--json", "--samples", "60", "--label", "affection",
                            "--html", str(page)])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    proba = run.load_model().predict_proba([text])[0]
    assert got["method"] == "shap" and got["label"] == "affection"
    assert [t for t, _ in got["tokens"]] == text.split()
    p = proba[run.classes.index("affection")]
    assert sum(w for _, w in got["tokens"]) + got["base"] == pytest.approx(p, abs=1e-3)
    assert 'class="tok"' in page.read_text() and "gym" in page.read_text()
    r = runner.invoke(app, ["explain", str(run.path), text, "--label", "nope"])
    assert r.exit_code == 1 and "not a class" in r.output


@pytest.mark.parametrize("sig", ["SIGINT", "SIGKILL"])
def test_ctrl_c_or_kill_in_a_real_process_then_resume(tmp_path, sig):
    """A real ``textladder train`` process, interrupted once its first epoch is saved: no run folder
    appears, the checkpoint survives, and ``--resume`` finishes the run."""
    import signal
    import subprocess
    import sys
    import time

    data = write_csv(tmp_path / "d.csv", make_rows(1500))
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "textladder.cli", "train", str(data), "-m", "lstm", "--out", str(runs),
           "--epochs", "5", "--patience", "5", "--hidden", "16", "--batch-size", "8"]
    # A shell's background jobs inherit SIGINT as ignored; give the child the default, as a terminal would.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not list(runs.glob(f"{CHECKPOINTS}/*/last.ckpt")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "training ended before it could be interrupted"
    proc.send_signal(getattr(signal, sig))
    _, stderr = proc.communicate(timeout=60)
    if sig == "SIGINT":
        assert proc.returncode == 130 and "--resume" in stderr, stderr
    else:
        assert proc.returncode == -signal.SIGKILL
    assert list_runs(runs) == [] and not list(runs.glob(".tmp-*"))
    done = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "resuming from" in done.stderr
    run = Run.open(done.stdout.strip().splitlines()[-1])
    assert len(pd.read_csv(run.path / "history.csv")) == 5
    assert not (runs / CHECKPOINTS).exists()  # no checkpoints left, nor an empty folder
