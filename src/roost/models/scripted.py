"""``ScriptedModel``: a deterministic test double that replays scripted replies.

It is not a mock of a provider: it implements :class:`ChatModel` itself, streams its
replies as real events (in chunks, optionally with a delay, so interrupts can land
mid-stream) and records every request in :attr:`ScriptedModel.calls`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from roost.core import Event, Msg, RoostError, ToolSpec, Usage, new_id
from roost.models.base import (
    BaseChatModel,
    ModelRequest,
    ResponseFormat,
    StreamAccumulator,
    ToolChoice,
)


@dataclass
class ScriptedToolCall:
    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    """A dict, or a raw string (to script malformed JSON arguments)."""
    id: str | None = None


@dataclass
class ScriptedReply:
    """One model turn: optional thinking, text, tool calls; or an error to raise."""

    text: str = ""
    tool_calls: list[ScriptedToolCall] = field(default_factory=list)
    thinking: str = ""
    error: BaseException | None = None
    error_after_chunks: int | None = None
    """Raise ``error`` after this many text chunks instead of before the first."""
    usage: Usage | None = None
    stop_reason: str | None = None
    """Override the stop reason (e.g. ``"length"`` to script a reply cut off by max_tokens)."""


@dataclass
class ScriptedCall:
    """What the model was sent on one call."""

    messages: list[Msg]
    tools: list[ToolSpec]
    tool_choice: ToolChoice | None
    response_format: ResponseFormat | None
    options: dict[str, Any]


ReplyLike = ScriptedReply | str | Msg | BaseException | Callable[[list[Msg]], Any]


class ScriptedModel(BaseChatModel):
    """Replays ``replies`` in order (cycling when ``loop=True``).

    A reply may be a string (text), a :class:`ScriptedReply`, an assistant :class:`Msg`,
    an exception (raised by the call), or a callable ``(messages) -> reply`` computed
    from what the model was sent.
    """

    provider = "scripted"

    def __init__(
        self,
        replies: Sequence[ReplyLike],
        *,
        model_name: str = "scripted",
        chunks: int = 4,
        chunk_delay: float = 0.0,
        loop: bool = False,
    ) -> None:
        self.replies = list(replies)
        self.model_name = model_name
        self.chunks = max(1, chunks)
        self.chunk_delay = chunk_delay
        self.loop = loop
        self.calls: list[ScriptedCall] = []
        self._index = 0

    # -- helpers to write scripts -------------------------------------------------------
    @staticmethod
    def text(text: str, **kw: Any) -> ScriptedReply:
        return ScriptedReply(text=text, **kw)

    @staticmethod
    def tool_call(
        name: str,
        arguments: dict[str, Any] | str | None = None,
        *,
        id: str | None = None,
        text: str = "",
    ) -> ScriptedReply:
        return ScriptedReply(text=text, tool_calls=[ScriptedToolCall(name, arguments or {}, id)])

    @staticmethod
    def tool_calls(*calls: tuple[str, dict[str, Any]], text: str = "") -> ScriptedReply:
        return ScriptedReply(text=text, tool_calls=[ScriptedToolCall(n, a) for n, a in calls])

    @staticmethod
    def structured(value: BaseModel | dict[str, Any]) -> ScriptedReply:
        data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        return ScriptedReply(text=json.dumps(data))

    @property
    def remaining(self) -> int:
        return len(self.replies) - self._index

    def _next(self, messages: list[Msg]) -> ReplyLike:
        if self._index >= len(self.replies):
            if not self.loop or not self.replies:
                raise RoostError(
                    f"ScriptedModel ran out of replies after {len(self.calls)} calls",
                    hint="add more replies to the script or pass loop=True",
                )
            self._index = 0
        reply = self.replies[self._index]
        self._index += 1
        if callable(reply) and not isinstance(reply, BaseException | Msg | ScriptedReply):
            reply = reply(messages)
        return reply

    def _split(self, text: str) -> list[str]:
        if not text:
            return []
        n = min(self.chunks, len(text))
        size = -(-len(text) // n)
        return [text[i : i + size] for i in range(0, len(text), size)]

    async def request_stream(
        self, messages: Sequence[Msg], request: ModelRequest
    ) -> AsyncIterator[Event]:
        msgs = list(messages)
        r = request
        self.calls.append(
            ScriptedCall(msgs, list(r.tools), r.tool_choice, r.response_format, dict(r.options))
        )
        reply = self._next(msgs)
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, str):
            reply = ScriptedReply(text=reply)
        if isinstance(reply, Msg):
            reply = ScriptedReply(
                text=reply.text,
                thinking=reply.thinking,
                tool_calls=[ScriptedToolCall(b.name, b.input, b.id) for b in reply.tool_uses],
            )
        assert isinstance(reply, ScriptedReply)
        if reply.error is not None and reply.error_after_chunks is None:
            raise reply.error

        acc = StreamAccumulator()
        pause = self.chunk_delay
        if reply.thinking:
            for piece in self._split(reply.thinking):
                if pause:
                    await asyncio.sleep(pause)
                yield acc.thinking(piece)
        for i, piece in enumerate(self._split(reply.text)):
            if reply.error is not None and reply.error_after_chunks == i:
                raise reply.error
            if pause:
                await asyncio.sleep(pause)
            yield acc.text(piece)
        if reply.error is not None:
            raise reply.error
        for call in reply.tool_calls:
            call_id = call.id or new_id("call")
            yield acc.start_call(call_id, call.name)
            raw = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
            for piece in self._split(raw) or [""]:
                if pause:
                    await asyncio.sleep(pause)
                yield acc.call_delta(call_id, piece)
            yield acc.finish_call(call_id)
        prompt_chars = sum(len(m.text) + 16 * len(m.content) for m in msgs)
        usage = reply.usage or Usage(
            input_tokens=max(1, prompt_chars // 4),
            output_tokens=max(1, (len(reply.text) + len(reply.thinking)) // 4)
            + 8 * len(reply.tool_calls),
        )
        yield acc.add_usage(usage, self.model_name)
        stop = reply.stop_reason or ("tool_use" if reply.tool_calls else "end_turn")
        yield acc.response(stop, self.model_name)
