"""``roost.observe`` loads its names on first access and keeps them stable (decision 0097)."""

from __future__ import annotations

import subprocess
import sys

_SCRIPT = """
import sys
import roost.observe as observe
print("opentelemetry.sdk" in sys.modules, "httpx" in sys.modules, "yaml" in sys.modules)
import roost.observe.tree  # the module of trace_tree: loading it changes no name
print(callable(observe.trace_tree), observe.configure_logging.__module__)
"""


def test_names_load_lazily_and_trace_tree_stays_the_function() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split("\n")
    assert out[0] == "False False False"
    assert out[1] == "True roost.observe.logging"


def test_every_public_name_resolves() -> None:
    import roost.observe as observe

    for name in observe.__all__:
        assert getattr(observe, name) is not None, name
