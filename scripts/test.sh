#!/usr/bin/env bash
# Set up, then run the test suite (HappyDB tests run when ../shared/data/happydb is there).
# The report test opens the HTML report in headless Chromium: Debian's chromium is installed when
# missing and this runs as root (otherwise that one test is skipped, and fails under CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the report test ..." >&2
  apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; } \
    || echo "could not install chromium; the report test will say so" >&2
fi
# the report test leaves its screenshots (1400 and 800 px wide) in test-artefacts/
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg TEXTLADDER_TEST_ARTEFACTS="${TEXTLADDER_TEST_ARTEFACTS:-$PWD/test-artefacts}"
# two worker processes (CI has 2 cores), each taking whole files, so a file's fixtures are built once;
# the slowest tests are listed, to keep the suite within its 10 minutes
exec .venv/bin/python -m pytest -q -n "${TEXTLADDER_TEST_WORKERS:-2}" --dist loadfile --durations=15 "$@"
