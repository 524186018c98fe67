"""OpenAI Responses API: ``POST /v1/responses`` (streaming and not), for SDKs that prefer it.

A response is a run: ``resp_<run id>``. ``previous_response_id`` continues that run's
session (only the new input items are sent, as the Responses API does); without it each
response starts a new session seeded with ``instructions`` and ``input``. Function tools
pass through as on ``/v1/chat/completions`` (decision 0230) and ``text.format`` maps to
the agent's structured output.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import ConfigDict, Field, StrictBool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.agents.client_tools import tool_arguments
from roost.core import Msg, NotFound, TextBlock, ToolResultBlock, error_from_dict, new_id
from roost.server._http import json_response, parse_body
from roost.server.auth import Principal
from roost.server.engine.executor import PASS_THROUGH
from roost.server.openai_wire import (
    FunctionCallIn,
    ResponsesItem,
    ResponsesText,
    ResponsesTool,
    ToolCallIn,
)
from roost.server.openapi import SSE_DATA
from roost.server.router import Doc, api_route
from roost.server.routes._common import load_session
from roost.server.routes._openai_messages import (
    pending_calls,
    to_msgs,
)
from roost.server.routes.openai_compat import pass_through
from roost.server.schemas import ChatMessageIn, _Out
from roost.server.sse import EventStreamResponse, LastFrames, sse_frame

if TYPE_CHECKING:
    from roost.server.services import Services
    from roost.store import SessionRecord


class ResponseCreate(_Out):
    """``POST /v1/responses``; generation options (``temperature`` …) are ignored."""

    model_config = ConfigDict(extra="allow")
    model: str
    input: Annotated[str, Field(min_length=1)] | Annotated[list[ResponsesItem], Field(min_length=1)]
    instructions: str | None = None
    previous_response_id: str | None = None
    stream: StrictBool = False
    tools: list[ResponsesTool] | None = None
    tool_choice: Any = None
    text: ResponsesText | None = None
    user: str | None = None


def input_msgs(body: ResponseCreate) -> list[Msg]:
    """The request's ``instructions`` and ``input`` items as messages."""
    msgs: list[Msg] = [Msg.system(body.instructions)] if body.instructions else []
    if isinstance(body.input, str):
        return [*msgs, Msg.user(body.input)]
    for item in body.input:
        if item.type == "message":
            role = "system" if item.role == "developer" else item.role
            msgs.extend(to_msgs([ChatMessageIn(role=role, content=item.content)]))
        elif item.type == "function_call":
            call = ToolCallIn(
                id=item.call_id or "",
                function=FunctionCallIn(name=item.name or "", arguments=item.arguments or "{}"),
            )
            msgs.extend(to_msgs([ChatMessageIn(role="assistant", tool_calls=[call])]))
        else:
            result = ToolResultBlock(
                tool_use_id=item.call_id or "",
                content=[TextBlock(text=item.output or "")],
            )
            if msgs and msgs[-1].role == "tool":
                msgs[-1].content.append(result)
            else:
                msgs.append(Msg(role="tool", content=[result]))
    return msgs


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def _output_items(final: Msg | dict[str, Any] | None, msg_id: str) -> list[dict[str, Any]]:
    msg = Msg.model_validate(final) if isinstance(final, dict) else final
    items: list[dict[str, Any]] = []
    if msg is not None and msg.text:
        items.append(_message_item(msg_id, msg.text, "completed"))
    for call in pending_calls(msg):
        items.append(_call_item(call.id, call.name, tool_arguments(call)))
    return items


def _message_item(msg_id: str, text: str, status: str) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": []}] if text else []
    return {
        "type": "message",
        "id": msg_id,
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _call_item(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": "fc_" + call_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }


def routes(services: Services) -> list[BaseRoute]:
    async def session_for(principal: Principal, body: ResponseCreate, agent: str) -> SessionRecord:
        if body.previous_response_id:
            run_id = body.previous_response_id.removeprefix("resp_")
            try:
                run = await services.store.get_run(run_id)
                if run.session_id is None:
                    raise NotFound("no session")
                session = await load_session(services, principal, run.session_id)
            except NotFound:
                raise NotFound(
                    f"no response {body.previous_response_id!r}",
                    hint="send the id of a response this key created, or leave it out",
                ) from None
            return session
        session = await services.store.create_session(
            app=services.config.name,
            agent=agent,
            user_id=principal.user_id,
            tenant_id=principal.tenant_id,
            metadata={"source": "openai-responses"},
        )
        services.sessions.remember(session, fresh=True)
        return session

    async def create_response(request: Request, principal: Principal) -> Response:
        body = await parse_body(request, ResponseCreate)
        fmt = body.text.format if body.text is not None else None
        options = pass_through(body.tools, None, body.tool_choice, fmt)
        spec = services.agents.spec(body.model)
        msgs = input_msgs(body)
        session = await session_for(principal, body, spec.name)
        metadata: dict[str, Any] = {"source": "openai-responses"}
        if body.user:
            metadata["user"] = body.user
        if options:
            metadata[PASS_THROUGH] = options
        handle = await services.executor.start(session, msgs, metadata=metadata)
        head = {
            "id": "resp_" + handle.id,
            "object": "response",
            "created_at": int(time.time()),
            "model": spec.name,
            "parallel_tool_calls": True,
            "tool_choice": body.tool_choice or "auto",
            "tools": [t.model_dump(exclude_none=True) for t in body.tools or []],
            "text": body.text.model_dump(by_alias=True, exclude_none=True)
            if body.text is not None
            else {"format": {"type": "text"}},
            "instructions": body.instructions,
            "previous_response_id": body.previous_response_id,
            "metadata": {},
            "temperature": None,
            "top_p": None,
            "error": None,
            "incomplete_details": None,
        }
        headers = {"x-session-id": session.id, "x-run-id": handle.id}
        if body.stream:
            stream = _events(services, handle.id, head, "output_schema" in options)
            return EventStreamResponse(stream, headers)
        await handle.done.wait()
        run = await services.store.get_run(handle.id)
        if run.status == "failed":
            raise error_from_dict(
                {"code": run.error_code or "internal_error", "message": run.error_message or ""}
            )
        output = _output_items(handle.final, "msg_" + handle.id)
        return json_response(
            {
                **head,
                "status": "completed" if run.status == "succeeded" else "incomplete",
                "output": output,
                "usage": _usage(run.input_tokens, run.output_tokens),
            },
            headers=headers,
        )

    doc = Doc(
        "OpenAI Responses API (model = an agent's name; previous_response_id continues)",
        body=ResponseCreate,
        response={
            "application/json": {"schema": {"type": "object", "required": ["id", "output"]}},
            **SSE_DATA,
        },
        errors={
            "400": "unsupported_parameter, tool_name_conflict, pass_through_unsupported",
            "404": "agent_not_found, not_found (previous_response_id)",
            "409": "session_busy",
        },
    )
    return [api_route("/v1/responses", create_response, ["POST"], doc)]


class _Stream:
    """The Responses API's event sequence for one run (numbered, typed frames)."""

    def __init__(self, head: dict[str, Any], structured: bool) -> None:
        self.head = head
        self.structured = structured
        self.seq = 0
        self.msg_id = "msg_" + new_id("")
        self.text: list[str] = []
        self.open = False

    def event(self, type_: str, **data: Any) -> bytes:
        self.seq += 1
        payload = {"type": type_, "sequence_number": self.seq, **data}
        return sse_frame(None, type_, json.dumps(payload, separators=(",", ":")))

    def start(self) -> list[bytes]:
        resp = {**self.head, "status": "in_progress", "output": [], "usage": None}
        return [
            self.event("response.created", response=resp),
            self.event("response.in_progress", response=resp),
        ]

    def open_message(self) -> list[bytes]:
        self.open = True
        where = {"output_index": 0, "item_id": self.msg_id, "content_index": 0}
        return [
            self.event(
                "response.output_item.added",
                output_index=0,
                item=_message_item(self.msg_id, "", "in_progress"),
            ),
            self.event(
                "response.content_part.added",
                **where,
                part={"type": "output_text", "text": "", "annotations": []},
            ),
        ]

    def delta(self, piece: str) -> list[bytes]:
        out = [] if self.open else self.open_message()
        self.text.append(piece)
        out.append(
            self.event(
                "response.output_text.delta",
                item_id=self.msg_id,
                output_index=0,
                content_index=0,
                delta=piece,
                logprobs=[],
            )
        )
        return out

    def finish(self, env: dict[str, Any], status: str) -> list[bytes]:
        output = env.get("output") or {}
        out: list[bytes] = []
        if self.structured:
            text = "".join(
                b.get("text", "") for b in output.get("content", []) if b.get("type") == "text"
            )
            if text:
                out.extend(self.delta(text))
        items: list[dict[str, Any]] = []
        if self.open:
            text = "".join(self.text)
            where = {"item_id": self.msg_id, "output_index": 0, "content_index": 0}
            part = {"type": "output_text", "text": text, "annotations": []}
            item = _message_item(self.msg_id, text, "completed")
            out += [
                self.event("response.output_text.done", **where, text=text, logprobs=[]),
                self.event("response.content_part.done", **where, part=part),
                self.event("response.output_item.done", output_index=0, item=item),
            ]
            items.append(item)
        for call in pending_calls(output) if output else []:
            index = len(items)
            item = _call_item(call.id, call.name, tool_arguments(call))
            added = {**item, "arguments": "", "status": "in_progress"}
            out += [
                self.event("response.output_item.added", output_index=index, item=added),
                self.event(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=index,
                    delta=item["arguments"],
                ),
                self.event(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=index,
                    arguments=item["arguments"],
                ),
                self.event("response.output_item.done", output_index=index, item=item),
            ]
            items.append(item)
        usage = env.get("usage") or {}
        resp = {
            **self.head,
            "status": status,
            "output": items,
            "usage": _usage(usage.get("input_tokens", 0), usage.get("output_tokens", 0)),
        }
        if status == "failed":
            resp["error"] = {
                "code": env.get("code", "internal_error"),
                "message": env.get("message", ""),
            }
            out.append(self.event("response.failed", response=resp))
        else:
            kind = "response.completed" if status == "completed" else "response.incomplete"
            out.append(self.event(kind, response=resp))
        return out


_ENDS = {"run.completed": "completed", "run.canceled": "incomplete", "run.failed": "failed"}


async def _events(
    services: Services, run_id: str, head: dict[str, Any], structured: bool
) -> AsyncIterator[bytes]:
    st = _Stream(head, structured)
    yield b"".join(st.start())
    async with contextlib.aclosing(services.executor.follow(run_id, 0)) as batches:
        async for batch in batches:
            out: list[bytes] = []
            for _seq, type_, text in batch:
                if type_ == "text.delta" and not structured:
                    out.extend(st.delta(json.loads(text)["delta"]))
                elif type_ in _ENDS:
                    out.extend(st.finish(json.loads(text), _ENDS[type_]))
                    yield LastFrames(b"".join(out))
                    return
            if out:
                yield b"".join(out)
