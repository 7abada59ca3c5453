"""Every command documents every option."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from textladder.cli import app


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
