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


# HTTP providers, retries, fallback, pricing and spec resolution (H1): lazy as well, so
# `import roost.models` does not import httpx.
_H1 = {
    "OpenAIChatModel": "roost.models.openai",
    "AnthropicChatModel": "roost.models.anthropic",
    "RetryPolicy": "roost.models.retry",
    "FallbackModel": "roost.models.fallback",
    "Price": "roost.models.pricing",
    "PriceTable": "roost.models.pricing",
    "default_price_table": "roost.models.pricing",
    "resolve_model": "roost.models.resolve",
}
_LAZY.update(_H1)
__all__ += list(_H1)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roost.models.anthropic import AnthropicChatModel as AnthropicChatModel
    from roost.models.fallback import FallbackModel as FallbackModel
    from roost.models.openai import OpenAIChatModel as OpenAIChatModel
    from roost.models.pricing import Price as Price
    from roost.models.pricing import PriceTable as PriceTable
    from roost.models.pricing import default_price_table as default_price_table
    from roost.models.resolve import resolve_model as resolve_model
    from roost.models.retry import RetryPolicy as RetryPolicy
