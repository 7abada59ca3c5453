"""Trust on HappyDB: calibration of every run, abstention of the best, and the mislabeled-row finder.

    # calibration and abstention of every run in a runs folder (e.g. after `textladder ladder --config quick`)
    python benchmarks/trust.py --runs /tmp/bench-quick
    # label issues: cross-validates (5 folds) the rungs named, in RUNS, unless done already, then checks the
    # rows flagged against HappyDB's human labels
    python benchmarks/trust.py --issues /tmp/bench-issues --issue-rungs tfidf-linear fasttext contextual
    # ... and the finder that learns from the rows people checked (--trusted), beside confident learning
    python benchmarks/trust.py --issues /tmp/bench-issues --issue-rungs tfidf-linear fasttext contextual --trusted
    # the same finder on a copy of HappyDB with 3% of its labels flipped at random
    python benchmarks/trust.py --inject /tmp/bench-inject

Calibration: test ECE (15 bins), Brier and log loss before and after each run's temperature (target:
ECE <= 0.02 after). Abstention: for the best run on validation, the lowest confidence threshold that
reaches 0.95 / 0.98 / 0.99 accuracy on validation, and the coverage and accuracy it gives on test.
Label issues: among the top 200 flagged train+val rows that have a human label, the share whose human
label differs from `predicted_category`, against the same share over every train+val row with one
(target: at least 5 times that base rate). With --trusted, every choice of runs is also ranked by
`label-issues --trusted ground_truth_train.csv`: a model of where people disagree, learned from the human
labels of *other* rows (each checked row is scored by models that never saw its own human label), so the
same measure stays honest; its top 200 are taken from the whole ranking when fewer are flagged.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd
from _common import HM_TRAIN, machine, print_table

from textladder.calibration import selective, threshold_for
from textladder.ranking import leaderboard
from textladder.runs import Run, list_runs

HUMAN = HM_TRAIN.parent / "ground_truth_train.csv"
# The tfidf-linear configuration the searches chose on HappyDB (docs/BENCHMARKS.md "Search"): fast and strong
ISSUE_CONFIGS = {"tfidf-linear": {"token_pattern": r"(?u)\b\w\w+\b", "ngram_max": 1, "use_idf": True,
                                  "sublinear_tf": False, "min_df": 4, "max_features": 100_000, "C": 15.0},
                 "fasttext": {}, "contextual": {}}


def calibration(runs: list[Run]) -> None:
    rows, by_name = [], {r.name: r for r in runs}
    for row in leaderboard(runs):
        m = by_name[row["run"]].metrics
        test, before, cal = m["test"], m["test"].get("uncalibrated", {}), m.get("calibration", {})
        rows.append({"run": row["run"], "model": row["model"], "T": f"{cal.get('temperature', 1):.3f}",
                     "ECE before": f"{before.get('ece', float('nan')):.4f}", "ECE after": f"{test['ece']:.4f}",
                     "Brier before": f"{before.get('brier', float('nan')):.4f}", "Brier after": f"{test['brier']:.4f}",
                     "log loss before": f"{before.get('log_loss', float('nan')):.4f}",
                     "log loss after": f"{test['log_loss']:.4f}", "<= 0.02": "yes" if test["ece"] <= 0.02 else "NO"})
    print_table(rows, "Calibration on the test split (temperature fitted on validation, or out-of-fold rows)")


def abstention(runs: list[Run]) -> None:
    best = {r.name: r for r in runs}[leaderboard(runs)[0]["run"]]
    (_, val), y_val = best.predictions("val"), best.truth("val")
    (_, test), y_test = best.predictions("test"), best.truth("test")
    rows = []
    for target in (0.95, 0.98, 0.99):
        t = threshold_for(val, y_val, target)
        oracle = threshold_for(test, y_test, target)
        got = selective(test, y_test, t) if t is not None else {}
        rows.append({"target": target, "threshold (val)": "-" if t is None else f"{t:.4f}",
                     "test coverage": f"{got.get('coverage', 0):.1%}", "test accuracy": f"{got.get('accuracy') or 0:.4f}",
                     "coverage if chosen on test": f"{selective(test, y_test, oracle)['coverage']:.1%}"
                     if oracle is not None else "-"})
    print_table(rows, f"Abstention: {best.name} ({best.config.model}), test accuracy at full coverage "
                      f"{(test.argmax(1) == y_test).mean():.4f}")


def issues(runs_dir: Path, rungs: list[str], top: int = 200, trusted: bool = False,
           seeds: tuple[int, ...] = (42,)) -> None:
    import textladder
    from textladder.label_issues import find_label_issues

    runs_dir.mkdir(parents=True, exist_ok=True)
    have = {r.config.model for r in list_runs(runs_dir) if r.config.cv}
    for rung in rungs:
        if rung not in have:
            t = time.time()
            textladder.train(HM_TRAIN, model=rung, out=runs_dir, cv=5, **ISSUE_CONFIGS.get(rung, {}))
            print(f"cross-validated {rung} in {time.time() - t:.0f} s")
    human = pd.read_csv(HUMAN, dtype={"hmid": str}).set_index("hmid")["ground_truth_category"]
    given = pd.read_csv(HM_TRAIN, usecols=["hmid", "predicted_category"], dtype={"hmid": str}).set_index("hmid")
    given = given["predicted_category"]
    rows = []
    every = [r for r in list_runs(runs_dir) if r.config.cv]
    choices = [[r] for r in every] + ([every] if len(every) > 1 else [])
    for chosen in choices:
        sub = runs_dir / ".bench-issues"
        sub.mkdir(exist_ok=True)
        for old in sub.iterdir():
            old.unlink()
        for r in chosen:  # a folder holding only these runs (links), so that only their probabilities are averaged
            (sub / r.name).symlink_to(r.path.resolve())
        oof = Run.open(chosen[0].path).predictions("oof")[0]
        labelled = [i for i in oof if i in human.index]
        base = float((human[labelled] != given[labelled]).mean())
        mine = seeds if len(chosen) == len(every) else seeds[:1]  # every seed for the runs together only
        ways = [("confident learning", None)] + [("trusted: learned from other rows' human labels", seed)
                                                 for seed in (mine if trusted else ())]
        for how, seed in ways:
            t = time.time()
            if seed is None:
                found = find_label_issues(HM_TRAIN, sub)
                flagged_n = len(found.issues)
                ranked = found.issues
            else:  # the whole ranking; the flagged rows are as many as the scores add up to
                found = find_label_issues(HM_TRAIN, sub, trusted=HUMAN, top=10**9, seed=seed)
                flagged_n = max(1, round(found.issues["score"].sum()))
                ranked = found.issues
            seconds = time.time() - t
            with_human = ranked[ranked["id"].isin(human.index)]
            within = with_human[with_human.index < flagged_n].head(top)
            picked = with_human.head(top)
            share = float((human[picked["id"]].to_numpy() != picked["given_label"].to_numpy()).mean())
            share_within = float((human[within["id"]].to_numpy() != within["given_label"].to_numpy()).mean())
            wrong = human[picked["id"]].to_numpy() != picked["given_label"].to_numpy()
            suggested_right = human[picked["id"]].to_numpy() == picked["suggested_label"].to_numpy()
            agrees = float(suggested_right[wrong].mean()) if wrong.any() else float("nan")
            rows.append({"out-of-fold probabilities of": " + ".join(r.config.model for r in chosen),
                         "ranking": how if seed is None else f"{how} (folds' seed {seed})",
                         "flagged": f"{flagged_n:,} of {found.rows:,}",
                         "flagged with a human label: human != given":
                             f"{share_within:.1%} of {len(within)} ({share_within / base:.1f}x)",
                         f"top {top} with a human label: human != given": f"{share:.1%}",
                         "base rate": f"{base:.1%} ({len(labelled):,} rows)", "ratio": f"{share / base:.1f}x",
                         "suggested == human, where human != given": "-" if wrong.sum() == 0 else f"{agrees:.0%}",
                         "5x met": "yes" if share >= 5 * base else "NO", "seconds": f"{seconds:.1f}"})
            print(rows[-1], flush=True)
    print_table(rows, "Label issues on HappyDB's train+val rows")


def injected(runs_dir: Path, share: float = 0.03, top: int = 200) -> None:
    """The finder on HappyDB's texts with noise it is built for: ``share`` of the rows given another class
    at random (a copy of the file), cross-validated tfidf-linear, precision and recall of the flagged rows."""
    import numpy as np

    import textladder
    from textladder.label_issues import find_label_issues

    runs_dir.mkdir(parents=True, exist_ok=True)
    frame = pd.read_csv(HM_TRAIN, dtype={"hmid": str}, keep_default_na=False)
    rng = np.random.default_rng(0)
    flip = rng.random(len(frame)) < share
    classes = sorted(frame["predicted_category"].unique())
    frame.loc[flip, "predicted_category"] = [rng.choice([c for c in classes if c != v])
                                             for v in frame.loc[flip, "predicted_category"]]
    noisy = runs_dir / "hm_train_noisy.csv"
    if not noisy.is_file():
        frame.to_csv(noisy, index=False)
    if not [r for r in list_runs(runs_dir) if r.config.cv]:
        textladder.train(noisy, model="tfidf-linear", out=runs_dir, cv=5, **ISSUE_CONFIGS["tfidf-linear"])
    found = find_label_issues(noisy, runs_dir)
    flipped = set(frame.loc[flip, "hmid"])
    oof = set(Run.open(next(r.path for r in list_runs(runs_dir) if r.config.cv)).predictions("oof")[0])
    truth = flipped & oof
    ids = found.issues["id"]
    rows = [{"injected flips (train+val)": f"{len(truth):,} of {len(oof):,} ({len(truth) / len(oof):.1%})",
             "flagged": f"{len(ids):,}", f"precision of the top {top}": f"{ids.head(top).isin(truth).mean():.1%}",
             f"precision of the top {len(truth):,}": f"{ids.head(len(truth)).isin(truth).mean():.1%}",
             "precision of all flagged": f"{ids.isin(truth).mean():.1%}",
             "recall of all flagged": f"{ids.isin(truth).sum() / len(truth):.1%}"}]
    print_table(rows, f"Label issues with {share:.0%} of HappyDB's labels flipped at random (tfidf-linear, 5 folds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, help="runs folder to report calibration and abstention of")
    parser.add_argument("--issues", type=Path, help="runs folder for the cross-validated runs of the label issues")
    parser.add_argument("--issue-rungs", nargs="+", default=["tfidf-linear", "fasttext"])
    parser.add_argument("--trusted", action="store_true", help="also rank with label-issues --trusted (human labels "
                                                               "of other rows, cross-fitted)")
    parser.add_argument("--trusted-seeds", type=int, nargs="+", default=[42], help="the trusted ranking's folds, "
                                                                                    "drawn with each of these seeds "
                                                                                    "(all runs together; one run: "
                                                                                    "the first seed)")
    parser.add_argument("--inject", type=Path, help="runs folder for the label issues of a copy with 3%% of the "
                                                    "labels flipped at random")
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    if args.runs:
        runs = list_runs(args.runs)
        calibration(runs)
        abstention(runs)
    if args.issues:
        issues(args.issues, args.issue_rungs, trusted=args.trusted, seeds=tuple(args.trusted_seeds))
    if args.inject:
        injected(args.inject)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
