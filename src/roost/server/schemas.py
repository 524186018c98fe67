"""Request and response bodies of the HTTP API (also the source of the OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from roost.core import Msg, Usage

RunStatus = Literal["queued", "running", "waiting_approval", "completed", "failed", "canceled"]
TERMINAL_STATUSES = frozenset({"completed", "failed", "canceled"})


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SessionCreate(_Body):
    """``POST /v1/sessions``."""

    agent: str | None = Field(None, description="Agent name; default: the app's first agent.")
    metadata: dict[str, Any] = Field(default_factory=dict)


class SessionOut(BaseModel):
    id: str
    agent: str | None = None
    user_id: str | None = None
    tenant_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: float | None = None
    updated_at: float | None = None


class SessionList(BaseModel):
    data: list[SessionOut]


class MessagePageOut(BaseModel):
    data: list[dict[str, Any]]
    has_more: bool = False
    next_after: str | None = None


class RunCreate(_Body):
    """``POST /v1/sessions/{id}/runs``: ``input`` is text, one message, or a list of messages."""

    input: str | dict[str, Any] | list[dict[str, Any]] = Field(
        ..., description="Text, a message object, or a list of message objects."
    )
    stream: bool = Field(True, description="Stream events as SSE; false waits for the result.")
    background: bool = Field(
        False, description="Queue the run durably and return 202 at once (huey queue)."
    )
    metadata: dict[str, Any] = Field(default_factory=dict)


class RunError(BaseModel):
    code: str
    message: str


class RunOut(BaseModel):
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


class ApprovalDecision(_Body):
    """``POST /v1/runs/{id}/approvals/{call_id}``."""

    approve: bool
    reason: str | None = None


class KeyCreate(_Body):
    """``POST /v1/keys`` (admin only)."""

    name: str = Field(..., min_length=1, max_length=200)
    role: Literal["user", "admin"] = "user"
    tenant_id: str | None = None
    user_id: str | None = None


class KeyOut(BaseModel):
    id: str
    name: str
    role: str
    tenant_id: str | None = None
    user_id: str | None = None
    key: str | None = Field(None, description="The plaintext key; returned once, at creation.")


class TaskOut(BaseModel):
    id: str
    name: str
    status: Literal["queued", "running", "completed", "failed"]
    result: Any = None
    error: RunError | None = None


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_call_id: str | None = None


class ChatCompletionCreate(BaseModel):
    """OpenAI ``POST /v1/chat/completions``; sampling options are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[ChatMessageIn] = Field(..., min_length=1)
    stream: bool = False
    user: str | None = None
