"""The neural rungs' thread count and OpenMP's waiting: chosen from what this process may use."""

from __future__ import annotations

import os
import subprocess
import sys

from textladder.engine import available_cpus
from textladder.threads import thread_count


def test_thread_count_follows_the_option_then_the_environment_then_the_cpus(monkeypatch):
    monkeypatch.delenv("TEXTLADDER_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert thread_count() == available_cpus() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what Ray gives a one-CPU task
    assert thread_count() == 1
    monkeypatch.setenv("TEXTLADDER_THREADS", "3")
    assert thread_count() == 3 and thread_count(5) == 5


def test_affinity_limits_the_cpus_and_openmp_waits_passively_in_a_fresh_process():
    code = ("import os; os.sched_setaffinity(0, {0}); import textladder, torch;"
            "from textladder.threads import apply; print(apply(), os.environ['OMP_WAIT_POLICY'])")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "TEXTLADDER_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out == ["1", "PASSIVE"]
    env["OMP_WAIT_POLICY"] = "ACTIVE"  # the user's own setting wins
    code = "import textladder, os; print(os.environ['OMP_WAIT_POLICY'])"
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout.strip() == "ACTIVE"


def test_the_threads_option_reaches_the_environment(monkeypatch):
    from typer.testing import CliRunner

    from textladder.cli import app

    monkeypatch.delenv("TEXTLADDER_THREADS", raising=False)
    result = CliRunner().invoke(app, ["--threads", "1", "models"])
    assert result.exit_code == 0 and os.environ.pop("TEXTLADDER_THREADS") == "1"
