"""Every command documents every option."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from textladder.cli import app

runner = CliRunner()


def commands():
    root = typer.main.get_command(app)
    out = []

    def walk(cmd, path):
        if hasattr(cmd, "commands"):  # a group (typer's own classes need not subclass click's)
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])
        else:
            out.append((path, cmd))

    walk(root, [])
    return out


@pytest.mark.parametrize(("path", "cmd"), commands(), ids=lambda x: " ".join(x) if isinstance(x, list) else "")
def test_help_documents_every_option(path, cmd):
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert cmd.help, f"{path} has no description"
    for param in cmd.params:
        if getattr(param, "param_type_name", "") == "option" and param.name != "help":
            assert param.help, f"{' '.join(path)} {param.opts[0]} has no help text"
            assert param.opts[0] in result.output


def test_all_commands_are_there():
    names = {" ".join(p) for p, _ in commands()}
    assert {"train", "evaluate", "predict", "runs", "explore", "models", "data fetch"} <= names


def test_version_and_the_models_table():
    from importlib.metadata import version

    from textladder.models import get, names

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"textladder {version('textladder')}"
    table = runner.invoke(app, ["models"], terminal_width=200)
    assert table.exit_code == 0
    for name in names():  # name, family and the first line of its description, one row each
        row = next(line for line in table.output.splitlines() if [c.strip() for c in line.split("│")[1:2]] == [name])
        assert get(name).family in row, row
    for name in names():
        shown = runner.invoke(app, ["models", name], terminal_width=200)
        assert shown.exit_code == 0 and "Undefined" not in shown.output, shown.output
    lr = next(line for line in runner.invoke(app, ["models", "fasttext"], terminal_width=200).output.splitlines()
              if " lr " in line)
    assert " 0.5 " in lr  # the real default
