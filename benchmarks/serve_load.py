"""Load test of ``textladder serve`` on 127.0.0.1: latency and throughput at 1, 8 and 32 concurrent clients.

    .venv/bin/python benchmarks/serve_load.py RUN [--requests 400] [--seconds 30] [--clients 1,8,32] [--batch 1]

Starts the real server (``textladder serve RUN`` in its own process, one worker), waits for
``/health``, then for each client count sends ``--requests`` requests of ``--batch`` HappyDB test
texts each (bounded also by ``--seconds``), every client one request at a time. Prints p50 and
p99 latency, requests per second, texts per second and the error count (any non-200 answer or
failed connection; it must be 0).
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from _common import machine, print_table, start_server


def _texts(run_path: Path, n: int) -> list[str]:
    from textladder.runs import run_test_split
    from textladder.runs import Run

    ds = run_test_split(Run.open(run_path))
    return [str(t) for t in ds.texts[:n]]


def _load(url: str, texts: list[str], clients: int, requests: int, seconds: float, batch: int) -> dict:
    deadline = time.time() + seconds
    latencies, errors = [], 0
    counter = iter(range(requests))

    def client_loop():
        nonlocal errors
        with httpx.Client(timeout=60) as http:
            for i in counter:
                if time.time() > deadline:
                    return
                body = {"texts": [texts[(i * batch + k) % len(texts)] for k in range(batch)]}
                t = time.perf_counter()
                try:
                    ok = http.post(f"{url}/predict", json=body).status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t)
                errors += not ok

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for f in [pool.submit(client_loop) for _ in range(clients)]:
            f.result()
    wall = time.perf_counter() - start
    lat = np.array(latencies) * 1000
    return {"clients": clients, "requests": len(lat), "p50 ms": f"{np.percentile(lat, 50):.1f}",
            "p99 ms": f"{np.percentile(lat, 99):.1f}", "requests/s": f"{len(lat) / wall:.1f}",
            "texts/s": f"{len(lat) * batch / wall:.0f}", "errors": errors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--batch", type=int, default=1, help="texts per request")
    args = ap.parse_args()
    texts = _texts(args.run, 2000)
    proc, url, startup = start_server(args.run)
    try:
        _load(url, texts, 1, 20, 10, args.batch)  # warm-up, not reported
        rows = [_load(url, texts, int(c), args.requests, args.seconds, args.batch) for c in args.clients.split(",")]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print_table(rows, f"textladder serve {args.run.name} on 127.0.0.1, one worker, {args.batch} text(s) per "
                      f"request, at most {args.requests} requests or {args.seconds:.0f} s per row; server ready "
                      f"in {startup:.1f} s; {machine()}")


if __name__ == "__main__":
    main()
