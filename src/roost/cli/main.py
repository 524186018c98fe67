"""Entry point of the ``roost`` command: one Typer app, one sub-module per command group.

Sub-modules are imported when the command line is parsed, not when ``roost`` is
imported, so library users never pay for the CLI.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="roost",
    help="Build, serve, sandbox, observe and audit LLM agents on your own machines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# (module, attribute, group name or None to merge its commands at the top level)
_COMMANDS: list[tuple[str, str, str | None]] = [
    ("roost.cli.chat", "app", None),
    ("roost.cli.model", "app", "model"),
    ("roost.cli.serve", "app", None),
    ("roost.cli.sandbox", "app", "sandbox"),
    ("roost.cli.traces", "app", "traces"),
    ("roost.cli.alerts", "app", "alerts"),
]


def _register() -> None:
    for module_name, attr, group in _COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        sub: typer.Typer = getattr(module, attr)
        if group is None:
            for command in sub.registered_commands:
                app.registered_commands.append(command)
        else:
            app.add_typer(sub, name=group)


def main() -> None:
    _register()
    app()


if __name__ == "__main__":
    main()
