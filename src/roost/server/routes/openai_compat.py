"""OpenAI-compatible ``POST /v1/chat/completions`` and ``GET /v1/models``.

``model`` names the agent. The conversation is a Roost session: ``X-Session-ID`` picks
it, else each call gets a new session seeded with the messages sent (OpenAI clients
resend the history); ``user`` only labels the run unless the app opts into
``openai_user_sessions``. In an existing session only the messages after the last
assistant one are new input. Client ``tools`` pass through: the agent's model sees them
and their calls come back as ``tool_calls`` while the agent's own tools run on the server;
``response_format`` becomes the agent's structured output (decision 0230). Options the
agent cannot honour (``n`` > 1, logprobs …) are refused with 400 ``unsupported_parameter``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.core import Conflict, InvalidRequest, NotFound, RoostError, error_from_dict
from roost.server._http import error_body, json_response, parse_body
from roost.server.auth import Principal
from roost.server.engine.executor import PASS_THROUGH
from roost.server.openapi import NON_BLANK, SSE_DATA, header
from roost.server.router import Doc, api_route
from roost.server.routes._common import load_session
from roost.server.routes._openai_messages import (
    UnsupportedParameter,
    client_tool_specs,
    new_inputs,
    openai_tool_calls,
    output_schema,
    pending_calls,
    to_msgs,
)
from roost.server.schemas import ChatCompletionCreate, forced_tool
from roost.server.sse import EventStreamResponse, LastFrames, sse_data
from roost.store.errors import SessionExists

if TYPE_CHECKING:
    from roost.server.services import Services
    from roost.store import RunRecord, SessionRecord

_FINISH = {"run.completed": "stop", "run.canceled": "stop", "run.failed": "stop"}


class SessionAgentMismatch(Conflict):
    """The session named by ``X-Session-ID`` talks to another agent than ``model``."""

    code = "session_agent_mismatch"


def _session_id_for(principal: Principal, user: str, agent: str) -> str:
    digest = hashlib.sha256(f"{principal.key_id}\0{principal.user_id}\0{user}\0{agent}".encode())
    return "ses_oai" + digest.hexdigest()[:24]


def _usage(run: RunRecord) -> dict[str, int]:
    return {
        "prompt_tokens": run.input_tokens,
        "completion_tokens": run.output_tokens,
        "total_tokens": run.input_tokens + run.output_tokens,
    }


def routes(services: Services) -> list[BaseRoute]:
    async def resolve_session(
        request: Request, principal: Principal, body: ChatCompletionCreate, agent: str
    ) -> tuple[SessionRecord, bool]:
        sid = request.headers.get("x-session-id")
        if sid is not None and not sid.strip():
            raise InvalidRequest(
                "X-Session-ID is empty",
                hint="name a conversation, or leave the header out",
                fields=[{"field": "X-Session-ID", "message": "must not be empty", "type": "empty"}],
            )
        if sid is not None:
            try:
                session = await load_session(services, principal, sid)
            except NotFound:
                # an id this key cannot see: the client's own name for a new conversation,
                # kept apart per key like ``user`` (neither claims nor probes anyone's id)
                sid = _session_id_for(principal, "\0session\0" + sid, agent)
            else:
                if session.agent is not None and session.agent != agent:
                    raise SessionAgentMismatch(
                        f"session {session.id!r} belongs to agent {session.agent!r}, not {agent!r}",
                        hint=f"send model={session.agent!r}, or another X-Session-ID",
                    )
                return session, True
        elif body.user and services.config.openai_user_sessions:
            sid = _session_id_for(principal, body.user, agent)
        if sid is not None:
            try:
                return await load_session(services, principal, sid), True
            except NotFound:
                pass  # a new conversation under a derived id: created below
        try:
            session = await services.store.create_session(
                app=services.config.name,
                agent=agent,
                user_id=principal.user_id,
                tenant_id=principal.tenant_id,
                session_id=sid,
                metadata={"source": "openai"},
            )
        except SessionExists:
            # simultaneous first requests of one conversation: another one created it
            assert sid is not None
            return await load_session(services, principal, sid), True
        services.sessions.remember(session, fresh=True)
        return session, False

    async def chat_completions(request: Request, principal: Principal) -> Response:
        body = await parse_body(request, ChatCompletionCreate)
        problem = body.unsupported()
        if problem is not None:
            raise UnsupportedParameter(*problem)
        spec = services.agents.spec(body.model)
        msgs = to_msgs(body.messages)
        options = pass_through(body.tools, body.functions, body.tool_choice, body.response_format)
        session, existed = await resolve_session(request, principal, body, spec.name)
        inputs = new_inputs(msgs) if existed else msgs
        metadata: dict[str, Any] = {"source": "openai"}
        if body.user:
            metadata["user"] = body.user  # a label (OpenAI's abuse-monitoring id)
        if options:
            metadata[PASS_THROUGH] = options
        handle = await services.executor.start(session, inputs, metadata=metadata)
        completion_id = "chatcmpl-" + handle.id
        created = int(time.time())
        headers = {"x-session-id": session.id, "x-run-id": handle.id}
        if body.stream:
            include_usage = bool((body.stream_options or {}).get("include_usage"))
            head = _Head(completion_id, created, spec.name, "output_schema" in options)
            return EventStreamResponse(_chunks(services, handle.id, head, include_usage), headers)
        await handle.done.wait()
        run = await services.store.get_run(handle.id)
        if run.status == "failed":
            raise error_from_dict(
                {"code": run.error_code or "internal_error", "message": run.error_message or ""}
            )
        calls = pending_calls(handle.final)
        text = handle.final.text if handle.final is not None else ""
        message: dict[str, Any] = {
            "role": "assistant",
            "content": text or (None if calls else ""),
            "refusal": None,
        }
        if calls:
            message["tool_calls"] = openai_tool_calls(calls)
        return json_response(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": spec.name,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if calls else "stop",
                        "logprobs": None,
                    }
                ],
                "usage": _usage(run),
            },
            headers=headers,
        )

    async def list_models(request: Request, principal: Principal) -> Response:
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": services.config.name}
            for name in services.agents
        ]
        return json_response({"object": "list", "data": data})

    completion = {
        "application/json": {"schema": {"type": "object", "required": ["id", "choices"]}},
        **SSE_DATA,
    }
    doc = Doc(
        "OpenAI-compatible chat completions (model = an agent's name)",
        body=ChatCompletionCreate,
        response=completion,
        params=(header("X-Session-ID", "the conversation (docs/api.md)", NON_BLANK),),
        errors={
            "400": "unsupported_parameter (an option the agent cannot honour), "
            "tool_name_conflict, pass_through_unsupported",
            "404": "agent_not_found (model names no agent)",
            "409": "session_busy, session_agent_mismatch",
        },
        permission="runs.write",
        quota="run",
    )
    models = Doc(
        "The agents, as OpenAI models", response={"type": "object"}, permission="agents.read"
    )
    return [
        api_route("/v1/chat/completions", chat_completions, ["POST"], doc),
        api_route("/v1/models", list_models, ["GET"], models),
    ]


def pass_through(
    tools: list[Any] | None,
    functions: list[Any] | None,
    tool_choice: Any,
    response_format: Any,
) -> dict[str, Any]:
    """The run options for :func:`roost.agents.client_tools.prepare_run` (``{}``: none)."""
    options: dict[str, Any] = {}
    specs = client_tool_specs(tools, functions)
    if specs:
        options["tools"] = specs
        forced = forced_tool(tool_choice)
        if forced is not None and forced != "required" and forced not in {s["name"] for s in specs}:
            raise UnsupportedParameter(
                "tool_choice", f"tool_choice names {forced!r}, which is not among the tools sent"
            )
        if forced is not None:
            options["tool_choice"] = forced
    schema = output_schema(response_format)
    if schema is not None:
        options["output_schema"] = schema
    return options


@dataclass(frozen=True)
class _Head:
    """What every chunk of one completion repeats."""

    id: str
    created: int
    model: str
    structured: bool
    """Text is sent once, at the end: structured output may take a second model call."""

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return sse_data(
            json.dumps(
                {
                    "id": self.id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                },
                separators=(",", ":"),
            )
        )


_DONE = b"data: [DONE]\n\n"


def _ending(head: _Head, env: dict[str, Any]) -> list[bytes]:
    """The chunks of a finished run: structured text, client tool calls, finish reason."""
    out = []
    output = env.get("output")
    if head.structured and output:
        text = "".join(
            b.get("text", "") for b in output.get("content", []) if b.get("type") == "text"
        )
        out.append(head.chunk({"content": text}))
    calls = pending_calls(output) if output else []
    if calls:
        deltas = [{"index": i, **c} for i, c in enumerate(openai_tool_calls(calls))]
        out.append(head.chunk({"tool_calls": deltas}))
    out.append(head.chunk({}, "tool_calls" if calls else "stop"))
    return out


async def _chunks(
    services: Services, run_id: str, head: _Head, include_usage: bool
) -> AsyncIterator[bytes]:
    yield head.chunk({"role": "assistant", "content": ""})
    async with contextlib.aclosing(services.executor.follow(run_id, 0)) as batches:
        async for batch in batches:
            out = []
            for _seq, type_, text in batch:
                if type_ == "text.delta":
                    if not head.structured:
                        out.append(head.chunk({"content": json.loads(text)["delta"]}))
                elif type_ == "run.failed":
                    env = json.loads(text)
                    err = RoostError(env.get("message", "the run failed"))
                    err.code = env.get("code", "internal_error")  # type: ignore[misc]
                    out.append(sse_data(json.dumps(error_body(err))))
                elif type_ in _FINISH:
                    env = json.loads(text)
                    out.extend(_ending(head, env))
                    if include_usage:
                        usage = env.get("usage") or {}
                        i, o = usage.get("input_tokens", 0), usage.get("output_tokens", 0)
                        out.append(
                            sse_data(
                                json.dumps(
                                    {
                                        "id": head.id,
                                        "object": "chat.completion.chunk",
                                        "created": head.created,
                                        "model": head.model,
                                        "choices": [],
                                        "usage": {
                                            "prompt_tokens": i,
                                            "completion_tokens": o,
                                            "total_tokens": i + o,
                                        },
                                    }
                                )
                            )
                        )
            if batch and batch[-1][1] in _FINISH:  # the end: one write with the body's end
                yield LastFrames(b"".join([*out, _DONE]))
                return
            if out:
                yield b"".join(out)
    yield LastFrames(_DONE)
