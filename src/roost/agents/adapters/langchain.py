"""``LangChainAgent``: a LangGraph graph or any LangChain ``Runnable`` as a Roost agent.

The conversation is kept as Roost messages (``state_dict`` → the session's saved state),
handed to the runnable as LangChain messages (``{"messages": [...]}`` for a graph with
a ``messages`` channel, the list itself for a chat model or chain). Tokens stream as
``TextDelta`` (LangGraph's ``messages`` stream mode, or the chunks a chain yields); an
interrupt cancels the stream; an exception ends the reply with a non-recoverable
``ErrorEvent`` carrying ``adapter_error`` (the run ends ``failed``), as a native agent's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from roost.agents._tracing import set_error, start_span
from roost.core import (
    ApprovalNotFound,
    ErrorEvent,
    Event,
    Interrupted,
    Msg,
    ReplyFinished,
    ReplyStarted,
    TextDelta,
    Usage,
    UsageEvent,
    new_id,
)

log = logging.getLogger("roost.agents.adapters")

STATE_TYPE = "langchain"


def to_langchain(msgs: list[Msg]) -> list[Any]:
    """Roost messages as LangChain messages (text, tool calls and tool results)."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

    out: list[Any] = []
    for m in msgs:
        if m.role == "system":
            out.append(SystemMessage(m.text))
        elif m.role == "user":
            out.append(HumanMessage(m.text, name=m.name) if m.name else HumanMessage(m.text))
        elif m.role == "assistant":
            calls = [{"id": c.id, "name": c.name, "args": c.input} for c in m.tool_uses]
            out.append(AIMessage(m.text, tool_calls=calls))
        else:
            for r in m.tool_results:
                out.append(ToolMessage(r.text, tool_call_id=r.tool_use_id))
    return out


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks
        return "".join(
            b if isinstance(b, str) else str(b.get("text", ""))
            for b in content
            if isinstance(b, str) or b.get("type") == "text"
        )
    return ""


class LangChainAgent:
    """Serves ``runnable`` (a compiled LangGraph graph, a chat model, a chain) as an agent.

    ``input_key``: the graph's message channel (``"messages"``); ``None`` sends the
    message list itself (chat models and chains). ``config`` is passed to every call.
    """

    def __init__(
        self,
        name: str,
        runnable: Any,
        *,
        input_key: str | None = "messages",
        config: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.runnable = runnable
        self.input_key = input_key
        self.config = dict(config or {})
        self.history: list[Msg] = []
        self._task: asyncio.Task[Any] | None = None
        self._interrupted: str | None = None

    # -- Agent protocol -----------------------------------------------------------------
    async def reply(self, msg: Msg | list[Msg] | str | None = None) -> AsyncIterator[Event]:
        if isinstance(msg, str):
            incoming = [Msg.user(msg)]
        elif isinstance(msg, Msg):
            incoming = [msg]
        else:
            incoming = list(msg or [])
        self.history.extend(incoming)
        self._interrupted = None
        msg_id = new_id("msg")
        yield ReplyStarted(msg_id=msg_id, agent=self.name)
        text: list[str] = []
        error: tuple[str, str] | None = None
        usage = Usage()
        attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": self.name}
        with start_span(f"invoke_agent {self.name}", attrs) as span:
            pieces = self._stream().__aiter__()
            try:
                while self._interrupted is None:
                    # each step in its own task: an interrupt cancels the framework's
                    # step, never the run's task that consumes this reply
                    self._task = asyncio.ensure_future(pieces.__anext__())
                    try:
                        piece, chunk_usage = await self._task
                    except StopAsyncIteration:
                        break
                    except asyncio.CancelledError:
                        if self._interrupted is not None and self._task.cancelled():
                            break
                        raise
                    if chunk_usage is not None:
                        usage = usage + chunk_usage
                    if piece:
                        text.append(piece)
                        yield TextDelta(msg_id=msg_id, delta=piece, agent=self.name)
            except Exception as exc:  # the framework failed mid-stream
                log.exception("adapted agent %r failed", self.name)
                error = ("adapter_error", f"the adapted agent raised {type(exc).__name__}")
                set_error(span, "adapter_error")
            finally:
                self._task = None
                with contextlib.suppress(Exception):
                    await pieces.aclose()  # type: ignore[attr-defined]
        final = Msg(id=msg_id, role="assistant", name=self.name, content="".join(text))
        if self._interrupted is not None:
            final.metadata.update({"interrupted": True, "reason": self._interrupted})
            yield Interrupted(msg_id=msg_id, reason=self._interrupted, agent=self.name)
        elif error is not None:
            final.metadata["error"] = {"code": error[0], "message": error[1]}
            yield ErrorEvent(code=error[0], message=error[1], recoverable=False, agent=self.name)
        if usage.input_tokens or usage.output_tokens:
            yield UsageEvent(usage=usage, agent=self.name)
        if final.text or error is None:
            self.history.append(final)
        yield ReplyFinished(msg=final, usage=usage, agent=self.name)

    async def _stream(self) -> AsyncIterator[tuple[str, Usage | None]]:
        """Text pieces (and usage when the framework reports it) of one invocation."""
        messages = to_langchain(self.history)
        if self.input_key is not None:
            stream = self.runnable.astream(
                {self.input_key: messages}, self.config or None, stream_mode="messages"
            )
            async for item in stream:
                chunk = item[0] if isinstance(item, tuple) else item
                if type(chunk).__name__ not in ("AIMessageChunk", "AIMessage"):
                    continue  # tool messages and the like: not the answer
                yield _text(chunk.content), _usage(chunk)
            return
        async for chunk in self.runnable.astream(messages, self.config or None):
            if isinstance(chunk, str):
                yield chunk, None
            else:
                yield _text(getattr(chunk, "content", "")), _usage(chunk)

    async def __call__(self, msg: Msg | list[Msg] | str | None = None) -> Msg:
        final = None
        async for event in self.reply(msg):
            if isinstance(event, ReplyFinished):
                final = event.msg
        assert final is not None
        return final

    def interrupt(self, reason: str = "interrupted") -> None:
        if self._task is not None and not self._task.done():
            self._interrupted = reason
            self._task.cancel()

    def approve(self, call_id: str) -> None:
        # the framework runs its own tools: nothing of it ever waits for an approval
        raise ApprovalNotFound(
            f"no pending approval {call_id!r}: a {self.name!r} reply never waits for one",
            hint="approvals are for Roost agents' tools that need them",
        )

    def reject(self, call_id: str, reason: str = "rejected") -> None:
        self.approve(call_id)

    async def observe(self, msg: Msg | list[Msg]) -> None:
        self.history.extend([msg] if isinstance(msg, Msg) else msg)

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "type": STATE_TYPE,
            "name": self.name,
            "history": [m.model_dump(mode="json", exclude_none=True) for m in self.history],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = [Msg.model_validate(m) for m in state.get("history", [])]


def _usage(chunk: Any) -> Usage | None:
    meta = getattr(chunk, "usage_metadata", None)
    if not meta:
        return None
    return Usage(
        input_tokens=int(meta.get("input_tokens", 0)),
        output_tokens=int(meta.get("output_tokens", 0)),
    )
