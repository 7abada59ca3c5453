#!/usr/bin/env bash
# Set up, then climb the 'quick' ladder on HappyDB (or $TEXTLADDER_DATA / the first argument):
# TF-IDF, fastText and an attention BiLSTM, their soft and hard voting ensembles, the leaderboard
# and runs/report.html. Under 10 minutes on 2 CPU cores; run it again and finished rungs are read back.
# More arguments go to 'textladder ladder' (e.g. --config full).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
data=()
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then data=("$1"); shift; fi
.venv/bin/textladder ladder "${data[@]}" --out runs "$@"
