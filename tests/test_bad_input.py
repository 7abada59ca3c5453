"""Every kind of bad input: one clear line on stderr naming file, line and problem; exit 1; no traceback."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from conftest import make_rows, write_csv
from typer.testing import CliRunner

from textladder.cli import app

HEADER = "hmid,reflection_period,cleaned_hm,num_sentence,predicted_category\n"


def good_lines(n=40):
    return "".join(f"{i},24h,text number {i},1,{'ab'[i % 2]}\n" for i in range(1, n + 1))


CASES = {
    # name: (file bytes or None, expected substrings in the error line)
    "missing file": (None, ["file not found"]),
    "empty file": (b"", ["file is empty"]),
    "header only": (HEADER.encode(), ["header but no data rows"]),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["line 3", "binary data (a NUL byte at offset 8)"]),
    "not utf-8": ((HEADER + good_lines(3) + "4,24h,caf\xe9 au lait,1,a\n").encode("latin-1"),
                  ["line 5", "not valid UTF-8", "0xe9"]),
    "unterminated quote": ((HEADER + good_lines(3) + '4,24h,"never closed,1,a\n5,24h,x,1,b\n').encode(),
                           ["line 5", "unterminated quoted field"]),
    "wrong field count": ((HEADER + good_lines(3) + "4,24h,a,b,c,d\n").encode(), ["line 5", "6 fields", "header has 5"]),
    "missing text column": (b"hmid,predicted_category\n1,a\n2,b\n", ["line 1", "unknown format"]),
    "missing label column": (("hmid,reflection_period,cleaned_hm,num_sentence\n" + "1,24h,hi,1\n").encode(),
                             ["line 1", "missing label column 'predicted_category'"]),
    "many empty texts": ((HEADER + good_lines(10) + "".join(f"{i},24h, ,1,a\n" for i in range(11, 21))).encode(),
                         ["line 12", "empty text", "10 of 20 rows", "--max-drop"]),
    "many missing labels": ((HEADER + good_lines(10) + "".join(f"{i},24h,t,1,\n" for i in range(11, 21))).encode(),
                            ["line 12", "missing label", "10 of 20 rows"]),
    "single class": ((HEADER + "".join(f"{i},24h,text {i},1,a\n" for i in range(1, 20))).encode(),
                     ["only one class ('a')"]),
    "conflicting duplicate ids": ((HEADER + good_lines(5) + "3,24h,again,1,a\n").encode(),
                                  ["line 7", "id '3' appears again with a different label ('a'; line 4 has 'b')"]),
    "duplicate header column": (b"text,text,label\na,b,c\n", ["line 1", "column 'text' appears twice"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_clear_line(tmp_path, case):
    content, expected = CASES[case]
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_bytes(content)
    result = CliRunner().invoke(app, ["train", str(path), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}: ")
    for needle in expected:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_folder_is_not_a_data_file(tmp_path):
    result = CliRunner().invoke(app, ["explore", str(tmp_path), "--out", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {tmp_path}: is a folder, not a data file"


def test_not_parquet_although_named_so(tmp_path):
    path = tmp_path / "d.parquet"
    path.write_text("text,label\na,b\n")
    result = CliRunner().invoke(app, ["train", str(path), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 1
    assert "not a Parquet file" in result.stderr


def test_parquet_errors_name_the_row(tmp_path):
    rows = make_rows(30)
    for r in rows[5:]:
        r["cleaned_hm"] = ""
    path = tmp_path / "d.parquet"
    pd.DataFrame(rows).to_parquet(path)
    result = CliRunner().invoke(app, ["train", str(path), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 1
    assert f"{path}: row 6: empty text (25 of 30 rows" in result.stderr


def test_bad_model_parameter_is_reported_before_reading_data(tmp_path, small_csv):
    result = CliRunner().invoke(app, ["train", str(small_csv), "--set", "C=-1", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "bad parameters for model 'tfidf-linear': C:" in result.stderr
    result = CliRunner().invoke(app, ["train", str(small_csv), "--set", "colour=red", "--out", str(tmp_path)])
    assert "colour: Extra inputs are not permitted" in result.stderr
    result = CliRunner().invoke(app, ["train", str(small_csv), "--model", "nope", "--out", str(tmp_path)])
    assert "unknown model 'nope'; choose one of: attention, bigru, bilstm, bilstm2, capsule, cnn, contextual, ensemble, " \
           "fasttext, gru, lstm, tfidf-linear, transformer, w2v-dense, w2v-dense2" in result.stderr


def test_real_command_prints_no_traceback(tmp_path):
    path = write_csv(tmp_path / "d.csv", [{"text": "x", "label": "a"}, {"text": "y", "label": "a"}])
    proc = subprocess.run([sys.executable, "-m", "textladder.cli", "train", str(path), "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"error: {path}: only one class ('a') in column 'label'; a classifier needs at least two"
