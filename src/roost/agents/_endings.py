"""How a reply ends early: interrupted (by the user or the caller) or failed. Either way
the partial text stays in memory, every open tool call gets a result, and the stream
still ends with ``ReplyFinished``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from roost.agents._state import ReplyState
from roost.agents.memory import Memory
from roost.core import (
    ErrorEvent,
    Interrupted,
    Msg,
    RoostError,
    TextBlock,
    ToolResultBlock,
    ToolResultEvent,
    new_id,
)
from roost.tools import _results as results


class Endings:
    """Mixin of ``ReActAgent``: closing a reply that cannot finish normally."""

    name: str
    memory: Memory
    _approvals: dict[str, asyncio.Future[tuple[bool, str | None]]]
    _interrupt_reason: str

    def _partial_assistant(self, st: ReplyState) -> Msg | None:
        blocks: list[Any] = []
        text = "".join(st.partial_text)
        if text:
            blocks.append(TextBlock(text=text))
        blocks.extend(st.streamed_calls)
        if not blocks:
            return None
        return Msg(
            id=st.model_msg_id or new_id("msg"),
            role="assistant",
            name=self.name,
            content=blocks,
            metadata={"partial": True},
        )

    def _close_open_calls(
        self, st: ReplyState, reason: str
    ) -> tuple[Msg | None, list[ToolResultBlock]]:
        """Keep the partial reply in memory and give every call without a result an
        interrupted result. Returns (partial assistant message, the results it added)."""
        closed: list[ToolResultBlock] = []
        partial = None
        if st.phase == "model":
            partial = self._partial_assistant(st)
            if partial is not None:
                self.memory.add(partial)
            calls, done = st.streamed_calls, {}
        else:
            calls, done = st.calls, st.results
        all_results = []
        for call in calls:
            if call.id in done:
                all_results.append(done[call.id])
            else:
                res = results.interrupted(call.id, call.name, reason)
                closed.append(res)
                all_results.append(res)
        if all_results:
            self.memory.add(Msg(role="tool", name=self.name, content=all_results))
        for fut in self._approvals.values():
            fut.cancel()
        self._approvals.clear()
        return partial, closed

    def _finish_early(
        self, st: ReplyState, emit: Callable[[Any], None], reason: str, metadata: dict[str, Any]
    ) -> Msg:
        partial, closed = self._close_open_calls(st, reason)
        for res in closed:
            emit(
                ToolResultEvent(
                    call_id=res.tool_use_id, name=res.name or "", result=res, agent=self.name
                )
            )
        final = partial or Msg(role="assistant", name=self.name, content="")
        final.metadata.update(metadata)
        return final

    def _close_interrupted(self, st: ReplyState, emit: Callable[[Any], None]) -> Msg:
        reason = self._interrupt_reason
        final = self._finish_early(st, emit, reason, {"interrupted": True, "reason": reason})
        emit(Interrupted(msg_id=st.reply_id, reason=reason, agent=self.name))
        return final

    def _close_failed(self, st: ReplyState, emit: Callable[[Any], None], exc: RoostError) -> Msg:
        final = self._finish_early(
            st, emit, exc.code, {"error": {"code": exc.code, "message": exc.message}}
        )
        emit(ErrorEvent(code=exc.code, message=exc.message, recoverable=False, agent=self.name))
        return final
