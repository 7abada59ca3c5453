#!/usr/bin/env bash
# Set up, then run the test suite (HappyDB tests run when ../shared/data/happydb is there).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg
exec .venv/bin/python -m pytest -q "$@"
