"""The server's edges (issue 13): no request gets a 500, bodies and headers are bounded, docs work
offline, optional API key and CORS, and the contextual cache does not grow while serving."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from conftest import make_rows, start_server, write_csv
from fastapi.testclient import TestClient

from textladder.config import DataConfig, RunConfig
from textladder.ensembles import build
from textladder.export import export
from textladder.models import names
from textladder.runs import Run
from textladder.serve import create_app
from textladder.training import train

EDGE_TEXTS = ["a", "ab", " ", "\t\n", "", "😀", "🎉🎉", "zzqx", "xqzzy wwvvk", "a\x00b", "got promoted", "x" * 500]
BAD_UNICODE = "\ud800"


def post(client, payload: dict, **headers):
    # json.dumps escapes a lone surrogate as \ud800, which is what a client in another language may send
    return client.post("/predict", content=json.dumps(payload), headers={"content-type": "application/json",
                                                                        **headers})


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_encoder, model_cache) -> dict[str, Path]:
    """A tiny run of every registered rung, the two votes over three of them, and ONNX copies."""
    root = tmp_path_factory.mktemp("edges")
    data = write_csv(root / "d.csv", make_rows(150))
    out = {}
    for name in names():
        if name == "ensemble":
            continue
        params = {"tfidf-linear": {"min_df": 1}, "fasttext": {"epochs": 3}}.get(name, {"epochs": 1})
        if name in ("contextual", "transformer"):
            params["encoder"] = str(tiny_encoder)
        out[name] = train(RunConfig(model=name, params=params, data=DataConfig(path=str(data))), root / "runs")
    members = [Run.open(out[n]) for n in ("tfidf-linear", "fasttext", "cnn")]
    for vote in ("soft", "hard"):
        out[f"ensemble-{vote}"] = build(members, vote=vote, runs_dir=root / "runs")
    for name in ("cnn", "attention", "lstm", "transformer"):
        copy = root / "onnx" / name
        import shutil

        shutil.copytree(out[name], copy)
        export(Run.open(copy), int8=name == "transformer")
        out[f"{name}-onnx"] = copy
    return out


def test_no_text_ever_gets_a_500(runs):
    for name, path in runs.items():
        client = TestClient(create_app(path), raise_server_exceptions=False)
        for text in EDGE_TEXTS:
            r = post(client, {"texts": [text]})
            assert r.status_code == 200, (name, text, r.text)
            p = r.json()["predictions"][0]["probabilities"]
            assert abs(sum(p.values()) - 1) < 1e-3, (name, text)
        r = post(client, {"texts": EDGE_TEXTS})
        assert r.status_code == 200, (name, r.text)
        r = post(client, {"texts": ["fine", BAD_UNICODE]})
        assert r.status_code == 422, (name, r.text)
        assert r.json()["error"].startswith("texts[1]: not valid Unicode (a lone surrogate \\ud800")


def test_a_text_the_model_cannot_score_is_a_422_naming_it(runs, monkeypatch):
    from textladder.models.linear import TfidfLinear

    real = TfidfLinear.predict_proba

    def picky(self, X):
        if X["text"].str.contains("boom").any():
            raise RuntimeError("cannot handle boom")
        return real(self, X)

    monkeypatch.setattr(TfidfLinear, "predict_proba", picky)
    client = TestClient(create_app(runs["tfidf-linear"]), raise_server_exceptions=False)
    r = post(client, {"texts": ["fine", "also fine", "a boom here"]})
    assert r.status_code == 422
    assert r.json()["error"] == "texts[2]: the model cannot score this text (RuntimeError: cannot handle boom)"
    assert post(client, {"texts": ["fine"]}).status_code == 200


def test_docs_and_redoc_load_nothing_from_the_network(runs):
    client = TestClient(create_app(runs["tfidf-linear"]))
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        urls = [u for u in html.replace("'", '"').split('"') if u.startswith(("http:", "https:", "//"))]
        assert urls == [], (page, urls)
    assets = ["/static-offline-docs/swagger-ui-bundle.js", "/static-offline-docs/swagger-ui.css",
              "/static-offline-docs/redoc.standalone.js"]
    for asset in assets:
        r = client.get(asset)
        assert r.status_code == 200 and len(r.content) > 100_000, asset
    off = TestClient(create_app(runs["tfidf-linear"], docs=False))
    assert off.get("/docs").status_code == 404 and off.get("/openapi.json").status_code == 404


def test_bodies_are_bounded_before_they_are_read(runs):
    client = TestClient(create_app(runs["tfidf-linear"], max_body=64 * 1024))
    big = json.dumps({"texts": ["hi"] * 40_000})
    r = client.post("/predict", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "more than the limit of 65,536" in r.json()["error"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(100):
            yield b"[" + b'"hi",' * 200

    r = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "over the limit of 65,536 bytes" in r.json()["error"]
    deep = '{"texts": ' + "[" * 5000 + "]" * 5000 + "}"
    r = client.post("/predict", content=deep, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "nested deeper than 16 levels" in r.json()["error"]
    strings = json.dumps({"texts": ["[[[[[[[[[[[[[[[[[[[[ brackets in a text are fine"]})
    assert client.post("/predict", content=strings, headers={"content-type": "application/json"}).status_code == 200


def test_api_key_and_cors(runs):
    client = TestClient(create_app(runs["tfidf-linear"], api_key="s3cret"))
    assert client.get("/health").status_code == 200
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "s3cret"}):
        r = post(client, {"texts": ["hi"]}, **headers)
        assert r.status_code == 401 and "API key" in r.json()["error"], headers
        assert client.get("/model", headers=headers).status_code == 401
    assert post(client, {"texts": ["hi"]}, authorization="Bearer s3cret").status_code == 200
    preflight = {"origin": "http://app.example", "access-control-request-method": "POST"}
    closed = TestClient(create_app(runs["tfidf-linear"]))
    assert "access-control-allow-origin" not in closed.options("/predict", headers=preflight).headers
    assert "access-control-allow-origin" not in closed.get("/health", headers={"origin": "http://app.example"}).headers
    opened = TestClient(create_app(runs["tfidf-linear"], cors_origin="http://app.example"))
    r = opened.options("/predict", headers=preflight)
    assert r.headers.get("access-control-allow-origin") == "http://app.example"
    other = opened.options("/predict", headers={**preflight, "origin": "http://evil.example"})
    assert other.headers.get("access-control-allow-origin") != "http://evil.example"


def test_serving_does_not_grow_the_sentence_cache(runs, model_cache):
    db = next((model_cache / "sentences").glob("*.sqlite"))
    count = lambda: sqlite3.connect(db).execute("SELECT COUNT(*) FROM emb").fetchone()[0]  # noqa: E731
    before = count()
    client = TestClient(create_app(runs["contextual"]))
    for i in range(20):
        assert post(client, {"texts": [f"a text never seen before number {i}"]}).status_code == 200
    assert count() == before


# -- the real server on 127.0.0.1 ---------------------------------------------------------------

def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def server(runs):
    proc, port = start_server(runs["tfidf-linear"], "--header-timeout", "1", "--body-timeout", "1")
    yield proc, port
    proc.terminate()
    proc.wait(timeout=20)


def test_a_100_mb_body_is_refused_unread_and_memory_stays_flat(server):
    proc, port = server
    before = _rss_mb(proc.pid)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 104857600\r\n\r\n")
        block = b'["hi",' * 10_000
        sent = 0
        answer = b""
        try:
            while sent < 100 * 1024 * 1024:
                s.sendall(block)
                sent += len(block)
                s.setblocking(False)
                try:
                    answer += s.recv(65536)
                except BlockingIOError:
                    pass
                s.setblocking(True)
                if answer:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        s.settimeout(10)
        try:
            answer += s.recv(65536)
        except OSError:
            pass
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 20 * 1024 * 1024  # refused long before the body was sent
    assert _rss_mb(proc.pid) - before < 30
    assert httpx.post(f"http://127.0.0.1:{port}/predict", json={"texts": ["hugged my son"]}).status_code == 200


def test_half_sent_headers_do_not_hold_sockets(server):
    proc, port = server
    socks = []
    for _ in range(200):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Ty")
        socks.append(s)
    time.sleep(2.5)  # --header-timeout 1
    closed = 0
    for s in socks:
        try:
            s.settimeout(2)
            closed += s.recv(100) == b""
        except OSError:
            closed += 1
        s.close()
    assert closed == len(socks)
    assert httpx.post(f"http://127.0.0.1:{port}/predict", json={"texts": ["hugged my son"]}).status_code == 200


def test_a_body_that_stops_arriving_ends_with_408(server):
    proc, port = server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{\"texts\": [")
        started = time.time()
        answer = b""
        while chunk := s.recv(65536):  # the server closes the connection after its answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"stopped arriving for 1 s" in answer and time.time() - started < 5
