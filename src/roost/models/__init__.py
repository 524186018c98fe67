"""Chat models: the ``ChatModel`` protocol, providers, and the scripted test double."""

from roost.models.base import (
    BaseChatModel,
    ChatModel,
    ResponseFormat,
    StreamAccumulator,
    ToolChoice,
    response_format_schema,
    tool_use_from_json,
)
from roost.models.scripted import (
    ScriptedCall,
    ScriptedModel,
    ScriptedReply,
    ScriptedToolCall,
)

__all__ = [
    "BaseChatModel",
    "ChatModel",
    "ResponseFormat",
    "ScriptedCall",
    "ScriptedModel",
    "ScriptedReply",
    "ScriptedToolCall",
    "StreamAccumulator",
    "ToolChoice",
    "response_format_schema",
    "tool_use_from_json",
]

# The embedded local model and its installer load on first access, so `import roost.models`
# stays light (H2: local model).
_LAZY = {
    "LocalModel": "roost.models.local",
    "LocalServer": "roost.models.local",
    "CATALOGUE": "roost.models.catalogue",
    "CatalogueEntry": "roost.models.catalogue",
    "UnknownModel": "roost.models.catalogue",
    "ensure_model": "roost.models.install",
    "install_model": "roost.models.install",
    "resolve_model_path": "roost.models.install",
}
__all__ += list(_LAZY)


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'roost.models' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
