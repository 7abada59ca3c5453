"""Start-up: `textladder train` on a 60-row CSV against a plain 15-line scikit-learn script doing the same
(read, split, TF-IDF + logistic regression, score, save), and `textladder --help`; each command run
several times in fresh processes, alternating, medians compared.

    cd benchmarks && ../.venv/bin/python startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, print_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import make_rows, write_csv  # noqa: E402

PLAIN = r"""
import sys, pandas as pd, skops.io as sio
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
df = pd.read_csv(sys.argv[1])
rest, test = train_test_split(df, test_size=0.1, random_state=42, stratify=df.predicted_category)
train, val = train_test_split(rest, test_size=0.15, random_state=42, stratify=rest.predicted_category)
model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(C=20, max_iter=2000))
model.fit(train.cleaned_hm, train.predicted_category)
for part in (val, test):
    pred = model.predict(part.cleaned_hm)
    print(accuracy_score(part.predicted_category, pred), f1_score(part.predicted_category, pred, average="macro"))
sio.dump(model, sys.argv[2])
"""


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "MPLBACKEND": "Agg"})
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    tmp = Path(tempfile.mkdtemp())
    data = write_csv(tmp / "sixty.csv", make_rows(60))
    exe = str(Path(sys.executable).parent / "textladder")
    times: dict[str, list[float]] = {"plain scikit-learn script": [], "textladder train": [], "textladder --help": []}
    for i in range(args.repeats):
        times["plain scikit-learn script"].append(timed([sys.executable, "-c", PLAIN, str(data), str(tmp / f"m{i}.skops")]))
        times["textladder train"].append(timed([exe, "train", str(data), "--set", "min_df=1", "--out",
                                                str(tmp / "runs")]))
        times["textladder --help"].append(timed([exe, "--help"]))
    base = statistics.median(times["plain scikit-learn script"])
    rows = [{"command": k, "median s": f"{statistics.median(v):.2f}", "min s": f"{min(v):.2f}",
             "max s": f"{max(v):.2f}", "/ plain script": f"{statistics.median(v) / base:.2f}x" if "help" not in k else "-"}
            for k, v in times.items()]
    print_table(rows, f"Start-up, {args.repeats} fresh processes each, alternating (60-row CSV)")
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
