"""textladder data fetch, against files served on 127.0.0.1: checksum, atomic writes, cut connections."""

from __future__ import annotations

import hashlib
import http.server
import threading

import pytest
from conftest import write_csv
from typer.testing import CliRunner

from textladder.cli import app
from textladder.data.fetch import fetch
from textladder.errors import TextladderError

HAPPYDB_COLUMNS = ["hmid", "wid", "reflection_period", "original_hm", "cleaned_hm", "modified", "num_sentence",
                   "ground_truth_category", "predicted_category"]


@pytest.fixture
def payload(tmp_path):
    rows = [{c: f"{c}{i}" for c in HAPPYDB_COLUMNS} for i in range(3000)]
    return write_csv(tmp_path / "src.csv", rows).read_bytes()


@pytest.fixture
def server(payload):
    """Serves /cleaned_hm.csv whole, /cut.csv cut half-way, /other.csv (wrong format), /missing -> 404."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path == "/cleaned_hm.csv":
                body, length = payload, len(payload)
            elif self.path == "/cut.csv":
                body, length = payload[: len(payload) // 2], len(payload)
            elif self.path == "/other.csv":
                body = b"a,b\n1,2\n"
                length = len(body)
            else:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_fetch_verifies_and_writes_atomically(server, payload, tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTLADDER_CACHE", str(tmp_path / "cache"))
    digest = hashlib.sha256(payload).hexdigest()
    result = CliRunner().invoke(app, ["data", "fetch", "happydb", "--url", f"{server}/cleaned_hm.csv",
                                      "--sha256", digest])
    assert result.exit_code == 0, result.output
    path = tmp_path / "cache" / "happydb" / "cleaned_hm.csv"
    assert result.stdout.strip().splitlines()[-1] == str(path)
    assert path.read_bytes() == payload
    assert f"sha256 {digest}" in result.stderr
    assert sorted(p.name for p in path.parent.iterdir()) == ["cleaned_hm.csv", "cleaned_hm.csv.sha256"]


def test_checksum_mismatch_saves_nothing(server, tmp_path):
    dest = tmp_path / "d" / "cleaned_hm.csv"
    with pytest.raises(TextladderError, match="sha256 mismatch: expected 0000"):
        fetch("happydb", url=f"{server}/cleaned_hm.csv", sha256="0" * 64, dest=dest)
    assert list(dest.parent.iterdir()) == []


def test_connection_cut_half_way_saves_nothing(server, payload, tmp_path):
    dest = tmp_path / "d" / "cleaned_hm.csv"
    result = CliRunner().invoke(app, ["data", "fetch", "happydb", "--url", f"{server}/cut.csv", "--dest", str(dest)])
    assert result.exit_code == 1
    assert "connection closed after" in result.stderr or "download failed after" in result.stderr
    assert f"of {len(payload):,} bytes" in result.stderr or "download failed" in result.stderr
    assert list(dest.parent.iterdir()) == []


def test_a_previous_good_copy_survives_a_failed_refetch(server, payload, tmp_path):
    dest = tmp_path / "d" / "cleaned_hm.csv"
    fetch("happydb", url=f"{server}/cleaned_hm.csv", dest=dest)
    with pytest.raises(TextladderError):
        fetch("happydb", url=f"{server}/cut.csv", dest=dest, force=True)
    assert dest.read_bytes() == payload


def test_recorded_checksum_is_enforced_on_the_next_fetch(server, payload, tmp_path):
    dest = tmp_path / "d" / "cleaned_hm.csv"
    fetch("happydb", url=f"{server}/cleaned_hm.csv", dest=dest)
    dest.write_bytes(payload[:-10])  # corrupted on disk
    assert fetch("happydb", url=f"{server}/cleaned_hm.csv", dest=dest) == dest  # re-downloaded
    assert dest.read_bytes() == payload


def test_wrong_format_and_http_errors(server, tmp_path):
    dest = tmp_path / "d" / "cleaned_hm.csv"
    with pytest.raises(TextladderError, match="not HappyDB cleaned_hm.csv"):
        fetch("happydb", url=f"{server}/other.csv", dest=dest)
    with pytest.raises(TextladderError, match="HTTP 404"):
        fetch("happydb", url=f"{server}/missing", dest=dest)
    with pytest.raises(TextladderError, match="unknown dataset 'imdb'"):
        fetch("imdb")
    assert list(dest.parent.iterdir()) == []


def test_fetched_file_trains(server, tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTLADDER_HAPPYDB_URL", f"{server}/cleaned_hm.csv")
    path = fetch("happydb", dest=tmp_path / "c" / "cleaned_hm.csv")
    from textladder.data import load_dataset

    ds = load_dataset(path, label_col="wid", max_drop=0)
    assert ds.format == "happydb" and len(ds) == 3000
