"""The ``ChatModel`` protocol every provider implements, and stream aggregation.

A model streams :mod:`roost.core.events` (text/thinking deltas, tool-call started /
delta / finished, usage) and ends with exactly one :class:`ModelResponse` carrying the
whole assistant :class:`Msg`. ``complete()`` is the non-streaming helper.
"""

from __future__ import annotations

import abc
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

from roost.core import (
    Event,
    ModelBadResponse,
    ModelResponse,
    Msg,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallFinished,
    ToolCallStarted,
    ToolSpec,
    ToolUseBlock,
    Usage,
    UsageEvent,
)

ToolChoice = Literal["auto", "none", "required"] | str
"""``auto``/``none``/``required`` or the name of one tool to force."""

ResponseFormat = dict[str, Any] | type[BaseModel]
"""A JSON schema dict (``{"type": "json_schema", ...}``/``{"type": "json_object"}``) or a
pydantic model class whose schema constrains the output."""


@dataclass(frozen=True)
class ModelRequest:
    """What one model call asks for besides the messages (pydantic-ai's request
    parameters): the tools it may call, which one it must, the shape of its output, and
    provider options (``temperature``, ``max_tokens``, ``seed`` …)."""

    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        *,
        tools: Sequence[ToolSpec] | None = None,
        tool_choice: ToolChoice | None = None,
        response_format: ResponseFormat | None = None,
        **options: Any,
    ) -> ModelRequest:
        """The request that keyword parameters describe (``model.stream(msgs, tools=…)``)."""
        return cls(tuple(tools or ()), tool_choice, response_format, options)


def request_of(request: ModelRequest | None, params: Mapping[str, Any]) -> ModelRequest:
    """``request``, or the one ``params`` describe: not both."""
    if request is None:
        return ModelRequest.of(**params)
    if params:
        raise TypeError("pass a ModelRequest or keyword parameters, not both")
    return request


@runtime_checkable
class ChatModel(Protocol):
    """What agents need from a model: a stream of events for a list of messages.

    ``request`` holds the call's tools, tool choice, output format and options; keyword
    parameters (``tools=``, ``temperature=`` …) describe one instead."""

    model_name: str
    provider: str

    def stream(
        self, messages: Sequence[Msg], request: ModelRequest | None = None, **params: Any
    ) -> AsyncIterator[Event]: ...

    async def complete(
        self, messages: Sequence[Msg], request: ModelRequest | None = None, **params: Any
    ) -> ModelResponse: ...


class BaseChatModel(abc.ABC):
    """Shared plumbing: ``stream()`` and ``complete()`` over the one method providers
    implement, :meth:`request_stream`."""

    model_name: str = "unknown"
    provider: str = "unknown"

    @abc.abstractmethod
    def request_stream(
        self, messages: Sequence[Msg], request: ModelRequest
    ) -> AsyncIterator[Event]:
        """Stream the model's reply as events, ending with one ``ModelResponse``."""

    def stream(
        self, messages: Sequence[Msg], request: ModelRequest | None = None, **params: Any
    ) -> AsyncIterator[Event]:
        return self.request_stream(messages, request_of(request, params))

    async def complete(
        self, messages: Sequence[Msg], request: ModelRequest | None = None, **params: Any
    ) -> ModelResponse:
        final: ModelResponse | None = None
        async for event in self.request_stream(messages, request_of(request, params)):
            if isinstance(event, ModelResponse):
                final = event
        if final is None:
            raise ModelBadResponse(f"{self.provider} stream ended without a response")
        return final

    async def aclose(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release connections; a no-op for models that hold none."""


def response_format_schema(fmt: ResponseFormat) -> tuple[str, dict[str, Any]]:
    """Return ``(name, json_schema)`` for a response format given as a model or a dict."""
    if isinstance(fmt, type) and issubclass(fmt, BaseModel):
        return fmt.__name__, fmt.model_json_schema()
    if fmt.get("type") == "json_schema":
        inner = fmt.get("json_schema", {})
        return str(inner.get("name", "output")), dict(inner.get("schema", {}))
    return "output", dict(fmt.get("schema", {"type": "object"}))


@dataclass
class _PendingCall:
    call_id: str
    name: str
    args: list[str] = field(default_factory=list)


class StreamAccumulator:
    """Builds the final assistant ``Msg`` from deltas; providers feed it as they parse.

    Keeping this in one place means every provider produces the same blocks in the
    same order (thinking, text, tool calls) and the same partial message on failure.
    """

    def __init__(self, msg_id: str | None = None, name: str | None = None) -> None:
        self.msg = (
            Msg(role="assistant", name=name)
            if msg_id is None
            else Msg(id=msg_id, role="assistant", name=name)
        )
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._thinking_signature: str | None = None
        self._calls: dict[str, _PendingCall] = {}
        self._order: list[str] = []
        self.finished_calls: list[ToolUseBlock] = []
        self.usage = Usage()

    def text(self, delta: str) -> TextDelta:
        self._text.append(delta)
        return TextDelta(msg_id=self.msg.id, delta=delta)

    def thinking(self, delta: str, signature: str | None = None) -> ThinkingDelta:
        self._thinking.append(delta)
        if signature:
            self._thinking_signature = signature
        return ThinkingDelta(msg_id=self.msg.id, delta=delta)

    def set_thinking_signature(self, signature: str) -> None:
        self._thinking_signature = signature

    def start_call(self, call_id: str, name: str) -> ToolCallStarted:
        self._calls[call_id] = _PendingCall(call_id, name)
        self._order.append(call_id)
        return ToolCallStarted(msg_id=self.msg.id, call_id=call_id, name=name)

    def call_delta(self, call_id: str, delta: str) -> ToolCallDelta:
        self._calls[call_id].args.append(delta)
        return ToolCallDelta(msg_id=self.msg.id, call_id=call_id, delta=delta)

    def finish_call(self, call_id: str) -> ToolCallFinished:
        call = self._calls[call_id]
        raw = "".join(call.args).strip()
        block = tool_use_from_json(call.call_id, call.name, raw)
        self.finished_calls.append(block)
        return ToolCallFinished(
            msg_id=self.msg.id, call_id=call_id, name=call.name, input=block.input
        )

    def open_call_ids(self) -> list[str]:
        done = {b.id for b in self.finished_calls}
        return [cid for cid in self._order if cid not in done]

    def add_usage(self, usage: Usage, model: str | None = None) -> UsageEvent:
        self.usage = usage
        return UsageEvent(usage=usage, model=model)

    def build(self) -> Msg:
        """The assistant message so far (also valid mid-stream, for partial replies)."""
        blocks: list[Any] = []
        if self._thinking:
            blocks.append(
                ThinkingBlock(thinking="".join(self._thinking), signature=self._thinking_signature)
            )
        if self._text:
            blocks.append(TextBlock(text="".join(self._text)))
        blocks.extend(self.finished_calls)
        self.msg.content = blocks
        self.msg.usage = self.usage
        return self.msg

    def response(self, stop_reason: str | None, model: str | None) -> ModelResponse:
        return ModelResponse(
            msg=self.build(), stop_reason=stop_reason, model=model, usage=self.usage
        )


def tool_use_from_json(call_id: str, name: str, raw: str) -> ToolUseBlock:
    """Parse tool arguments; invalid JSON is kept in ``raw_input`` for the tool layer to
    report back to the model instead of failing the whole reply."""
    if not raw:
        return ToolUseBlock(id=call_id, name=name, input={})
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return ToolUseBlock(id=call_id, name=name, input={}, raw_input=raw)
    if not isinstance(value, dict):
        return ToolUseBlock(id=call_id, name=name, input={}, raw_input=raw)
    return ToolUseBlock(id=call_id, name=name, input=value)
