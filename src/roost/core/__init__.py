"""Messages, content blocks, stream events, ids, errors and settings."""

from typing import TYPE_CHECKING

from roost.core.blocks import (
    AudioBlock,
    ContentBlock,
    DataBlock,
    ImageBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from roost.core.errors import (
    AgentInterrupted,
    ApprovalNotFound,
    ChecksumMismatch,
    ConfigError,
    Conflict,
    Forbidden,
    InvalidRequest,
    MaxIterationsReached,
    ModelBadResponse,
    ModelError,
    ModelInstallError,
    ModelNotInstalled,
    ModelRateLimited,
    ModelRequestRejected,
    ModelTimeout,
    ModelUnavailable,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RoostError,
    SandboxError,
    SandboxTimeout,
    SandboxUnavailable,
    SessionBusy,
    StateVersionError,
    StructuredOutputError,
    ToolArgumentsInvalid,
    ToolError,
    ToolNotFound,
    ToolRejected,
    ToolTimeout,
    Unauthorized,
    error_from_dict,
)
from roost.core.events import (
    ApprovalRequired,
    ApprovalResolved,
    ErrorEvent,
    Event,
    Interrupted,
    ModelResponse,
    ReplyFinished,
    ReplyStarted,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallFinished,
    ToolCallStarted,
    ToolProgress,
    ToolResultEvent,
    UsageEvent,
    parse_event,
)
from roost.core.ids import new_id
from roost.core.msg import Msg, Role
from roost.core.tool_spec import ToolSpec
from roost.core.usage import Usage

if TYPE_CHECKING:
    from roost.core.settings import Settings, get_settings


def __getattr__(name: str) -> object:
    # Loaded when settings are first used (most library users never read them).
    if name in ("Settings", "get_settings"):
        from roost.core import settings

        return getattr(settings, name)
    raise AttributeError(f"module 'roost.core' has no attribute {name!r}")


__all__ = [
    "AgentInterrupted",
    "ApprovalNotFound",
    "ApprovalRequired",
    "ApprovalResolved",
    "AudioBlock",
    "ChecksumMismatch",
    "ConfigError",
    "Conflict",
    "ContentBlock",
    "DataBlock",
    "ErrorEvent",
    "Event",
    "Forbidden",
    "ImageBlock",
    "Interrupted",
    "InvalidRequest",
    "MaxIterationsReached",
    "ModelBadResponse",
    "ModelError",
    "ModelInstallError",
    "ModelNotInstalled",
    "ModelRateLimited",
    "ModelRequestRejected",
    "ModelResponse",
    "ModelTimeout",
    "ModelUnavailable",
    "Msg",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ReplyFinished",
    "ReplyStarted",
    "Role",
    "RoostError",
    "SandboxError",
    "SandboxTimeout",
    "SandboxUnavailable",
    "SessionBusy",
    "Settings",
    "StateVersionError",
    "StructuredOutputError",
    "TextBlock",
    "TextDelta",
    "ThinkingBlock",
    "ThinkingDelta",
    "ToolArgumentsInvalid",
    "ToolCallDelta",
    "ToolCallFinished",
    "ToolCallStarted",
    "ToolError",
    "ToolNotFound",
    "ToolProgress",
    "ToolRejected",
    "ToolResultBlock",
    "ToolResultEvent",
    "ToolSpec",
    "ToolTimeout",
    "ToolUseBlock",
    "Unauthorized",
    "Usage",
    "UsageEvent",
    "error_from_dict",
    "get_settings",
    "new_id",
    "parse_event",
]
