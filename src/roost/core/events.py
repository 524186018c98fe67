"""Typed stream events.

An agent's ``reply()`` and a model's ``stream()`` yield these. Each is a pydantic model
discriminated by ``type`` (``text.delta``, ``tool_call.finished`` …) so it round-trips
through JSON; the server wraps them in an envelope with ``seq``, ``run_id`` and
``session_id`` (see docs/protocol.md).
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from roost.core.blocks import ToolResultBlock
from roost.core.msg import Msg
from roost.core.usage import Usage


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built on first use (0097)
    agent: str | None = None
    """Name of the agent that produced the event (set by agents, not by models)."""


class ReplyStarted(_Event):
    type: Literal["reply.started"] = "reply.started"
    msg_id: str


class TextDelta(_Event):
    type: Literal["text.delta"] = "text.delta"
    msg_id: str | None = None
    delta: str


class ThinkingDelta(_Event):
    type: Literal["thinking.delta"] = "thinking.delta"
    msg_id: str | None = None
    delta: str


class ToolCallStarted(_Event):
    type: Literal["tool_call.started"] = "tool_call.started"
    msg_id: str | None = None
    call_id: str
    name: str


class ToolCallDelta(_Event):
    """A fragment of a tool call's JSON arguments, as the model streams them."""

    type: Literal["tool_call.delta"] = "tool_call.delta"
    msg_id: str | None = None
    call_id: str
    delta: str


class ToolCallFinished(_Event):
    type: Literal["tool_call.finished"] = "tool_call.finished"
    msg_id: str | None = None
    call_id: str
    name: str
    input: dict[str, Any] = Field(default_factory=dict)


class ToolProgress(_Event):
    """A chunk produced by a streaming (async-generator) tool before its result."""

    type: Literal["tool.progress"] = "tool.progress"
    call_id: str
    name: str
    delta: str


class ToolResultEvent(_Event):
    type: Literal["tool.result"] = "tool.result"
    call_id: str
    name: str
    result: ToolResultBlock


class UsageEvent(_Event):
    type: Literal["usage"] = "usage"
    usage: Usage
    model: str | None = None


class ErrorEvent(_Event):
    """A failure the loop recovered from or ended on; ``code`` is a stable error code."""

    type: Literal["error"] = "error"
    code: str
    message: str
    recoverable: bool = False


class ApprovalRequired(_Event):
    type: Literal["approval.required"] = "approval.required"
    call_id: str
    name: str
    input: dict[str, Any] = Field(default_factory=dict)


class ApprovalResolved(_Event):
    type: Literal["approval.resolved"] = "approval.resolved"
    call_id: str
    approved: bool
    reason: str | None = None


class Interrupted(_Event):
    type: Literal["interrupted"] = "interrupted"
    msg_id: str | None = None
    reason: str = "interrupted"


class KnowledgeRetrieved(_Event):
    """Chunks a retrieval found during the reply; ``citations`` carry the chunk,
    document and knowledge-base ids with the source, what an answer cites."""

    type: Literal["knowledge.retrieved"] = "knowledge.retrieved"
    query: str
    citations: list[dict[str, Any]] = Field(default_factory=list)
    mode: Literal["tool", "auto"] = "tool"


class PolicyApplied(_Event):
    """A data protection policy changed where a prompt went, or stopped it: sent to a
    private model instead (``rerouted``), redacted first (``redacted``), or not sent at
    all (``refused``). ``kinds``: what sensitive data was detected (never the values)."""

    type: Literal["policy.applied"] = "policy.applied"
    action: Literal["rerouted", "redacted", "refused"]
    reason: Literal["sensitive_data", "confidential_tenant"]
    kinds: list[str] = Field(default_factory=list)
    model: str | None = None
    """The model the prompt went to (None when refused)."""
    avoided: str | None = None
    """The public model it would have gone to."""


class ReplyFinished(_Event):
    type: Literal["reply.finished"] = "reply.finished"
    msg: Msg
    usage: Usage | None = None


class ModelResponse(_Event):
    """Last event of a model stream: the whole assistant message and why it stopped."""

    type: Literal["model.response"] = "model.response"
    msg: Msg
    stop_reason: str | None = None
    model: str | None = None
    usage: Usage = Field(default_factory=Usage)
    prompt_digest: str | None = None
    """``sha256:<hex>`` of the messages the model was sent; set by the agent that made
    the call, for the audit trail's lineage (roost.govern.audit)."""


Event = Annotated[
    ReplyStarted
    | TextDelta
    | ThinkingDelta
    | ToolCallStarted
    | ToolCallDelta
    | ToolCallFinished
    | ToolProgress
    | ToolResultEvent
    | UsageEvent
    | ErrorEvent
    | ApprovalRequired
    | ApprovalResolved
    | Interrupted
    | KnowledgeRetrieved
    | PolicyApplied
    | ReplyFinished
    | ModelResponse,
    Field(discriminator="type"),
]


@functools.cache
def _adapter() -> TypeAdapter[Event]:
    # built on first parse, not at import: the union's validator is large (decision 0097)
    return TypeAdapter(Event)


def parse_event(data: dict[str, Any] | str | bytes) -> Event:
    """Parse an event from a dict or its JSON text."""
    if isinstance(data, str | bytes):
        return _adapter().validate_json(data)
    return _adapter().validate_python(data)
