"""``textladder serve`` under a mixed good and bad load on 127.0.0.1: status codes, latency, memory.

    .venv/bin/python benchmarks/serve_hostile.py [RUN] [--clients 64] [--seconds 30] [--out DIR]

Without RUN, trains (or reads back) a ``fasttext`` run on HappyDB's reference split in ``--out``.
Starts the real server (one worker, defaults: 4 MB body limit, 10 s header timeout), then
``--clients`` threads send requests for ``--seconds``, each drawn at random from a fixed mix:
good requests of 1 to 8 HappyDB test texts, edge texts (one character, whitespace, emoji,
unknown words), and bad ones (broken JSON, wrong types, an empty list, too many texts, a too-long
text, a lone surrogate, JSON nested 10,000 deep, a 6 MB body). Meanwhile 200 sockets send half a
request header and stall. Prints the answers by status and kind, p50/p99 latency of the good
requests and of all, the server's memory before and after, and whether the stalled sockets were
closed. A 500 (or a refused connection) is a failure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from _common import HM_TRAIN, machine, print_table, start_server

EDGE = ["a", "ab", " ", "\t\n", "😀🎉", "zzqx wwvvk", "a\x00b"]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _run(args) -> Path:
    if args.run is not None:
        return args.run
    from _common import finished, train_or_resume

    from textladder.config import DataConfig, RunConfig

    config = RunConfig(model="fasttext", data=DataConfig(path=str(HM_TRAIN)))
    done = finished(args.out, config)
    return done.path if done is not None else train_or_resume(config, args.out)


def _requests(texts: list[str]):
    """(kind, body bytes) makers, with their weights."""
    def good(rng):
        return json.dumps({"texts": rng.sample(texts, rng.randint(1, 8))}).encode()

    def edge(rng):
        return json.dumps({"texts": rng.sample(EDGE, rng.randint(1, 3))}).encode()

    return [
        ("good", 60, good),
        ("edge texts", 10, edge),
        ("broken JSON", 4, lambda rng: b'{"texts": ["unclosed'),
        ("wrong types", 4, lambda rng: b'{"texts": [1, {"a": 2}]}'),
        ("empty list", 3, lambda rng: b'{"texts": []}'),
        ("too many texts", 3, lambda rng: json.dumps({"texts": ["hi"] * 1001}).encode()),
        ("too long text", 3, lambda rng: json.dumps({"texts": ["word " * 3000]}).encode()),
        ("lone surrogate", 4, lambda rng: b'{"texts": ["fine", "\\ud800"]}'),
        ("deep nesting", 3, lambda rng: b'{"texts": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"),
        ("6 MB body", 1, lambda rng: json.dumps({"texts": ["hi"] * 1_200_000}).encode()),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, nargs="?")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--stalled", type=int, default=200, help="sockets that send half a header and stall")
    ap.add_argument("--out", type=Path, default=Path("/tmp/textladder-bench-serve"))
    args = ap.parse_args()
    run = _run(args)
    from textladder.runs import Run, run_test_split

    texts = [str(t) for t in run_test_split(Run.open(run)).texts[:2000]]
    makers = _requests(texts)
    results: list[tuple[str, int, float]] = []
    proc, url, _ = start_server(run)
    port = int(url.rsplit(":", 1)[1])
    try:
        with httpx.Client(timeout=30) as http:  # warm-up, not reported
            for _ in range(20):
                http.post(f"{url}/predict", content=makers[0][2](random.Random(0)))
        before = _rss_mb(proc.pid)
        stalled = []
        for _ in range(args.stalled):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Ty")
            stalled.append(s)
        deadline = time.time() + args.seconds
        weights = [w for _, w, _ in makers]
        lock = threading.Lock()

        def client(seed: int) -> None:
            rng = random.Random(seed)
            with httpx.Client(timeout=60) as http:
                while time.time() < deadline:
                    kind, _, make = rng.choices(makers, weights)[0]
                    body = make(rng)
                    start = time.perf_counter()
                    try:
                        status = http.post(f"{url}/predict", content=body,
                                           headers={"content-type": "application/json"}).status_code
                    except httpx.HTTPError as exc:
                        status = f"no answer ({type(exc).__name__})"
                    with lock:
                        results.append((kind, status, time.perf_counter() - start))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        started = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - started
        after = _rss_mb(proc.pid)
        closed = 0
        for s in stalled:
            try:
                s.settimeout(1)
                closed += s.recv(100) == b""
            except OSError:
                closed += 1
            s.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    by = Counter((kind, status) for kind, status, _ in results)
    rows = [{"request": kind, "status": str(status), "count": n} for (kind, status), n in sorted(by.items(), key=str)]
    print_table(rows, f"textladder serve {run.name}: {args.clients} clients for {args.seconds:.0f} s on 127.0.0.1, "
                      f"one worker; {machine()}; load average {os.getloadavg()[0]:.2f}")
    lat = lambda kinds: np.array([d for k, _, d in results if k in kinds]) * 1000  # noqa: E731
    good, every = lat({"good"}), lat({k for k, _, _ in makers})
    statuses = Counter(str(s) for _, s, _ in results)
    summary = [{
        "requests": len(results), "requests/s": f"{len(results) / wall:.0f}",
        "good p50 ms": f"{np.percentile(good, 50):.1f}", "good p99 ms": f"{np.percentile(good, 99):.1f}",
        "all p50 ms": f"{np.percentile(every, 50):.1f}", "all p99 ms": f"{np.percentile(every, 99):.1f}",
        "500s": statuses.get("500", 0), "no answer": sum(n for s, n in statuses.items() if s.startswith("no")),
        "RSS before MB": f"{before:.0f}", "RSS after MB": f"{after:.0f}",
        "stalled sockets closed": f"{closed}/{len(stalled)}",
    }]
    print_table(summary, "summary (a stalled socket is closed by the server's 10 s header timeout)")
    if statuses.get("500", 0) or summary[0]["no answer"]:
        raise SystemExit("FAILED: a request got a 500 or no answer")


if __name__ == "__main__":
    main()
