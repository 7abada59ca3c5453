"""The README's and the docs' code blocks, run.

Python examples written as doctests (``>>>``) run through pytest's doctest collection of ``*.md``
(pyproject.toml). Here: every ``textladder ...`` line of a shell block names a command and flags that
exist; the blocks marked ``<!-- test: run -->`` (the getting-started walk-through) run for real on a
small file; every TOML block parses (a ladder loads as one), and every plain Python block runs.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ROOT, make_rows, write_csv

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)\s*$")


def blocks(page: Path) -> list[tuple[str, str, int, bool]]:
    """(language, code, first line, marked to run) of each fenced block of ``page``."""
    found, lines = [], page.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m and m["lang"]:
            indent, start = len(m["indent"]), i + 1
            end = next(j for j in range(start, len(lines)) if lines[j].strip() == "```")
            code = "\n".join(line[indent:] for line in lines[start:end])
            marked = i > 0 and lines[i - 1].strip() == "<!-- test: run -->"
            found.append((m["lang"], code, start, marked))
            i = end
        i += 1
    return found


def all_blocks(lang: str) -> list:
    return [pytest.param(page, code, marked, id=f"{page.relative_to(ROOT)}:{line}")
            for page in PAGES for (kind, code, line, marked) in blocks(page) if kind == lang]


def command_lines(code: str) -> list[str]:
    """The ``textladder ...`` command lines of a shell block (continuation lines joined), and those inside ``$(...)``."""
    joined = re.sub(r"\\\n\s*", " ", code)
    inner = re.findall(r"\$\((textladder [^)]*)\)", joined)
    return [line.strip() for line in joined.splitlines() if line.strip().startswith("textladder ")] + inner


def argv(line: str) -> list[str]:
    """A command line as the CLI gets it: its comment, redirections and pipes left out, and each
    ``$(...)`` a placeholder."""
    line = re.sub(r'"?\$\([^)]*\)"?', "RUN", line)
    words = shlex.split(line, comments=True)
    for stop in ("|", ">", "2>", "&&", ";", "&"):
        if stop in words:
            words = words[:words.index(stop)]
    return words[1:]


def test_the_extractor_finds_what_it_should():
    """The checks below can fail: a made-up flag is caught, and the pages do hold blocks of each kind."""
    from textladder.cli import app

    result = CliRunner().invoke(app, argv("textladder train data.csv --no-such-flag 3  # comment") + ["--help"])
    assert result.exit_code != 0 and "No such option" in result.output
    assert argv('textladder predict "$(textladder runs runs --best)" new.csv -o p.csv | tail -1') == \
        ["predict", "RUN", "new.csv", "-o", "p.csv"]
    assert command_lines('best=$(textladder runs runs --best)\ntextladder serve "$best" \\\n  --port 9') == \
        ['textladder serve "$best"  --port 9', "textladder runs runs --best"]
    assert len(all_blocks("bash")) >= 10 and len(all_blocks("toml")) >= 2
    assert sum(marked for page in PAGES for (_, _, _, marked) in blocks(page)) >= 1


@pytest.mark.parametrize("page, code, marked", all_blocks("bash"))
def test_shell_commands_exist(page, code, marked):
    """Each documented command and each of its flags exists (``--help`` after them: the CLI parses
    the flags and stops before doing anything)."""
    from textladder.cli import app

    for line in command_lines(code):
        result = CliRunner().invoke(app, argv(line) + ["--help"])
        assert result.exit_code == 0, f"{page.name}: {line}\n{result.output}"


@pytest.mark.parametrize("page, code, marked", [p for p in all_blocks("bash") if p.values[2]])
def test_marked_blocks_run(page, code, marked, tmp_path):
    """The walk-through runs as written, on a small file named as the page names it."""
    rows = make_rows(240, noise=0.1)
    table = [{"id": r["hmid"], "text": r["cleaned_hm"], "label": r["predicted_category"]} for r in rows]
    write_csv(tmp_path / "moments.csv", table)
    write_csv(tmp_path / "new.csv", [{"id": r["id"], "text": r["text"]} for r in table[:20]])
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{page.name}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    if "predictions.csv" in code:
        assert len((tmp_path / "predictions.csv").read_text().splitlines()) == 21
    if "textladder report runs" in code:
        assert "<html" in (tmp_path / "runs" / "report.html").read_text()[:2000].lower()


@pytest.mark.parametrize("page, code, marked", all_blocks("toml"))
def test_toml_blocks_parse(page, code, marked, tmp_path):
    parsed = tomllib.loads(code)
    if "rung" in parsed:
        from textladder.ladder import load_ladder

        path = tmp_path / "ladder.toml"
        path.write_text(code)
        assert load_ladder(path).rungs


@pytest.mark.parametrize("page, code, marked", [p for p in all_blocks("python") if ">>>" not in p.values[1]])
def test_python_blocks_run(page, code, marked):
    """Plain Python blocks (the doctests run elsewhere) run in a fresh interpreter; a block that defines
    a rung is then trained and used."""
    check = ""
    registered = re.search(r'@register\("([^"]+)"\)', code)
    if registered:
        check = (f"\nimport textladder\ntexts = ['my dog', 'the gym', 'dog walk', 'gym class'] * 5\n"
                 f"labels = ['pets', 'sport'] * 10\n"
                 f"m = textladder.build_model({registered[1]!r}, min_df=1).fit(texts, labels)\n"
                 f"assert m.predict(['dog']).tolist() == ['pets'], m.predict(['dog'])\n")
    done = subprocess.run([sys.executable, "-c", code + check], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_rungs_page_lists_every_registered_rung():
    from textladder import api

    table = (ROOT / "docs" / "guide" / "rungs.md").read_text().split("| rung |", 1)[1].split("\n\n", 1)[0]
    listed = set(re.findall(r"`([a-z0-9-]+)`", "\n".join(line.split("|")[1] for line in table.splitlines()[2:])))
    assert listed == {m["name"] for m in api.models()}


def test_every_flag_the_guide_names_exists():
    """A flag written in code anywhere in the README, getting started or the guide (prose included) is an
    option of some command: renaming one without the docs fails here. (BENCHMARKS and RELIABILITY also
    name the benchmark scripts' own flags.)"""
    import typer.main

    from textladder.cli import app

    flags = {"--help"}

    def walk(cmd, ctx):
        for p in cmd.params:
            flags.update(getattr(p, "opts", None) or [])
            flags.update(getattr(p, "secondary_opts", None) or [])
        for name in cmd.list_commands(ctx) if hasattr(cmd, "list_commands") else []:
            sub = cmd.get_command(ctx, name)
            walk(sub, sub.context_class(sub, info_name=name, parent=ctx))

    group = typer.main.get_command(app)
    walk(group, group.context_class(group, info_name="textladder"))
    assert {"--split-col", "--min-confidence", "--engine", "--threads"} <= flags  # the walk reaches them
    pages = [p for p in PAGES if p.name not in ("BENCHMARKS.md", "RELIABILITY.md")]
    named = {(flag, page.name) for page in pages for code in re.findall(r"`([^`\n]+)`", page.read_text())
             for flag in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", code)}
    assert len(named) > 100
    assert sorted(f"{flag} ({page})" for flag, page in named if flag not in flags) == []
