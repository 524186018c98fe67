"""AG-UI (Agent-User Interaction protocol): ``POST /ag-ui/{agent}`` streams a run as AG-UI
events for front-ends that speak it (CopilotKit and others).

The body is AG-UI's ``RunAgentInput``: ``threadId`` names the conversation (a Roost session
of the caller, derived from the thread id), ``messages`` the history (new input: the
messages after the last assistant one when the thread exists), ``tools`` the front-end's
tools, which pass through like OpenAI client tools (decision 0230): their calls stream as
``TOOL_CALL_*`` events and the front-end answers with a new run carrying the result. Roost
events map one to one: text deltas to ``TEXT_MESSAGE_*``, tool calls to ``TOOL_CALL_*``,
server tool results to ``TOOL_CALL_RESULT``, the end to ``RUN_FINISHED`` / ``RUN_ERROR``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.core import NotFound, new_id
from roost.server.auth import Principal
from roost.server.engine.executor import PASS_THROUGH
from roost.server.openai_wire import AgUiMessage, AgUiTool
from roost.server.openapi import SSE_DATA
from roost.server.router import Doc, api_route
from roost.server.routes._common import load_session
from roost.server.routes._openai_messages import new_inputs, to_msgs
from roost.server.routes.openai_compat import pass_through
from roost.server.schemas import ChatMessageIn, _Out
from roost.server.sse import EventStreamResponse, LastFrames, sse_data
from roost.store.errors import SessionExists

if TYPE_CHECKING:
    from roost.server.services import Services
    from roost.store import SessionRecord


class RunAgentInput(_Out):
    """AG-UI's ``RunAgentInput`` (camelCase, as AG-UI clients send it)."""

    model_config = ConfigDict(extra="allow")
    threadId: str = Field(..., min_length=1, max_length=200)
    runId: str | None = None
    messages: list[AgUiMessage] = Field(..., min_length=1)
    tools: list[AgUiTool] = Field(default_factory=list)
    state: Any = None
    context: list[Any] = Field(default_factory=list)
    forwardedProps: Any = None


def _chat_message(m: AgUiMessage) -> ChatMessageIn:
    """An AG-UI message in the OpenAI shape ``to_msgs`` reads (they share it)."""
    return ChatMessageIn(
        role=m.role,
        content=m.content,
        name=m.name,
        tool_call_id=m.toolCallId,
        tool_calls=m.toolCalls,
    )


def routes(services: Services) -> list[BaseRoute]:
    async def session_for(
        principal: Principal, thread: str, agent: str
    ) -> tuple[SessionRecord, bool]:
        owner = "admin" if principal.is_admin else f"{principal.tenant_id}\0{principal.user_id}"
        raw = f"{owner}\0{thread}\0{agent}".encode()
        sid = "ses_agui" + hashlib.sha256(raw).hexdigest()[:24]
        with contextlib.suppress(NotFound):
            return await load_session(services, principal, sid), True
        try:
            session = await services.store.create_session(
                app=services.config.name,
                agent=agent,
                user_id=principal.user_id,
                tenant_id=principal.tenant_id,
                session_id=sid,
                metadata={"source": "ag-ui", "thread_id": thread},
            )
        except SessionExists:
            return await load_session(services, principal, sid), True
        services.sessions.remember(session, fresh=True)
        return session, False

    def handler(agent: str) -> Any:
        async def ag_ui_run(request: Request, principal: Principal) -> Response:
            from roost.server._http import parse_body

            body = await parse_body(request, RunAgentInput)
            msgs = to_msgs([_chat_message(m) for m in body.messages])
            if not msgs:
                from roost.core import InvalidRequest

                raise InvalidRequest("messages is empty", hint="send at least one message")
            options = pass_through(body.tools, None, None, None)
            session, existed = await session_for(principal, body.threadId, agent)
            metadata: dict[str, Any] = {"source": "ag-ui"}
            if options:
                metadata[PASS_THROUGH] = options
            inputs = new_inputs(msgs) if existed else msgs
            handle = await services.executor.start(session, inputs, metadata=metadata)
            run_id = body.runId or handle.id
            stream = _events(services, handle.id, body.threadId, run_id)
            return EventStreamResponse(stream, {"x-session-id": session.id, "x-run-id": handle.id})

        return ag_ui_run

    doc = Doc(
        "AG-UI: run the agent, streamed as AG-UI events",
        body=RunAgentInput,
        response=SSE_DATA,
        errors={"400": "unsupported_parameter, tool_name_conflict", "409": "session_busy"},
    )
    return [api_route(f"/ag-ui/{name}", handler(name), ["POST"], doc) for name in services.agents]


def _frame(type_: str, **data: Any) -> bytes:
    return sse_data(json.dumps({"type": type_, **data}, separators=(",", ":")))


async def _events(
    services: Services, run_id: str, thread: str, ag_run: str
) -> AsyncIterator[bytes]:
    yield _frame("RUN_STARTED", threadId=thread, runId=ag_run)
    open_msg: str | None = None
    with_args: set[str] = set()
    async with contextlib.aclosing(services.executor.follow(run_id, 0)) as batches:
        async for batch in batches:
            out: list[bytes] = []
            for _seq, type_, text in batch:
                env = json.loads(text)
                if type_ == "text.delta":
                    msg_id = env.get("msg_id") or "msg_" + run_id
                    if open_msg != msg_id:
                        if open_msg is not None:
                            out.append(_frame("TEXT_MESSAGE_END", messageId=open_msg))
                        open_msg = msg_id
                        out.append(_frame("TEXT_MESSAGE_START", messageId=msg_id, role="assistant"))
                    out.append(_frame("TEXT_MESSAGE_CONTENT", messageId=msg_id, delta=env["delta"]))
                    continue
                if type_.startswith(("tool_call.", "tool.result", "run.")) and open_msg is not None:
                    out.append(_frame("TEXT_MESSAGE_END", messageId=open_msg))
                    open_msg = None
                if type_ == "tool_call.started":
                    out.append(
                        _frame(
                            "TOOL_CALL_START",
                            toolCallId=env["call_id"],
                            toolCallName=env["name"],
                            parentMessageId=env.get("msg_id"),
                        )
                    )
                elif type_ == "tool_call.delta":
                    with_args.add(env["call_id"])
                    out.append(
                        _frame("TOOL_CALL_ARGS", toolCallId=env["call_id"], delta=env["delta"])
                    )
                elif type_ == "tool_call.finished":
                    if env["call_id"] not in with_args:  # a model that sent them whole
                        args = json.dumps(env.get("input") or {})
                        out.append(_frame("TOOL_CALL_ARGS", toolCallId=env["call_id"], delta=args))
                    out.append(_frame("TOOL_CALL_END", toolCallId=env["call_id"]))
                elif type_ == "tool.result":
                    result = env.get("result") or {}
                    content = "".join(
                        b.get("text", "")
                        for b in result.get("content", [])
                        if b.get("type") == "text"
                    )
                    out.append(
                        _frame(
                            "TOOL_CALL_RESULT",
                            messageId=new_id("msg"),
                            toolCallId=env["call_id"],
                            content=content,
                            role="tool",
                        )
                    )
                elif type_ == "run.completed":
                    out.append(_frame("RUN_FINISHED", threadId=thread, runId=ag_run))
                elif type_ in ("run.failed", "run.canceled"):
                    code = env.get("code") or (
                        "canceled" if type_ == "run.canceled" else "internal_error"
                    )
                    out.append(_frame("RUN_ERROR", message=env.get("message") or code, code=code))
                if type_ in ("run.completed", "run.failed", "run.canceled"):
                    yield LastFrames(b"".join(out))
                    return
            if out:
                yield b"".join(out)
