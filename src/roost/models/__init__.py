"""Chat models: the ``ChatModel`` protocol, providers, and the scripted test double."""

from typing import TYPE_CHECKING

from roost._lazy import lazy_names
from roost.models.base import (
    BaseChatModel,
    ChatModel,
    ModelRequest,
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
    "ModelRequest",
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

# The embedded local model, its installer, the HTTP providers, retries, fallback,
# pricing and spec resolution load on first access: `import roost.models` imports
# neither httpx nor the model installer.
_LAZY = {
    "LocalModel": "roost.models.local",
    "LocalServer": "roost.models.local",
    "CATALOGUE": "roost.models.catalogue",
    "CatalogueEntry": "roost.models.catalogue",
    "UnknownModel": "roost.models.catalogue",
    "ensure_model": "roost.models.install",
    "install_model": "roost.models.install",
    "resolve_model_path": "roost.models.install",
    "OpenAIChatModel": "roost.models.openai",
    "AnthropicChatModel": "roost.models.anthropic",
    "RetryPolicy": "roost.models.retry",
    "FallbackModel": "roost.models.fallback",
    "Price": "roost.models.pricing",
    "PriceTable": "roost.models.pricing",
    "default_price_table": "roost.models.pricing",
    "resolve_model": "roost.models.resolve",
}
__all__ += list(_LAZY)
__getattr__ = lazy_names(__name__, _LAZY)

if TYPE_CHECKING:
    from roost.models.anthropic import AnthropicChatModel as AnthropicChatModel
    from roost.models.fallback import FallbackModel as FallbackModel
    from roost.models.openai import OpenAIChatModel as OpenAIChatModel
    from roost.models.pricing import Price as Price
    from roost.models.pricing import PriceTable as PriceTable
    from roost.models.pricing import default_price_table as default_price_table
    from roost.models.resolve import resolve_model as resolve_model
    from roost.models.retry import RetryPolicy as RetryPolicy
