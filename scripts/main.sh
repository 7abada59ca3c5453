#!/usr/bin/env bash
# Set up, then train and evaluate the TF-IDF rung on HappyDB (or $TEXTLADDER_DATA / the first argument).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
run=$(.venv/bin/textladder train "$@" --out runs | tail -n 1)
.venv/bin/textladder evaluate "$run"
.venv/bin/textladder runs runs
