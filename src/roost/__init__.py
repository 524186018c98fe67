"""Roost: build, serve, sandbox, observe and audit LLM agents on your own machines.

`import roost` stays cheap: the layers are imported when first used
(``roost.core``, ``roost.models``, ``roost.agents`` ...).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

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
