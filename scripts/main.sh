#!/usr/bin/env bash
# Set up, then climb the auto ladder on HappyDB (or $TEXTLADDER_DATA / the first argument) within an
# 8-minute budget: search tfidf-linear, fastText and an attention BiLSTM on validation, refit the
# winners when time allows, soft/stacked/greedy ensembles, the leaderboard and runs/report.html.
# More arguments go to 'textladder ladder' instead of the default ones (e.g. --config quick, or
# --config auto --budget 30m).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
data=()
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then data=("$1"); shift; fi
if [ $# -eq 0 ]; then set -- --config auto --budget 8m; fi
.venv/bin/textladder ladder "${data[@]}" --out runs "$@"
