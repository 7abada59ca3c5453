"""Helpers shared by the benchmarks: the data path, a machine line, table printing."""

from __future__ import annotations

import os
import platform
from datetime import date
from pathlib import Path

# A finished run of the same config in the output folder is read back, not trained again, and an
# interrupted neural rung goes on from its last epoch: the same rule as ``textladder ladder``.
from textladder.ladder import finished, train_or_resume  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
HM_TRAIN = Path(os.environ.get("TEXTLADDER_DATA", ROOT.parent / "shared" / "data" / "happydb" / "hm_train.csv"))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {date.today().isoformat()}"


def print_table(rows: list[dict], title: str) -> None:
    cols = list(rows[0])
    width = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print(f"\n{title}\n")
    print("| " + " | ".join(c.ljust(width[c]) for c in cols) + " |")
    print("|" + "|".join("-" * (width[c] + 2) for c in cols) + "|")
    for r in rows:
        print("| " + " | ".join(str(r[c]).ljust(width[c]) for c in cols) + " |")


def parse_sets(values: list[str]) -> dict:
    """``KEY=VALUE`` strings (JSON values) -> a dict."""
    import json

    out = {}
    for item in values:
        key, raw = item.split("=", 1)
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def start_server(run: Path, *args: str):
    """Start ``textladder serve RUN ARGS`` on a free 127.0.0.1 port and wait for ``/health``.
    Returns ``(process, url, seconds to ready)``; stop it with ``process.terminate()``."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "textladder.cli", "serve", str(run), "--port", str(port), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "TEXTLADDER_API_KEY": ""})
    t = time.time()
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url, time.time() - t
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.time() - t > 300:
            proc.kill()
            raise SystemExit("the server did not start")
        time.sleep(0.25)
