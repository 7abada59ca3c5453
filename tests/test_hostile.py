"""A hostile user's run folders, two commands at once, a full disk, leftovers: nothing runs, nothing is lost.

Each test here failed on the code before the fix it covers (issue 13).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_rows, write_csv
from typer.testing import CliRunner

from textladder.cli import app
from textladder.config import DataConfig, RunConfig
from textladder.errors import RunError, TextladderError
from textladder.files import (DiskFull, InUse, atomic_file, atomic_folder, lock, stale_temporaries,
                              write_checksums)
from textladder.runs import Run, list_runs
from textladder.training import train

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_csv(tmp_path_factory.mktemp("hostile") / "small.csv", make_rows(150))


def tfidf_run(data, runs, **kw) -> Run:
    cfg = RunConfig(model="tfidf-linear", params={"min_df": 1}, data=DataConfig(path=str(data)))
    return Run.open(train(cfg, runs, **kw))


@pytest.fixture(scope="module")
def run(data, tmp_path_factory) -> Run:
    return tfidf_run(data, tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def fasttext_run(data, tmp_path_factory) -> Run:
    cfg = RunConfig(model="fasttext", params={"epochs": 5}, data=DataConfig(path=str(data)))
    return Run.open(train(cfg, tmp_path_factory.mktemp("ft")))


def copy_run(run: Run, dest: Path) -> Run:
    shutil.copytree(run.path, dest / run.name)
    return Run.open(dest / run.name)


# -- loading never runs code ---------------------------------------------------------------------

def _json_node(value, node_id):
    return {"__class__": type(value).__name__, "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(value), "is_json": True, "__id__": node_id}


def plant_payload(skops_file: Path, marker: Path) -> None:
    """Rewrite a real ``model.skops`` so that loading it calls numpy's test helper ``runstring``, which
    ``exec``s its argument: the pipeline still predicts normally, and the payload writes ``marker``."""
    with zipfile.ZipFile(skops_file) as z:
        files = {n: z.read(n) for n in z.namelist()}
    schema = json.loads(files["schema.json"])
    empty = {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode", "content": {},
             "key_types": {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
                           "content": [], "__id__": 13}, "__id__": 12}
    schema["content"]["content"]["_payload"] = {
        "__class__": "runstring", "__module__": "numpy.testing._private.utils",
        "__loader__": "ConstructorFromReduceNode", "__id__": 9,
        "content": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "__id__": 10,
                    "content": [_json_node(f"open({str(marker)!r}, 'w').write('ran')", 11), empty]}}
    key_types = schema["content"]["key_types"]["content"]
    key_types.append(dict(key_types[0]))
    files["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(skops_file, "w") as z:
        for name, blob in files.items():
            z.writestr(name, blob)


def test_a_planted_skops_payload_never_runs(run, fasttext_run, tmp_path):
    evil = copy_run(run, tmp_path)
    marker = tmp_path / "payload-ran"
    plant_payload(evil.path / "model" / "model.skops", marker)
    with pytest.raises(RunError, match="model file damaged"):  # the checksum recorded when it was trained
        evil.load_model()
    write_checksums(evil.path / "model")  # someone tampering on purpose fixes the checksums too
    with pytest.raises(RunError, match=r"numpy\.testing\._private\.utils\.runstring.*tampered"):
        evil.load_model()
    for args in (["evaluate", evil.path], ["export", evil.path, "--onnx"],
                 ["ensemble", evil.path, fasttext_run.path, "--out", tmp_path / "ens"]):
        result = cli(*args)
        assert result.exit_code == 1, result.output
        assert "runstring" in result.stderr and "Traceback" not in result.output
    assert not marker.exists()


def test_ensemble_members_must_be_inside_the_ensemble(run, data, tmp_path):
    runs = tmp_path / "runs"
    a, b = copy_run(run, runs), tfidf_run(data, runs)
    result = cli("ensemble", a.path, b.path, "--out", runs, "--name", "ens")
    assert result.exit_code == 0, result.output
    described = runs / "ens" / "model" / "rung.json"  # what loading reads (config.json says the same)
    good = json.loads(described.read_text())
    for member in ("../..", str(a.path.resolve()), "../" + a.name, ".", ""):
        changed = json.loads(json.dumps(good))
        changed["params"]["members"][0] = member
        described.write_text(json.dumps(changed))
        write_checksums(runs / "ens" / "model")  # forged, so that the member check itself is what refuses
        result = cli("evaluate", runs / "ens")
        assert result.exit_code == 1, (member, result.output)
        assert "not a plain run name" in result.stderr and "Traceback" not in result.output
    described.write_text(json.dumps(good))
    write_checksums(runs / "ens" / "model")
    shutil.rmtree(runs / "ens" / "model" / "members" / a.name)
    result = cli("evaluate", runs / "ens")
    assert result.exit_code == 1 and f"members/{a.name}/model.skops: model file missing" in result.stderr
    (runs / "ens" / "model" / "checksums.json").unlink()  # as an ensemble written before checksums were
    result = cli("evaluate", runs / "ens")
    assert result.exit_code == 1 and "ensemble member missing" in result.stderr


@pytest.mark.parametrize("keep", [200, "half"])
def test_a_truncated_fasttext_model_is_refused_at_once(fasttext_run, tmp_path, keep):
    cut = copy_run(fasttext_run, tmp_path)
    model = cut.path / "model" / "model.bin"
    blob = model.read_bytes()
    model.write_bytes(blob[: 200 if keep == 200 else len(blob) // 2])
    done = subprocess.run([sys.executable, "-m", "textladder.cli", "evaluate", str(cut.path)],
                          capture_output=True, text=True, timeout=60)  # it used to hang, eating memory
    assert done.returncode == 1, done.stderr
    assert "model.bin: model file damaged" in done.stderr and "Traceback" not in done.stderr


def test_probabilities_that_are_not_probabilities_are_refused(run, tmp_path, monkeypatch):
    from textladder.models.linear import TfidfLinear

    monkeypatch.setattr(TfidfLinear, "predict_proba", lambda self, X: np.zeros((len(X), 3)))
    result = cli("evaluate", run.path)
    assert result.exit_code == 1 and "do not sum to 1" in result.stderr
    monkeypatch.setattr(TfidfLinear, "predict_proba", lambda self, X: np.full((len(X), 3), np.nan))
    result = cli("predict", run.path, run.config.data.path, "-o", tmp_path / "p.csv")
    assert result.exit_code == 1 and "not finite" in result.stderr
    assert not list(tmp_path.iterdir())  # nothing written, no temporaries


def test_a_checkpoint_write_that_fails_leaves_the_previous_one(tmp_path):
    from textladder.loop import last_checkpoint, save_atomically

    class Trainer:
        is_global_zero = True

        def save_checkpoint(self, path, weights_only=False):
            Path(path).write_bytes(b"half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")

    last = tmp_path / "last.ckpt"
    last.write_bytes(b"the previous epoch")
    with pytest.raises(DiskFull, match="no space left on device"):
        save_atomically(Trainer(), last)
    assert last.read_bytes() == b"the previous epoch"
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
    # an unreadable last.ckpt (cut short by an older version) is treated as absent, and set aside
    assert last_checkpoint(tmp_path) is None
    assert (tmp_path / "last.ckpt.unreadable").is_file() and not last.exists()


def test_resume_from_a_truncated_checkpoint_starts_over(data, tmp_path, caplog):
    import torch

    from textladder.layout import CHECKPOINTS

    cfg = RunConfig(model="lstm", params={"epochs": 2, "min_count": 1, "hidden": 8, "embedding_dim": 8},
                    data=DataConfig(path=str(data)))
    runs = tmp_path / "runs"
    first = Run.open(train(cfg, runs, name="a"))
    # an interrupted run of the same config whose last.ckpt was cut short by a full disk
    work = runs / CHECKPOINTS / "b"
    work.mkdir(parents=True)
    (work / "config.json").write_text((first.path / "config.json").read_text())
    torch.save({"epoch": 0}, work / "last.ckpt")
    (work / "last.ckpt").write_bytes((work / "last.ckpt").read_bytes()[:40])
    path = train(cfg, runs, resume=True)
    assert path.name == "b" and Run.open(path).metrics["test"]["n"] == first.metrics["test"]["n"]
    assert "unreadable" in caplog.text and "starting from the first epoch" in caplog.text


def test_an_unreadable_run_is_named_and_skipped(run, data, tmp_path):
    runs = tmp_path / "runs"
    good, bad = copy_run(run, runs), tfidf_run(data, runs)
    (bad.path / "metrics.json").write_text('{"test": {"accuracy": 0.9,')
    result = cli("runs", runs)
    assert result.exit_code == 0, result.output
    assert good.name in result.stdout and bad.name not in result.stdout
    assert f"skipping unreadable run {bad.name}" in result.stderr and "invalid JSON" in result.stderr
    (bad.path / "labels.json").write_bytes(b"\xff\xfe garbage")
    assert [r.name for r in list_runs(runs)] == [good.name]


def test_model_endpoint_shows_no_server_paths(run):
    from fastapi.testclient import TestClient

    from textladder.serve import create_app

    body = TestClient(create_app(run.path)).get("/model")
    assert body.status_code == 200
    data = body.json()["config"]["data"]
    assert data["path"] == Path(run.config.data.path).name and data["sha256"] == run.config.data.sha256
    assert str(Path(run.config.data.path).parent) not in body.text


# -- two commands at once --------------------------------------------------------------------------

def _spawn(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "textladder.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_trainings_of_one_name_at_once_never_replace_each_other(data, tmp_path):
    runs = tmp_path / "runs"
    procs = [_spawn("train", data, "--model", m, "--out", runs, "--name", "shared", "--set", s)
             for m, s in (("tfidf-linear", "min_df=1"), ("fasttext", "epochs=5"))]
    results = [(p.wait(timeout=180), p.stdout.read(), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results
    winner = next(out for code, out, _ in results if code == 0).strip().splitlines()[-1]
    loser = next(err for code, _, err in results if code == 1)
    assert "in use by process" in loser or "exists already" in loser, loser
    run = Run.open(winner)
    assert run.config.model in ("tfidf-linear", "fasttext")
    assert run.load_model() is not None and [p.name for p in runs.iterdir()] == ["shared"]


def test_a_second_run_of_one_name_needs_overwrite(run, data, tmp_path):
    runs = tmp_path / "runs"
    first = cli("train", data, "--out", runs, "--name", "x", "--set", "min_df=1")
    assert first.exit_code == 0, first.output
    before = (runs / "x" / "metrics.json").read_text()
    again = cli("train", data, "--out", runs, "--name", "x", "--model", "fasttext")
    assert again.exit_code == 1 and "exists already" in again.stderr and "--overwrite" in again.stderr
    assert (runs / "x" / "metrics.json").read_text() == before
    replaced = cli("train", data, "--out", runs, "--name", "x", "--model", "fasttext", "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert Run.open(runs / "x").config.model == "fasttext" and [p.name for p in runs.iterdir()] == ["x"]


def test_two_predictions_into_one_file_give_one_complete_file(run, tmp_path):
    big = write_csv(tmp_path / "big.csv", make_rows(20_000, seed=3))
    out = tmp_path / "same.csv"
    procs = [_spawn("predict", run.path, big, "-o", out) for _ in range(2)]
    results = [(p.wait(timeout=180), p.stderr.read()) for p in procs]
    assert 0 in [code for code, _ in results], results
    for code, err in results:
        assert code == 0 or (code == 1 and "in use by process" in err), err
    assert len(pd.read_csv(out)) == 20_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv", "same.csv"]  # no temporaries


@pytest.mark.parametrize("writer", ["predict", "evaluate", "report", "explore", "export", "ensemble", "train",
                                    "ladder"])
def test_every_writer_refuses_a_target_in_use(writer, run, data, fasttext_run, tmp_path):
    """Another process holds the lock (as a command still writing would): the writer says so at once,
    and what is there is left alone."""
    runs = tmp_path / "runs"
    neural = None
    if writer == "export":
        neural = Run.open(train(RunConfig(model="lstm", params={"epochs": 1, "min_count": 1, "hidden": 8,
                                                                "embedding_dim": 8}, data=DataConfig(path=str(data))),
                                runs))
    target, args = {
        "predict": (tmp_path / "p.csv", ["predict", run.path, data, "-o", tmp_path / "p.csv"]),
        "evaluate": (runs / "ev" / "eval-test", ["evaluate", runs / "ev"]),
        "report": (runs / "report.html", ["report", runs]),
        "explore": (tmp_path / "ex", ["explore", data, "--out", tmp_path / "ex"]),
        "export": (neural.path / "model" / "onnx" if neural else None, ["export", neural.path if neural else "", "--onnx"]),
        "ensemble": (runs / "e", ["ensemble", run.path, fasttext_run.path, "--out", runs, "--name", "e"]),
        "train": (runs / "t", ["train", data, "--out", runs, "--name", "t", "--set", "min_df=1"]),
        "ladder": (runs / "ladder", ["ladder", data, "--out", runs, "--config", "quick"]),
    }[writer]
    if writer == "report":
        copy_run(run, runs)
    if writer == "evaluate":
        shutil.copytree(run.path, runs / "ev")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from textladder.files import lock\n"
                               f"with lock({str(target)!r}, 'the holder'):\n print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if ".lock-" not in p.name)
        result = cli(*args)
        assert result.exit_code == 1, result.output
        assert f"in use by process {holder.pid} (the holder" in result.stderr, result.stderr
        after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if ".lock-" not in p.name)
        assert after == before
    finally:
        holder.kill()
        holder.wait()


def test_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    target = tmp_path / "x"
    (tmp_path / ".lock-x").write_text(json.dumps({"pid": pid, "host": os.uname().nodename, "command": "gone"}))
    with lock(target):
        with pytest.raises(InUse, match=f"in use by process {os.getpid()}"):
            with lock(target):
                pass
    assert not (tmp_path / ".lock-x").exists()


def test_atomic_folder_never_replaces_a_finished_one(tmp_path):
    final = tmp_path / "run"
    with pytest.raises(TextladderError, match="written by another command"):
        with atomic_folder(final) as tmp:
            (tmp / "mine").write_text("x")
            final.mkdir()  # another command finishes the same folder meanwhile
            (final / "theirs").write_text("x")
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    assert [p.name for p in final.iterdir()] == ["theirs"]


# -- faults ------------------------------------------------------------------------------------------

def _mount_tmpfs(path: Path, size: str) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    path.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_a_full_disk_during_train_is_one_clear_line(data, tmp_path):
    out = tmp_path / "small-disk"
    if not _mount_tmpfs(out, "96k"):
        pytest.skip("cannot mount a tmpfs here (needs root); test_disk_full_is_one_clear_line_anywhere covers it")
    try:
        done = subprocess.run([sys.executable, "-m", "textladder.cli", "train", str(data), "--out", str(out),
                               "--set", "min_df=1", "--set", "char_ngrams=true"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, done.stderr
        lines = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and "no space left on device" in lines[0] and str(out) in lines[0], done.stderr
        assert "Traceback" not in done.stderr
        assert list(out.iterdir()) == []  # nothing that looks finished, no hidden temporaries
    finally:
        subprocess.run(["umount", str(out)])


def test_disk_full_is_one_clear_line_anywhere(data, tmp_path, monkeypatch):
    from textladder.models.linear import TfidfLinear

    def full(self, folder):
        (Path(folder) / "model.skops").write_bytes(b"x" * 10)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(TfidfLinear, "save", full)
    runs = tmp_path / "runs"
    result = cli("train", data, "--out", runs, "--set", "min_df=1")
    assert result.exit_code == 1
    assert result.stderr.count("error:") == 1 and f"{runs}: no space left on device" in result.stderr
    assert list(runs.iterdir()) == []


def test_stale_temporaries_are_listed_and_cleaned(run, tmp_path):
    runs = tmp_path / "runs"
    copy_run(run, runs)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    (runs / f".tmp-tfidf-linear-x-{pid}-abc123").mkdir()
    (runs / f".tmp-report.html-{pid}-def456").write_text("half")
    live = runs / f".tmp-busy-{os.getpid()}-0a0b0c"
    live.mkdir()
    (runs / ".lock-gone").write_text(json.dumps({"pid": pid, "host": os.uname().nodename}))
    assert len(stale_temporaries(runs)) == 3
    listed = cli("runs", runs)
    assert listed.exit_code == 0 and "3 temporaries left by commands that no longer run" in listed.stderr
    assert "--clean" in listed.stderr
    cleaned = cli("runs", runs, "--clean")
    assert cleaned.exit_code == 0 and "removed 3 stale temporaries" in cleaned.stderr
    assert sorted(p.name for p in runs.iterdir()) == sorted([run.name, live.name])


def test_a_failed_write_leaves_no_temporaries(tmp_path):
    with pytest.raises(ValueError):
        with atomic_file(tmp_path / "out.csv") as tmp:
            tmp.write_text("half")
            raise ValueError("boom")
    with pytest.raises(KeyboardInterrupt):
        with atomic_folder(tmp_path / "folder") as tmp:
            (tmp / "x").write_text("half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_evaluating_again_replaces_the_last_evaluation(run, tmp_path):
    copy = copy_run(run, tmp_path)
    for _ in range(2):
        result = cli("evaluate", copy.path)
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in copy.path.iterdir() if p.name.startswith((".tmp-", ".lock-", "eval"))) == ["eval-test"]
