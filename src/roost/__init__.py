"""Roost: build, serve, sandbox, observe and audit LLM agents on your own machines.

`import roost` stays cheap: the layers are imported when first used
(``roost.core``, ``roost.models``, ``roost.agents`` ...).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

__version__ = "0.1.0"

if "httpx" not in sys.modules:
    # httpx's __init__ imports its command-line client (click, rich, pygments) whenever
    # they are installed, and Roost's own CLI installs them: ~50 ms and ~6 MB in every
    # process for a command line Roost never runs (decision 0104). Marked absent, httpx
    # falls back to its stub ``httpx.main``; the ``httpx`` command itself is unaffected.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

_LAZY = {
    "Msg": "roost.core",
    "ReActAgent": "roost.agents",
    "Toolkit": "roost.tools",
    "tool": "roost.tools",
    "ScriptedModel": "roost.models",
    "OpenAIChatModel": "roost.models",
    "AnthropicChatModel": "roost.models",
    "AgentApp": "roost.server",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'roost' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
