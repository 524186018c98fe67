"""Adapts ``async def fn(msg, ctx)`` generators (yielding text or events) to the Agent protocol."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from roost.core import (
    ApprovalNotFound,
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
from roost.server.context import AgentContext

GeneratorFn = Callable[[Msg, AgentContext], AsyncGenerator[Any, None]]


class GeneratorAgent:
    """Streams what the generator yields: a ``str`` is a text delta, an event passes through.

    The generator gets the last input message and the :class:`AgentContext`; an interrupt
    closes it at its next ``yield``. It has no state of its own (``state_dict()`` is ``{}``).
    """

    def __init__(self, name: str, fn: GeneratorFn, ctx: AgentContext) -> None:
        self.name = name
        self.fn = fn
        self.ctx = ctx
        self._interrupted: str | None = None
        self._task: asyncio.Task[Any] | None = None
        self._waiting = False

    async def reply(self, msg: Msg | list[Msg] | str | None = None) -> AsyncIterator[Event]:
        if isinstance(msg, list):
            msg = msg[-1] if msg else None
        if msg is None or isinstance(msg, str):
            msg = Msg.user(msg or "")
        self._interrupted = None
        msg_id = new_id("msg")
        text: list[str] = []
        usage: Usage | None = None
        yield ReplyStarted(msg_id=msg_id, agent=self.name)
        gen = self.fn(msg, self.ctx)
        self._task = asyncio.current_task()
        try:
            while self._interrupted is None:
                self._waiting = True
                try:
                    item = await gen.__anext__()
                except StopAsyncIteration:
                    break
                except asyncio.CancelledError:
                    if self._interrupted is None or self._task is None:
                        raise
                    self._task.uncancel()  # our own interrupt, not a shutdown
                    break
                finally:
                    self._waiting = False
                if isinstance(item, str):
                    if item:
                        text.append(item)
                        yield TextDelta(msg_id=msg_id, delta=item, agent=self.name)
                elif isinstance(item, TextDelta):
                    text.append(item.delta)
                    yield item
                elif isinstance(item, UsageEvent):
                    usage = item.usage if usage is None else usage + item.usage
                    yield item
                elif not isinstance(item, ReplyFinished):  # the adapter sends the one
                    yield item
        finally:
            self._task = None
            with contextlib.suppress(Exception):
                await gen.aclose()
        final = Msg(id=msg_id, role="assistant", name=self.name, content="".join(text))
        if self._interrupted is not None:
            final.metadata["partial"] = True  # as ReActAgent marks an interrupted reply
            yield Interrupted(msg_id=msg_id, reason=self._interrupted, agent=self.name)
        yield ReplyFinished(msg=final, usage=usage, agent=self.name)

    async def __call__(self, msg: Msg | list[Msg] | str | None = None) -> Msg:
        final: Msg | None = None
        async for event in self.reply(msg):
            if isinstance(event, ReplyFinished):
                final = event.msg
        assert final is not None
        return final

    def interrupt(self, reason: str = "interrupted") -> None:
        """Stop now: a generator blocked in ``await`` is cancelled, not waited for."""
        self._interrupted = reason
        if self._waiting and self._task is not None:
            self._task.cancel()

    def approve(self, call_id: str) -> None:
        raise ApprovalNotFound(f"no pending approval {call_id!r}: generator agents never pause")

    def reject(self, call_id: str, reason: str = "rejected") -> None:
        raise ApprovalNotFound(f"no pending approval {call_id!r}: generator agents never pause")

    async def observe(self, msg: Msg | list[Msg]) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None
