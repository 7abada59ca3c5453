"""Inputs that used to give wrong results instead of errors (issue 13), and a fuzz test of the loader."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import random
import threading
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_rows, write_csv
from typer.testing import CliRunner

from textladder.cli import app
from textladder.config import DataConfig, RunConfig
from textladder.data import load_dataset
from textladder.data.reader import FIELD_LIMIT, file_kind
from textladder.errors import DataError, TextladderError
from textladder.models import names
from textladder.runs import Run
from textladder.training import train

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def generic(path: Path, rows: list[tuple], header=("id", "text", "label")) -> Path:
    return write_csv(path, [dict(zip(header, r)) for r in rows], newline="\n")


def test_a_column_in_two_roles_is_refused(tmp_path):
    data = generic(tmp_path / "d.csv", [(i, f"text {i}", "ab"[i % 2]) for i in range(30)])
    result = cli("train", data, "--text-col", "label", "--label-col", "label", "--out", tmp_path / "runs")
    assert result.exit_code == 1
    assert "column 'label' is given as both the text and the label column" in result.stderr
    for role in ("text", "label"):
        with pytest.raises(DataError, match=f"column '{role}' is given as both the {role} and the id column"):
            load_dataset(data, id_col=role)


@pytest.mark.parametrize("missing", ["NaN", "nan", "None", "null", "NULL", "", "N/A", "  <NA> "])
def test_missing_value_spellings_are_missing_labels(tmp_path, missing):
    rows = [(i, f"text {i}", "ab"[i % 2]) for i in range(60)] + [(60, "some text", missing)]
    ds = load_dataset(generic(tmp_path / "d.csv", rows))
    assert ds.classes == ["a", "b"] and len(ds) == 60 and ds.dropped == {"missing label": 1}


def test_a_class_that_looks_missing_is_kept_with_a_warning(tmp_path, caplog):
    rows = [(i, f"text {i}", ["a", "b", "unknown"][i % 3]) for i in range(60)]
    ds = load_dataset(generic(tmp_path / "d.csv", rows))
    assert ds.classes == ["a", "b", "unknown"]
    assert "class 'unknown' (20 rows) looks like a missing-value marker" in caplog.text


def test_parquet_lists_and_structs_are_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 30
    table = pa.table({"text": [f"text {i}" for i in range(n)], "label": [["ab"[i % 2]] for i in range(n)],
                      "meta": [{"a": i} for i in range(n)]})
    path = tmp_path / "d.parquet"
    pq.write_table(table, path)
    with pytest.raises(DataError, match=r"label column 'label' holds list<element: string> values"):
        load_dataset(path)
    with pytest.raises(DataError, match=r"text column 'meta' holds struct<a: int64> values"):
        load_dataset(path, text_col="meta", label_col="text")


def test_a_field_over_the_size_limit_is_said_as_such(tmp_path):
    path = tmp_path / "huge.csv"
    with open(path, "w") as f:
        f.write("id,text,label\n1,short,a\n2,short,b\n")
        f.write('3,"' + "x" * (FIELD_LIMIT + 6 * 1024 * 1024) + '",a\n')  # a 70 MB text
    with pytest.raises(DataError, match=r"line 4: a field is longer than textladder's limit of 67,108,864"):
        load_dataset(path)


def test_a_fifo_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    result: list = []
    t = threading.Thread(target=lambda: result.append(cli("train", fifo, "--out", tmp_path / "runs")), daemon=True)
    t.start()
    t.join(timeout=30)
    assert not t.is_alive(), "train waited on a FIFO"
    assert result[0].exit_code == 1 and "is a FIFO (named pipe)" in result[0].stderr


COMPRESSORS = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress,
               "zst": lambda b: __import__("zstandard").ZstdCompressor().compress(b)}


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> tuple[Path, Run]:
    root = tmp_path_factory.mktemp("plain")
    data = write_csv(root / "small.csv", make_rows(150))
    return data, Run.open(train(RunConfig(model="tfidf-linear", params={"min_df": 1},
                                          data=DataConfig(path=str(data))), root / "runs"))


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_compressed_csv_trains_evaluates_and_predicts(plain, tmp_path, suffix):
    data, reference = plain
    packed = tmp_path / f"small.weird-name.{suffix}"  # recognised by its bytes, not its name
    packed.write_bytes(COMPRESSORS[suffix](data.read_bytes()))
    assert file_kind(packed) == "csv"
    ds, ref = load_dataset(packed), load_dataset(data)
    assert ds.texts.tolist() == ref.texts.tolist() and ds.lines.tolist() == ref.lines.tolist()
    run = Run.open(train(RunConfig(model="tfidf-linear", params={"min_df": 1},
                                   data=DataConfig(path=str(packed))), tmp_path / "runs"))
    assert run.metrics["test"] == reference.metrics["test"]
    assert run.config.data.sha256 != reference.config.data.sha256  # the bytes read: the compressed file's
    result = cli("evaluate", run.path, packed, "--json")
    assert result.exit_code == 0, result.output
    out = tmp_path / "pred.csv"
    assert cli("predict", run.path, packed, "-o", out).exit_code == 0
    assert len(pd.read_csv(out)) == 150


def test_damaged_compressed_data_is_one_clear_error(plain, tmp_path):
    data, _ = plain
    blob = gzip.compress(data.read_bytes())
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="damaged gzip data"):
        load_dataset(cut)


def test_a_tsv_gz_is_read_with_tabs(tmp_path):
    text = "id\ttext\tlabel\n" + "".join(f"{i}\tsome, text {i}\t{'ab'[i % 2]}\n" for i in range(40))
    path = tmp_path / "d.tsv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    ds = load_dataset(path)
    assert ds.texts[0] == "some, text 0" and ds.classes == ["a", "b"]


def test_a_file_that_changes_while_read_is_refused(plain, tmp_path):
    data, _ = plain
    copy = tmp_path / "growing.csv"
    copy.write_bytes(data.read_bytes())
    appended = []

    def grow(n):  # another program appends rows while textladder reads
        if not appended:
            with open(copy, "a") as f:
                f.write("9999,24h,one more text,1,affection\r\n")
            appended.append(n)

    with pytest.raises(DataError, match="changed while it was being read"):
        load_dataset(copy, on_progress=grow)
    ds = load_dataset(copy)  # once it is still, it reads, and the hash is of what was read
    from textladder.files import sha256_file

    assert ds.sha256 == sha256_file(copy)


def test_evaluate_warns_when_the_data_changed_since_training(plain, tmp_path):
    data, run = plain
    import json
    import shutil

    copy = tmp_path / "data.csv"
    shutil.copy(data, copy)
    moved = tmp_path / "run"
    shutil.copytree(run.path, moved)
    config = json.loads((moved / "config.json").read_text())
    config["data"]["path"] = str(copy)
    (moved / "config.json").write_text(json.dumps(config))
    assert "has changed since" not in cli("evaluate", moved).stderr
    with open(copy, "a") as f:
        f.write("9999,24h,one more text,1,affection\r\n")
    assert "has changed since run" in cli("evaluate", moved).stderr


def test_a_single_row_class_says_what_to_do(tmp_path):
    rows = [(i, f"text {i}", "ab"[i % 2]) for i in range(60)] + [(60, "lonely text", "c")]
    data = generic(tmp_path / "d.csv", rows)
    result = cli("train", data, "--out", tmp_path / "runs", "--set", "min_df=1")
    assert result.exit_code == 1
    assert "class 'c' has only 1 row" in result.stderr and "--min-class-rows" in result.stderr
    assert "least populated" not in result.stderr  # scikit-learn's wording
    result = cli("train", data, "--out", tmp_path / "runs", "--set", "min_df=1", "--min-class-rows", "3")
    assert result.exit_code == 0, result.output
    assert "dropped 1 classes with fewer than 3 rows (--min-class-rows): 'c' (1)" in result.stderr
    run = Run.open(result.stdout.strip().splitlines()[-1])
    assert run.classes == ["a", "b"] and run.config.data.min_class_rows == 3


def _digits(i):
    return str(i % 10)


def _punctuation(i):
    return "!?."[i % 3] * (1 + i % 4)


def _emoji(i):
    return "😀🎉🌞"[i % 3]


QUICK = {"fasttext": {"epochs": 2}, "tfidf-linear": {}}


@pytest.mark.parametrize("model", [n for n in names() if n != "ensemble"])
def test_every_rung_learns_or_says_why_from_texts_without_words(model, tmp_path, tiny_encoder, model_cache):
    params = dict(QUICK.get(model, {"epochs": 1}))
    if model in ("contextual", "transformer"):
        params["encoder"] = str(tiny_encoder)
    for make in (_digits, _punctuation, _emoji):
        data = generic(tmp_path / f"{make.__name__}.csv", [(i, make(i), "abc"[i % 3]) for i in range(90)])
        try:
            run = Run.open(train(RunConfig(model=model, params=params, data=DataConfig(path=str(data))),
                                 tmp_path / "runs"))
        except TextladderError as exc:
            message = str(exc)
            assert model in message and "\n" not in message, message
            continue
        assert run.metrics["test"]["n"] > 0


# -- fuzz: a few hundred mutated CSV files through the loader ---------------------------------------

def _mutations(seed_bytes: bytes, rng: random.Random):
    ops = [
        lambda b: b[: rng.randrange(len(b))],  # cut short
        lambda b: b[:i] + bytes([rng.randrange(256)]) + b[i + 1:] if (i := rng.randrange(len(b))) >= 0 else b,
        lambda b: b[:i] + b'"' + b[i:] if (i := rng.randrange(len(b))) >= 0 else b,
        lambda b: b[:i] + b"," * rng.randrange(1, 4) + b[i:] if (i := rng.randrange(len(b))) >= 0 else b,
        lambda b: b[:i] + b"\r" + b[i:] if (i := rng.randrange(len(b))) >= 0 else b,
        lambda b: b[:i] + b"\n" * rng.randrange(1, 3) + b[i:] if (i := rng.randrange(len(b))) >= 0 else b,
        lambda b: b.replace(b"predicted_category", rng.choice([b"", b"hmid", b"label", b"predicted_category,x"])),
        lambda b: b[:i] + "é😀\u2028".encode()[rng.randrange(1, 4):] + b[i:] if (i := rng.randrange(len(b))) >= 0 else b,
        lambda b: b[:i] + b"\x00" + b[i:] if (i := rng.randrange(len(b))) >= 0 else b,
        lambda b: b"\xef\xbb\xbf" + b,
        lambda b: gzip.compress(b)[: rng.randrange(10, 200)],
        lambda b: b.replace(b"affection", rng.choice([b"NaN", b"", b"null", b"affection\r\n\"x"])),
        lambda b: b[: b.find(b"\n") + 1],  # header only
    ]
    for _ in range(rng.randrange(1, 4)):
        seed_bytes = rng.choice(ops)(seed_bytes) or b"x"
    return seed_bytes


def test_fuzzed_csv_files_give_a_dataset_or_one_clear_error(tmp_path):
    rng = random.Random(13)
    base = write_csv(tmp_path / "base.csv", make_rows(30)).read_bytes()
    outcomes = {"dataset": 0, "DataError": 0, "TextladderError": 0}
    for i in range(300):
        path = tmp_path / f"fuzz-{i}.csv"
        path.write_bytes(_mutations(base, rng))
        done: list = []

        def load():
            try:
                ds = load_dataset(path)
                assert len(ds) == len(ds.texts) == len(ds.labels) == len(ds.ids) and len(ds.classes) >= 2
                done.append("dataset")
            except DataError as exc:
                assert str(exc).startswith(str(path)) and "\n" not in str(exc).strip(), exc
                done.append("DataError")
            except TextladderError as exc:
                done.append("TextladderError")
                assert "\n" not in str(exc)
            except BaseException as exc:  # noqa: BLE001 - recorded, then failed below
                done.append(exc)

        t = threading.Thread(target=load, daemon=True)
        t.start()
        t.join(timeout=20)
        assert not t.is_alive(), f"hang on {path}"
        assert isinstance(done[0], str), (path.read_bytes()[:300], repr(done[0]))
        outcomes[done[0]] += 1
    assert outcomes["dataset"] > 20 and outcomes["DataError"] > 50, outcomes
