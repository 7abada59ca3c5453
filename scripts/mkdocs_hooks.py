"""The documentation site's build helpers (named in ``mkdocs.yml``).

- A MkDocs hook (``hooks:``) generates the CLI reference page from the commands' own help at build
  time: a table of every command, then each command and sub-command with its usage, its help text, its
  arguments and its options (flags, help and default, as ``textladder COMMAND --help`` prints them), so
  the page cannot drift from the code.
- A griffe extension (mkdocstrings' ``extensions:``), :class:`DocstringRoles`, reads the code's
  Sphinx-style roles and ``Example:`` sections as mkdocstrings needs them.
"""

from __future__ import annotations

import re

from mkdocs.structure.files import File

PAGE = "reference/cli.md"
_MARKUP = re.compile(r"\[/?(?:bold|red|green|blue|yellow|dim|italic|cyan|magenta)[^\]]*\]|\[/\]")


def _plain(text: str | None) -> str:
    """Help text without rich markup."""
    return _MARKUP.sub("", text or "").strip()


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _walk(cmd, ctx, path: list[str]):  # noqa: ANN001 - typer's own (vendored) click types
    """``(path, command, context)`` of ``cmd`` and of every command under it, in the order ``--help``
    lists them."""
    yield path, cmd, ctx
    for sub_name in cmd.list_commands(ctx) if hasattr(cmd, "list_commands") else []:
        sub = cmd.get_command(ctx, sub_name)
        if sub is not None and not sub.hidden:
            yield from _walk(sub, sub.context_class(sub, info_name=sub_name, parent=ctx), path + [sub_name])


def _section(cmd, ctx, path: list[str], out: list[str]) -> None:  # noqa: ANN001
    """One command's section: its usage, help, arguments and options."""
    name = " ".join(path)
    level = "#" * min(len(path) + 1, 4)
    out.append(f"{level} `{name}`\n")
    usage = " ".join(cmd.collect_usage_pieces(ctx))
    out.append(f"```text\n{name} {usage}\n```\n")
    help_text = _plain(cmd.help)
    if help_text:
        out.append(help_text.replace("\b\n", "") + "\n")
    arguments = [p for p in cmd.params if p.param_type_name == "argument"]
    options = [p for p in cmd.params if p.param_type_name == "option" and not p.hidden]
    if arguments:
        out.append("| argument | help |\n|---|---|")
        for p in arguments:
            required = "" if p.required else " (optional)"
            out.append(f"| `{(p.metavar or p.name).upper()}`{required} | {_cell(_plain(getattr(p, 'help', '')))} |")
        out.append("")
    if options:
        out.append("| option | help |\n|---|---|")
        for p in options:
            record = p.get_help_record(ctx)
            if record is None:
                continue
            flags, text = record
            out.append(f"| `{_cell(flags)}` | {_cell(_plain(text))} |")
        out.append("")


def cli_reference() -> str:
    """The whole page, as Markdown."""
    import typer.main

    from textladder.cli import app

    group = typer.main.get_command(app)
    commands = list(_walk(group, group.context_class(group, info_name="textladder"), ["textladder"]))
    out = ["# Command-line reference\n",
           "Generated from the commands' own help when the site is built: what `textladder COMMAND --help` "
           "prints, as tables. Each command parses its flags and calls one function of the "
           "[Python API](api.md).\n"]
    out.append("| command | what it does |\n|---|---|")
    for path, cmd, _ in commands:
        if not hasattr(cmd, "list_commands"):  # the commands themselves, not their groups
            name, first = " ".join(path), _plain(cmd.help).split("\n\n")[0]
            out.append(f"| [`{name}`](#{name.replace(' ', '-')}) | {_cell(first)} |")
    out.append("")
    for path, cmd, ctx in commands:
        _section(cmd, ctx, path, out)
    return "\n".join(out) + "\n"


def on_files(files, config):  # noqa: ANN001 - MkDocs' hook signature
    files.append(File.generated(config, PAGE, content=cli_reference()))
    return files


# --- docstrings: the code's Sphinx-style roles and "Example:" sections, as mkdocstrings reads them --------

_ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|exc):`(~?)([^`]+)`")


def _documented() -> set[str]:
    """Every identifier the API reference page renders (its ``::: path`` lines and listed members)."""
    from pathlib import Path

    found: set[str] = set()
    current = None
    for line in (Path(__file__).parents[1] / "docs" / "reference" / "api.md").read_text().splitlines():
        if line.startswith("::: "):
            current = line[4:].strip()
            found.add(current)
        elif current and line.strip().startswith("members: ["):
            found.update(f"{current}.{m.strip()}" for m in line.split("[", 1)[1].rstrip("]").split(","))
    return found


class DocstringRoles:
    """A griffe extension (named in mkdocs.yml): ``:func:`x``` becomes a link when the reference page
    renders ``x`` and code otherwise; ``Example:`` becomes an examples section, so its doctests render as
    code."""

    def __init__(self) -> None:
        self.documented = _documented()

    def _target(self, obj, name: str) -> str | None:
        candidates = [name] if "." in name and name.startswith("textladder") else []
        scope = obj if obj.is_class else obj.parent
        while scope is not None:
            candidates.append(f"{scope.path}.{name}")
            scope = scope.parent
        candidates += [f"textladder.api.{name}", f"textladder.{name}"]
        return next((c for c in candidates if c in self.documented), None)

    def _rewrite(self, obj, text: str) -> str:
        def role(m: re.Match) -> str:
            name = m.group(2)
            shown = name.rsplit(".", 1)[-1] if m.group(1) else name
            target = self._target(obj, name)
            return f"[`{shown}`][{target}]" if target else f"`{shown}`"

        text = re.sub(r"(?m)^(\s*)Example:\s*$", r"\1Examples:", text)
        return _ROLE.sub(role, text)

    def on_instance(self, *, obj, **kwargs) -> None:  # noqa: ANN001, ANN003 - griffe's event signature
        if obj.docstring is not None:
            obj.docstring.value = self._rewrite(obj, obj.docstring.value)


def _griffe_extension():
    import griffe

    return type("DocstringRolesExtension", (DocstringRoles, griffe.Extension), {})


DocstringRolesExtension = _griffe_extension()
