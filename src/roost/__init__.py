"""Roost: build, serve, sandbox, observe and audit LLM agents on your own machines.

`import roost` stays cheap: the layers are imported when first used
(``roost.core``, ``roost.models``, ``roost.agents`` ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from roost._lazy import lazy_names

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
__getattr__ = lazy_names(__name__, _LAZY)
__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:
    from roost.agents import ReActAgent as ReActAgent
    from roost.core import Msg as Msg
    from roost.models import AnthropicChatModel as AnthropicChatModel
    from roost.models import OpenAIChatModel as OpenAIChatModel
    from roost.models import ScriptedModel as ScriptedModel
    from roost.server import AgentApp as AgentApp
    from roost.tools import Toolkit as Toolkit
    from roost.tools import tool as tool
