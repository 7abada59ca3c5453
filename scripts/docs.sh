#!/usr/bin/env bash
# Build the documentation site (mkdocs.yml, docs/) into site/, strictly: a broken link, a missing
# reference or a docstring mkdocstrings cannot read fails the build. `bash scripts/docs.sh serve`
# serves it at http://127.0.0.1:8000 instead. Run by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export NO_MKDOCS_2_WARNING=1 HF_HUB_OFFLINE=1
if [ "${1:-}" = serve ]; then
  exec .venv/bin/mkdocs serve --strict --dev-addr 127.0.0.1:8000
fi
.venv/bin/mkdocs build --strict  # a warning (a broken link or anchor, a missing reference) fails it, named
echo "documentation site: $PWD/site/index.html"
