"""Readers, formats, validation and splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import make_rows, write_csv
from sklearn.model_selection import train_test_split

from textladder.data import SplitConfig, load_dataset, make_split
from textladder.data.formats import detect
from textladder.data.reader import iter_chunks, read_table
from textladder.errors import TextladderError


def test_crlf_and_quoted_line_breaks_keep_records_and_lines(small_csv):
    frame = read_table(small_csv)
    assert len(frame) == 120
    # row 0 has a quoted CRLF inside, so it spans lines 2-3 and the next record starts on line 4
    assert frame["_line"].tolist()[:3] == [2, 4, 5]
    assert frame["cleaned_hm"].iat[0].startswith('"Quoted", with a comma\r\nand a second line')


def test_lone_carriage_return_is_data_not_a_line_break(tmp_path):
    p = tmp_path / "cr.csv"
    p.write_bytes(b'text,label\r\n"a\rb",x\r\nc,y\r\n')
    frame = read_table(p)
    assert frame["text"].tolist() == ["a\rb", "c"]
    assert frame["_line"].tolist() == [2, 3]


def test_chunks_are_bounded_and_lazy(small_csv):
    chunks = iter_chunks(small_csv, chunk_size=50)
    first = next(chunks)
    assert len(first) == 50
    assert [len(c) for c in chunks] == [50, 20]


def test_parquet_reads_with_row_numbers(tmp_path):
    p = tmp_path / "d.parquet"
    pd.DataFrame(make_rows(30)).to_parquet(p)
    ds = load_dataset(p)
    assert ds.format == "hackerearth" and len(ds) == 30 and ds.line_kind == "row"
    assert ds.lines[:3].tolist() == [1, 2, 3]


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (["hmid", "wid", "reflection_period", "original_hm", "cleaned_hm", "modified", "num_sentence",
          "ground_truth_category", "predicted_category"], ("happydb", "cleaned_hm", "predicted_category")),
        (["hmid", "reflection_period", "cleaned_hm", "num_sentence", "predicted_category"],
         ("hackerearth", "cleaned_hm", "predicted_category")),
        (["hmid", "reflection_period", "cleaned_hm", "num_sentence"], ("hackerearth", "cleaned_hm", "predicted_category")),
        (["id", "period", "response", "n", "sentiment"], ("blog", "response", "sentiment")),
        (["Text", "Label"], ("generic", "Text", "Label")),
    ],
)
def test_format_detection(columns, expected):
    fmt = detect(columns)
    assert (fmt.name, fmt.text, fmt.label) == expected


def test_unknown_format_needs_columns(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("body,tag\nhello,a\nbye,b\n")
    with pytest.raises(TextladderError, match="unknown format.*text_col=COL"):
        load_dataset(p)
    ds = load_dataset(p, text_col="body", label_col="tag")
    assert ds.format == "generic" and ds.classes == ["a", "b"]


def test_blog_format_loads(tmp_path):
    rows = [{"id": r["hmid"], "period": r["reflection_period"], "response": r["cleaned_hm"], "n": "1",
             "sentiment": r["predicted_category"]} for r in make_rows(30)]
    ds = load_dataset(write_csv(tmp_path / "blog.csv", rows))
    assert ds.format == "blog" and ds.columns.period == "period" and len(ds) == 30


def test_happydb_cleaned_format_loads(tmp_path):
    rows = [{"hmid": r["hmid"], "wid": "7", "reflection_period": r["reflection_period"], "original_hm": r["cleaned_hm"],
             "cleaned_hm": r["cleaned_hm"], "modified": "True", "num_sentence": "1", "ground_truth_category": "",
             "predicted_category": r["predicted_category"]} for r in make_rows(30)]
    ds = load_dataset(write_csv(tmp_path / "cleaned_hm.csv", rows))
    assert ds.format == "happydb" and ds.columns.label == "predicted_category" and len(ds) == 30


def test_identical_duplicate_ids_are_dropped_with_a_warning(tmp_path, caplog):
    rows = make_rows(30)
    rows.append(dict(rows[3]))
    ds = load_dataset(write_csv(tmp_path / "d.csv", rows))
    assert len(ds) == 30 and ds.dropped == {"duplicate id": 1}
    assert "same label" in caplog.text


def test_a_few_empty_texts_are_dropped_and_counted(tmp_path, caplog):
    rows = make_rows(100)
    rows[10]["cleaned_hm"] = "  "
    ds = load_dataset(write_csv(tmp_path / "d.csv", rows, newline="\n"))
    assert len(ds) == 99 and ds.dropped == {"empty text": 1}
    assert "dropped 1 of 100 rows with empty text" in caplog.text


def test_stratified_split_is_seeded_and_disjoint():
    labels = np.array(["a"] * 70 + ["b"] * 20 + ["c"] * 10)
    s1 = make_split(labels, SplitConfig(method="stratified", test_size=0.2, val_size=0.25, seed=3).resolve("generic"))
    s2 = make_split(labels, SplitConfig(method="stratified", test_size=0.2, val_size=0.25, seed=3).resolve("generic"))
    s3 = make_split(labels, SplitConfig(method="stratified", test_size=0.2, val_size=0.25, seed=4).resolve("generic"))
    assert np.array_equal(s1.test, s2.test) and not np.array_equal(s1.test, s3.test)
    assert len(set(s1.train) | set(s1.val) | set(s1.test)) == 100
    assert (labels[s1.test] == "c").sum() == 2  # stratified: 10% of test is class c


def test_split_with_a_tiny_class_says_which_class():
    labels = np.array(["a"] * 50 + ["b"])
    with pytest.raises(TextladderError, match="class 'b' has only 1 row: .* min_class_rows=3"):
        make_split(labels, SplitConfig().resolve("generic"))


def test_real_hm_train_has_exactly_60321_records(hm_train):
    ds = load_dataset(hm_train)
    assert ds.format == "hackerearth"
    assert len(ds) == 60_321
    assert ds.lines.max() == 62_359  # the last record starts on the file's last line
    assert ds.class_counts() == {"affection": 20880, "achievement": 20274, "bonding": 6561,
                                 "enjoy_the_moment": 6508, "leisure": 4242, "nature": 1127, "exercise": 729}


def test_reference_split_matches_sklearn_exactly(hm_train):
    ds = load_dataset(hm_train)
    split = make_split(ds.labels, SplitConfig().resolve(ds.format))
    assert (len(split.train), len(split.val), len(split.test)) == (46_172, 8_149, 6_000)
    df = pd.read_csv(hm_train, dtype={"hmid": str})
    rest, test = train_test_split(df, test_size=6000, random_state=42, stratify=df["predicted_category"])
    train, val = train_test_split(rest, test_size=0.15, random_state=42, stratify=rest["predicted_category"])
    assert set(ds.ids[split.test]) == set(test["hmid"])
    assert set(ds.ids[split.val]) == set(val["hmid"])
    assert set(ds.ids[split.train]) == set(train["hmid"])
