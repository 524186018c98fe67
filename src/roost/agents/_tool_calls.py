"""Running the tool calls of one step: in parallel when allowed, each in its span, with
human approval where the toolkit asks for it, and a loop guard that answers a repeated
identical call with the earlier result instead of running it again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from roost.agents._state import ReplyState, call_key
from roost.agents._tracing import set_error, start_span
from roost.agents.memory import Memory
from roost.core import (
    ApprovalNotFound,
    ApprovalRequired,
    ApprovalResolved,
    Msg,
    TextBlock,
    ToolProgress,
    ToolResultBlock,
    ToolResultEvent,
    ToolUseBlock,
)
from roost.tools import Toolkit

if TYPE_CHECKING:
    from opentelemetry.trace import Span


def repeated_result(call: ToolUseBlock, previous: ToolResultBlock) -> ToolResultBlock:
    """What a repeated identical call gets: the earlier result and an order to answer."""
    return ToolResultBlock(
        tool_use_id=call.id,
        name=call.name,
        content=[
            TextBlock(
                text=f"You already called {call.name} with these arguments and got: "
                f"{previous.text}\nDo not call it again; use this result to answer now."
            )
        ],
        is_error=True,
        code="repeated_tool_call",
    )


class ToolCalls:
    """Mixin of ``ReActAgent``: tool execution and approvals."""

    name: str
    memory: Memory
    toolkit: Toolkit
    loop_guard: bool
    parallel_tool_calls: bool
    _approvals: dict[str, asyncio.Future[tuple[bool, str | None]]]

    # -- approvals (public API) ---------------------------------------------------------
    @property
    def pending_approvals(self) -> list[str]:
        return [cid for cid, fut in self._approvals.items() if not fut.done()]

    def approve(self, call_id: str, reason: str | None = None) -> None:
        self._resolve(call_id, True, reason)

    def reject(self, call_id: str, reason: str = "rejected") -> None:
        self._resolve(call_id, False, reason)

    def _resolve(self, call_id: str, approved: bool, reason: str | None) -> None:
        fut = self._approvals.get(call_id)
        if fut is None or fut.done():
            raise ApprovalNotFound(
                f"no tool call '{call_id}' is waiting for approval",
                hint="pending: " + (", ".join(self.pending_approvals) or "none"),
            )
        fut.set_result((approved, reason))

    # -- execution ----------------------------------------------------------------------
    async def _run_tools(
        self, st: ReplyState, emit: Callable[[Any], None], calls: list[ToolUseBlock]
    ) -> bool:
        """Execute the calls (in parallel when allowed); returns True when the loop guard
        fired and the next step must answer."""
        st.phase = "tools"
        st.calls = list(calls)
        st.results = {}
        guard_fired = False

        async def run_one(call: ToolUseBlock) -> None:
            nonlocal guard_fired
            key = call_key(call)
            attrs = {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": call.name,
                "gen_ai.tool.call.id": call.id,
                "gen_ai.agent.name": self.name,
                **st.ctx_attrs,
            }
            with start_span(f"execute_tool {call.name}", attrs) as span:
                result = None
                if self.loop_guard and key in st.executed:
                    guard_fired = True
                    result = repeated_result(call, st.executed[key])
                elif self.toolkit.needs_approval(call):
                    result = await self._await_approval(call, emit)
                if result is None:
                    result = await self._execute(call, emit)
                    st.executed[key] = result
                    if not result.is_error:
                        st.last_success = (call, result)
                st.results[call.id] = result
                _tool_span_status(span, result)
                emit(
                    ToolResultEvent(call_id=call.id, name=call.name, result=result, agent=self.name)
                )

        if self.parallel_tool_calls and len(calls) > 1:
            await asyncio.gather(*(run_one(c) for c in calls))
        else:
            for call in calls:
                await run_one(call)
        self.memory.add(Msg(role="tool", name=self.name, content=[st.results[c.id] for c in calls]))
        st.calls = []
        st.results = {}
        return guard_fired

    async def _execute(self, call: ToolUseBlock, emit: Callable[[Any], None]) -> ToolResultBlock:
        result: ToolResultBlock | None = None
        async for item in self.toolkit.execute(call):
            if isinstance(item, ToolProgress):
                item.agent = self.name
                emit(item)
            else:
                result = item
        assert result is not None
        return result

    async def _await_approval(
        self, call: ToolUseBlock, emit: Callable[[Any], None]
    ) -> ToolResultBlock | None:
        fut: asyncio.Future[tuple[bool, str | None]] = asyncio.get_running_loop().create_future()
        self._approvals[call.id] = fut
        emit(ApprovalRequired(call_id=call.id, name=call.name, input=call.input, agent=self.name))
        try:
            approved, reason = await fut
        finally:
            self._approvals.pop(call.id, None)
        emit(ApprovalResolved(call_id=call.id, approved=approved, reason=reason, agent=self.name))
        if approved:
            return None
        return ToolResultBlock(
            tool_use_id=call.id,
            name=call.name,
            content=[
                TextBlock(text=f"The user rejected this tool call: {reason or 'no reason given'}.")
            ],
            is_error=True,
            status="rejected",
            code="tool_rejected",
        )


def _tool_span_status(span: Span, result: ToolResultBlock) -> None:
    if result.is_error:
        set_error(span, result.code or "tool_error")
        span.set_attribute("error.type", result.code or "tool_error")
