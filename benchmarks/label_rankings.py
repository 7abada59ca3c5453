"""Other ways to rank HappyDB's rows by how likely people disagree with their given label, from the
out-of-fold probabilities `trust.py --issues DIR` leaves (cross-validated runs of tfidf-linear, fasttext
and contextual): confident learning's own score (1 - p(given)), the entropy and the top-two margin of the
probabilities, p(given) near 0.5, and how far two models disagree. Each ranking is scored as trust.py
scores label-issues: of its top 200 rows that have a human label, the share where people disagree
with `predicted_category`, against the base rate. First, where people disagree by what is known of a
row without them (its given class, its length, its sentences, its reflection period): no group of 200
rows or more comes near 5 times the base rate.

    cd benchmarks && ../.venv/bin/python label_rankings.py --issues /tmp/bench-issues
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd
from _common import HM_TRAIN, machine, print_table

RUNGS = ("tfidf-linear", "fasttext", "contextual")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--issues", type=Path, required=True, help="the runs folder of trust.py --issues")
    ap.add_argument("--top", type=int, default=200)
    args = ap.parse_args()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    human = pd.read_csv(HM_TRAIN.parent / "ground_truth_train.csv", dtype={"hmid": str}).set_index("hmid")
    by_group(human)
    frames = {}
    for rung in RUNGS:
        found = sorted(args.issues.glob(f"{rung}-*/oof_predictions.csv"))
        if not found:
            raise SystemExit(f"{args.issues}: no cross-validated {rung} run (run trust.py --issues first)")
        frames[rung] = pd.read_csv(found[0], dtype={"id": str}).set_index("id")
    ids = frames[RUNGS[0]].index
    classes = [c[len("proba_"):] for c in frames[RUNGS[0]].columns if c.startswith("proba_")]
    given = frames[RUNGS[0]]["true"].to_numpy()
    col = np.array([classes.index(g) for g in given])
    prob = {r: f.loc[ids, [f"proba_{c}" for c in classes]].to_numpy() for r, f in frames.items()}
    labelled = ids.isin(human.index)
    disagree = (human["ground_truth_category"].reindex(ids).to_numpy() != given) & labelled
    base = disagree[labelled].mean()
    rows = np.arange(len(ids))

    def scored(name: str, score: np.ndarray) -> dict:
        top = [i for i in np.argsort(-score, kind="stable") if labelled[i]][: args.top]
        share = disagree[top].mean()
        return {"ranking": name, f"top {args.top}: human != given": f"{share:.1%}", "x base rate": f"{share / base:.1f}x"}

    table = []
    for rung, p in prob.items():
        given_p = p[rows, col]
        top2 = np.sort(p, axis=1)[:, -2:]
        table += [scored(f"{rung}: 1 - p(given) (confident learning's score)", 1 - given_p),
                  scored(f"{rung}: entropy", -(p * np.log(np.clip(p, 1e-12, 1))).sum(axis=1)),
                  scored(f"{rung}: smallest top-two margin", top2[:, 0] - top2[:, 1]),
                  scored(f"{rung}: p(given) nearest 0.5", -np.abs(given_p - 0.5))]
    mean = sum(prob.values()) / len(prob)
    table += [scored("all three averaged: 1 - p(given)", 1 - mean[rows, col]),
              scored("all three averaged: entropy", -(mean * np.log(np.clip(mean, 1e-12, 1))).sum(axis=1)),
              scored("tfidf-linear against contextual: L1 distance", np.abs(prob["contextual"] - prob["tfidf-linear"]).sum(1))]
    print_table(table, f"Rankings of {len(ids):,} train+val rows; {labelled.sum():,} have a human label, "
                       f"{base:.1%} of them disagree with the given one")


def by_group(human: pd.DataFrame) -> None:
    """The human-disagreement rate of the labelled rows by what a finder sees without human labels."""
    rows = pd.read_csv(HM_TRAIN, dtype={"hmid": str}).join(human, on="hmid", how="inner")
    rows["disagree"] = rows["predicted_category"] != rows["ground_truth_category"]
    base = rows["disagree"].mean()
    groups = {"given label": rows["predicted_category"],
              "words": pd.cut(rows["cleaned_hm"].str.split().str.len(), [0, 8, 12, 16, 20, 30, 50, 10_000]),
              "sentences": rows["num_sentence"].clip(upper=5).astype(str).replace("5", "5+"),
              "reflection period": rows["reflection_period"]}
    table = []
    for what, key in groups.items():
        for value, part in rows.groupby(key, observed=True)["disagree"]:
            table.append({"by": what, "group": str(value), "rows": f"{len(part):,}", "human != given": f"{part.mean():.1%}",
                          "x base rate": f"{part.mean() / base:.1f}x"})
    print_table(table, f"Human disagreement by group: {len(rows):,} rows with a human label, base rate {base:.1%}")


if __name__ == "__main__":
    main()
