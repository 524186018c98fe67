"""Entry point of the ``roost`` command: one Typer app, one sub-module per command group.

Sub-modules are imported when the command line is parsed, not when ``roost`` is
imported, so library users never pay for the CLI; and ``roost <command>`` imports only
the module of that command (``roost serve`` does not load rich and the chat UI for the
server's whole life, docs/decisions/0097). Help and unknown commands load them all.
"""

from __future__ import annotations

import importlib
import sys

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
    ("roost.cli.build", "app", None),
    ("roost.cli.deploy", "app", "deploy"),
    ("roost.cli.bundle", "app", None),
    ("roost.cli.db", "app", "db"),
    ("roost.cli.kb", "app", "kb"),
    ("roost.cli.evals", "app", "eval"),
    ("roost.cli.evals", "release_app", "release"),
    ("roost.cli.evals", "replay_app", None),
    ("roost.cli.access", "keys_app", "keys"),
    ("roost.cli.access", "tenants_app", "tenants"),
    ("roost.cli.audit", "app", "audit"),
    ("roost.cli.audit", "lineage_app", None),
    ("roost.cli.secrets", "app", "secrets"),
]


# The first word of the command line → the module that defines it (a test checks this
# against what the modules register).
_ENTRY: dict[str, str] = {
    "chat": "roost.cli.chat",
    "serve": "roost.cli.serve",
    "init": "roost.cli.serve",
    "model": "roost.cli.model",
    "sandbox": "roost.cli.sandbox",
    "traces": "roost.cli.traces",
    "alerts": "roost.cli.alerts",
    "build": "roost.cli.build",
    "deploy": "roost.cli.deploy",
    "bundle": "roost.cli.bundle",
    "db": "roost.cli.db",
    "kb": "roost.cli.kb",
    "eval": "roost.cli.evals",
    "release": "roost.cli.evals",
    "replay": "roost.cli.evals",
    "keys": "roost.cli.access",
    "tenants": "roost.cli.access",
    "audit": "roost.cli.audit",
    "lineage": "roost.cli.audit",
    "secrets": "roost.cli.secrets",
}


@app.callback()
def _group() -> None:
    # Keeps ``roost`` a command group when only one command is registered (Typer would
    # otherwise run a lone command without its name).
    pass


def _register(only: str | None = None) -> None:
    """Add the commands of every module, or of the module ``only``."""
    for module_name, attr, group in _COMMANDS:
        if only is not None and module_name != only:
            continue
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
    first = sys.argv[1] if len(sys.argv) > 1 else None
    _register(_ENTRY.get(first) if first is not None else None)
    app()


if __name__ == "__main__":
    main()
