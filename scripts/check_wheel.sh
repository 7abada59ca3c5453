#!/usr/bin/env bash
# The package as users get it: build the sdist and the wheel, check them with twine, install the wheel
# into a fresh virtual environment without extras (at most 700 MB, no torch, no pyarrow) and run the core
# commands there; then add [neural] (torch 2.13.0, the CPU build, first) and train one neural rung. Run by
# .ci/run after the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/textladder-wheel.XXXXXX)
trap 'rm -rf "$work"' EXIT
.venv/bin/python -m pip install -q --disable-pip-version-check build twine
.venv/bin/python -m build -q --outdir "$work/dist" . >/dev/null
.venv/bin/python -m twine check --strict "$work"/dist/*
wheel=$(ls "$work"/dist/*.whl)
# The wheel's file list, read by Python rather than `unzip -l | grep -q`: under pipefail, grep -q leaving
# early can kill unzip with SIGPIPE and fail the check at random.
.venv/bin/python - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
licence = ("dist-info/licenses/LICENSE", "dist-info/LICENSE")
for what, found in (("the presets", "textladder/presets/quick.toml" in names),
                    ("the licence", any(n.endswith(licence) for n in names))):
    if not found:
        sys.exit(f"the wheel lacks {what}")
PY
python3 -m venv "$work/core"
"$work/core/bin/python" -m pip install -q --disable-pip-version-check "$wheel"
echo "core environment: $(du -sh "$work/core" | cut -f1) (without bytecode: $(du -sh --exclude=__pycache__ "$work/core" | cut -f1))"
[ "$(du -sm "$work/core" | cut -f1)" -le 700 ] || { echo "the core environment is over 700 MB" >&2; exit 1; }
for heavy in torch pyarrow; do
  "$work/core/bin/python" -c "import importlib.util as u, sys; sys.exit(u.find_spec('$heavy') is not None)" \
    || { echo "the core install brought $heavy" >&2; exit 1; }
done
cd "$work"
"$OLDPWD/.venv/bin/python" -c "
import sys; sys.path.insert(0, '$OLDPWD/tests')
from conftest import make_rows, write_csv
from pathlib import Path
write_csv(Path('small.csv'), make_rows(240, noise=0.1))
"
tl="$work/core/bin/textladder"
"$tl" --version
"$tl" train small.csv --set min_df=1 --out runs | tail -1 > run1
"$tl" predict "$(cat run1)" small.csv -o p1.csv
"$tl" train small.csv --model fasttext --set epochs=5 --out runs | tail -1 > run2
"$tl" predict "$(cat run2)" small.csv -o p2.csv
printf '[[rung]]\nmodel = "tfidf-linear"\nset = { min_df = 1 }\n\n[[rung]]\nmodel = "fasttext"\n\n[ensemble]\nvote = ["soft", "hard"]\nselect = "all"\n' > core.toml
"$tl" ladder small.csv --config core.toml --out ladder | tail -1
if "$tl" train small.csv --model attention --out runs 2> neural.err; then
  echo "a neural rung trained without [neural]" >&2; exit 1
fi
grep -q 'pip install "textladder\[neural\]"' neural.err || { cat neural.err >&2; exit 1; }
if "$tl" predict "$(cat run1)" small.csv -o p1.parquet 2> parquet.err; then
  echo "Parquet was written without [parquet]" >&2; exit 1
fi
grep -q 'pip install "textladder\[parquet\]"' parquet.err || { cat parquet.err >&2; exit 1; }
# the neural extra: torch's CPU build first, pinned, as scripts/setup.sh does
"$work/core/bin/python" -m pip install -q --disable-pip-version-check torch==2.13.0
"$work/core/bin/python" -m pip install -q --disable-pip-version-check "$wheel[neural]"
"$tl" train small.csv --model attention --epochs 1 --out runs | tail -1
"$tl" predict "$(cat run1)" small.csv -o p1.parquet  # [neural] brings [parquet]
echo "wheel check passed"
