"""``roost <command>`` imports only that command's module (decision 0097)."""

from __future__ import annotations

import importlib
import subprocess
import sys

from roost.cli import main as cli


def test_the_entry_table_matches_what_the_modules_register() -> None:
    names: dict[str, str] = {}
    for module_name, attr, group in cli._COMMANDS:
        sub = getattr(importlib.import_module(module_name), attr)
        if group is not None:
            names[group] = module_name
        else:
            for command in sub.registered_commands:
                callback = command.callback
                assert callback is not None
                names[command.name or callback.__name__] = module_name
    assert names == cli._ENTRY


_SERVE_START = """
import sys
from roost.cli import main as cli
cli._register(cli._ENTRY["serve"])
from roost.observe.logging import configure_logging
configure_logging("INFO", "json")
heavy = ["rich", "roost.cli.chat", "opentelemetry", "httpx", "yaml", "prometheus_client"]
print(*[m for m in heavy if m in sys.modules])
"""


def test_serve_loads_neither_the_chat_ui_nor_observability_extras() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _SERVE_START],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert out.strip() == ""
