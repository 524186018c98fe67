"""Request and response bodies of the HTTP API (also the source of the OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
)
from pydantic_core import PydanticCustomError

from roost.core import ContentBlock, Msg, TextBlock, Usage
from roost.core.jsontext import dumps
from roost.server.openai_wire import ChatTool, ContentPart, FunctionDef, ResponseFormat, ToolCallIn

MAX_METADATA_BYTES = 16_384
"""Metadata is stored with its session, run or message and sent back with every listing
of them: a few labels and ids, not a document (that goes in the input)."""


def _bounded(value: dict[str, Any]) -> dict[str, Any]:
    if value and len(dumps(value).encode()) > MAX_METADATA_BYTES:
        raise PydanticCustomError(
            "too_large",
            "metadata must be at most {limit} bytes of JSON",
            {"limit": MAX_METADATA_BYTES},
        )
    return value


Metadata = Annotated[
    dict[str, Any],
    AfterValidator(_bounded),
    Field(description=f"Free-form labels, at most {MAX_METADATA_BYTES} bytes as JSON."),
]


class _Out(BaseModel):
    # defer_build: validators and serializers are built on first use, not at import, so
    # an idle server does not hold those of routes nobody called (docs/decisions/0097).
    model_config = ConfigDict(defer_build=True)


class _Body(_Out):
    model_config = ConfigDict(extra="forbid")


class SessionCreate(_Body):
    """``POST /v1/sessions``."""

    agent: str | None = Field(None, description="Agent name; default: the app's first agent.")
    metadata: Metadata = Field(default_factory=dict)


class SessionOut(_Out):
    id: str
    agent: str | None = None
    user_id: str | None = None
    tenant_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: float | None = None
    updated_at: float | None = None


class SessionList(_Out):
    data: list[SessionOut]
    next_cursor: str | None = None


class MessageOut(Msg):
    """A stored message: which run wrote it, and whether the run was still writing it."""

    run_id: str | None = None
    partial: bool = False


class MessagePageOut(_Out):
    data: list[MessageOut]
    has_more: bool = False
    next_after: str | None = None


class MessageIn(_Body):
    """One message of a run's ``input``: unknown keys are refused, not dropped, and a
    message says something (an empty user turn would reach the model as a real turn):
    no empty content, no blank text block."""

    role: Literal["system", "user", "assistant", "tool"] = "user"
    content: str | list[ContentBlock]
    name: str | None = None
    metadata: Metadata = Field(default_factory=dict)

    @field_validator("content")
    @classmethod
    def _not_empty(cls, value: str | list[Any]) -> str | list[Any]:
        blocks = [TextBlock(text=value)] if isinstance(value, str) else value
        if not blocks or any(isinstance(b, TextBlock) and not b.text.strip() for b in blocks):
            raise PydanticCustomError("empty", "content must not be empty, nor a text block blank")
        return value

    def to_msg(self) -> Msg:
        content = self.content
        blocks = [TextBlock(text=content)] if isinstance(content, str) else content
        return Msg(role=self.role, content=blocks, name=self.name, metadata=self.metadata)


class RunCreate(_Body):
    """``POST /v1/sessions/{id}/runs``: ``input`` is text, one message, or a list of messages."""

    input: str | dict[str, Any] | list[dict[str, Any]] = Field(
        ..., description="Text, a message object, or a list of message objects."
    )
    stream: StrictBool = Field(
        True, description="Stream events as SSE; false waits for the result."
    )
    background: StrictBool = Field(
        False, description="Queue the run durably and return 202 at once (huey queue)."
    )
    metadata: Metadata = Field(default_factory=dict)


class RunError(_Out):
    code: str
    message: str


class RunOut(_Out):
    id: str
    session_id: str
    agent: str | None = None
    status: str
    error: RunError | None = None
    usage: Usage | None = None
    model: str | None = None
    output: Msg | None = None
    created_at: float | None = None
    finished_at: float | None = None


class RunList(_Out):
    data: list[RunOut]
    next_cursor: str | None = None


class ApprovalDecision(_Body):
    """``POST /v1/runs/{id}/approvals/{call_id}``."""

    approve: StrictBool
    reason: str | None = None


def integral(value: Any) -> Any:
    """JSON has no integer type of its own: ``43.0`` is the integer 43 (JSON Schema says
    so too), which strict validation would refuse. Put it after the constraints
    (``Annotated[int, Field(ge=…), BeforeValidator(integral)]``) so the schema shows them."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


KeyRole = Literal["admin", "tenant_admin", "developer", "operator", "viewer", "user", "metrics"]


class KeyCreate(_Body):
    """``POST /v1/keys`` (platform admins; tenant admins for their own tenant)."""

    # a tenant role needs a tenant (a tenant admin's own is taken when it leaves it out)
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "if": {
                "properties": {"role": {"enum": ["tenant_admin", "developer", "viewer"]}},
                "required": ["role"],
            },
            "then": {"required": ["tenant_id"], "properties": {"tenant_id": {"type": "string"}}},
        },
    )

    name: str = Field(..., min_length=1, max_length=128)
    role: KeyRole = Field("user", description="See the permission table in docs/security.md.")
    tenant_id: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:\-]+$",
        description="Needed for tenant_admin, developer and viewer; a tenant admin's keys "
        "are always of its tenant.",
    )
    user_id: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="The user the key acts as; a key without one is its own user "
        "(its user id is the key's id).",
    )
    expires_in: (
        Annotated[int, Field(ge=60, le=10 * 366 * 86400), BeforeValidator(integral)] | None
    ) = Field(None, description="Seconds until the key stops working.")


class KeyOut(_Out):
    id: str
    name: str
    role: str
    tenant_id: str | None = None
    user_id: str | None = None
    key: str | None = Field(None, description="The plaintext key; returned once, at creation.")
    expires_at: float | None = Field(None, description="Unix seconds; absent: never expires.")
    last_used_at: float | None = Field(None, description="Unix seconds, to a minute.")


class TaskOut(_Out):
    id: str
    name: str
    status: Literal["queued", "running", "completed", "failed"]
    result: Any = None
    error: RunError | None = None


class ChatMessageIn(_Out):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: list[ToolCallIn] | None = None


def forced_tool(choice: Any) -> str | None:
    """``"required"`` or the forced function's name from an OpenAI ``tool_choice``."""
    if choice == "required":
        return "required"
    if isinstance(choice, dict):
        inner = choice.get("function")
        fn: dict[str, Any] = inner if isinstance(inner, dict) else choice
        name = fn.get("name")
        return name if isinstance(name, str) and name else None
    return None


_OWN_TOOLS = "the agent behind this endpoint calls its own server-side tools"


class ChatCompletionCreate(_Out):
    """OpenAI ``POST /v1/chat/completions``.

    Options that only tune generation (``temperature``, ``max_tokens``, ``seed`` …) are
    accepted and ignored: the agent owns its model settings. Options whose effect the
    client relies on (client-side ``tools``, ``n`` > 1, JSON ``response_format`` …) are
    declared here so :meth:`unsupported` can refuse them rather than silently ignore them;
    client ``tools`` and ``response_format`` are honoured (decision 0230).
    """

    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[ChatMessageIn] = Field(..., min_length=1)
    stream: StrictBool = False
    user: str | None = None
    stream_options: dict[str, Any] | None = None
    tools: list[ChatTool] | None = None
    functions: list[FunctionDef] | None = None
    tool_choice: Any = None
    function_call: Any = None
    n: int | None = None
    response_format: ResponseFormat | None = None
    logprobs: StrictBool | None = None
    top_logprobs: int | None = None
    modalities: list[str] | None = None
    audio: Any = None
    web_search_options: Any = None

    def unsupported(self) -> tuple[str, str] | None:
        """The first option this endpoint cannot honour, as ``(field, why)``, else ``None``.

        Client ``tools`` pass through (decision 0230) and ``response_format`` maps to the
        agent's structured output; forcing a tool call is not offered.
        """
        for name in ("tool_choice", "function_call"):
            choice = getattr(self, name)
            if choice is None or choice in ("none", "auto"):
                continue
            forced = forced_tool(choice)
            client = {t.function.name for t in self.tools or []} | {
                f.name for f in self.functions or []
            }
            if forced is None or (forced != "required" and forced not in client) or not client:
                return name, (
                    f"{name}={choice!r} is not supported: only 'none', 'auto', and 'required' "
                    "or a named function among the client's own tools are accepted"
                )
        if self.n is not None and self.n != 1:
            return "n", (
                f"n={self.n} is not supported: an agent run gives one answer; send n=1 "
                "(or leave it out) and make several requests for several answers"
            )
        if self.logprobs or self.top_logprobs:
            field = "logprobs" if self.logprobs else "top_logprobs"
            return field, (
                f"{field} is not supported: an agent's answer may come from several "
                "model calls, so there are no per-token log probabilities"
            )
        if self.audio is not None or any(m != "text" for m in self.modalities or ()):
            field = "audio" if self.audio is not None else "modalities"
            return field, f"{field} is not supported: the agent answers in text only"
        if self.web_search_options is not None:
            return "web_search_options", f"web_search_options is not supported: {_OWN_TOOLS}"
        return None
