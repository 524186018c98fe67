"""OpenAI-compatible ``POST /v1/chat/completions`` and ``GET /v1/models``.

``model`` names the agent. The conversation is a Roost session: ``X-Session-ID`` picks
it, else the ``user`` field maps to a stable session per (key, user, agent), else each
call gets a new session. When the session already exists only the last user message is
new input (OpenAI clients resend the history); a new session is seeded with them all.
Options the agent cannot honour (client-side ``tools``, ``n`` > 1 …) are refused with 400
``unsupported_parameter`` instead of being ignored (see ``ChatCompletionCreate``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.core import Conflict, InvalidRequest, Msg, NotFound, RoostError, error_from_dict
from roost.server._http import error_body, json_response, parse_body
from roost.server.auth import Principal
from roost.server.openapi import NON_BLANK, SSE_DATA, header
from roost.server.router import Doc, api_route
from roost.server.routes._common import load_session
from roost.server.schemas import ChatCompletionCreate, ChatMessageIn
from roost.server.sse import EventStreamResponse, LastFrames, sse_data
from roost.store.errors import SessionExists

if TYPE_CHECKING:
    from roost.server.services import Services
    from roost.store import RunRecord, SessionRecord

_FINISH = {"run.completed": "stop", "run.canceled": "stop", "run.failed": "stop"}


class UnsupportedParameter(RoostError):
    """A request option this endpoint does not provide, which the client would rely on."""

    code = "unsupported_parameter"
    status = 400

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message, hint=f"remove {param!r} from the request")
        self.param = param

    def to_dict(self) -> dict[str, Any]:
        # ``param`` and ``type`` as OpenAI sends them: SDKs expose them on the exception
        # (``openai.BadRequestError.param``)
        return {**super().to_dict(), "param": self.param, "type": "invalid_request_error"}


def _text(message: ChatMessageIn) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    return "".join(str(p.get("text", "")) for p in message.content if p.get("type") == "text")


def to_msgs(messages: list[ChatMessageIn]) -> list[Msg]:
    out = []
    for m in messages:
        role = {"developer": "system", "function": "tool"}.get(m.role, m.role)
        if role == "tool":
            out.append(Msg.user(f"[tool {m.tool_call_id or m.name or ''} result] {_text(m)}"))
        else:
            out.append(Msg(role=role, content=_text(m), name=m.name))  # type: ignore[arg-type]
    return out


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
        elif body.user:
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
        users = [m for m in msgs if m.role == "user"]
        session, existed = await resolve_session(request, principal, body, spec.name)
        # the history is resent: an existing conversation takes its last user message
        inputs = [users[-1]] if existed and users else msgs
        handle = await services.executor.start(session, inputs)
        completion_id = "chatcmpl-" + handle.id
        created = int(time.time())
        headers = {"x-session-id": session.id, "x-run-id": handle.id}
        if body.stream:
            include_usage = bool((body.stream_options or {}).get("include_usage"))
            return EventStreamResponse(
                _chunks(services, handle.id, completion_id, created, spec.name, include_usage),
                headers,
            )
        await handle.done.wait()
        run = await services.store.get_run(handle.id)
        if run.status == "failed":
            err = error_from_dict(
                {"code": run.error_code or "internal_error", "message": run.error_message or ""}
            )
            raise err
        text = handle.final.text if handle.final is not None else ""
        return json_response(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": spec.name,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
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
            "400": "unsupported_parameter (an option the agent cannot honour)",
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


_DONE = b"data: [DONE]\n\n"


async def _chunks(
    services: Services, run_id: str, cid: str, created: int, model: str, include_usage: bool
) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return sse_data(
            json.dumps(
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                },
                separators=(",", ":"),
            )
        )

    yield chunk({"role": "assistant", "content": ""})
    async with contextlib.aclosing(services.executor.follow(run_id, 0)) as batches:
        async for batch in batches:
            out = []
            for _seq, type_, text in batch:
                if type_ == "text.delta":
                    out.append(chunk({"content": json.loads(text)["delta"]}))
                elif type_ == "run.failed":
                    env = json.loads(text)
                    err = RoostError(env.get("message", "the run failed"))
                    err.code = env.get("code", "internal_error")  # type: ignore[misc]
                    out.append(sse_data(json.dumps(error_body(err))))
                elif type_ in _FINISH:
                    out.append(chunk({}, _FINISH[type_]))
                    if include_usage:
                        usage = json.loads(text).get("usage") or {}
                        i, o = usage.get("input_tokens", 0), usage.get("output_tokens", 0)
                        out.append(
                            sse_data(
                                json.dumps(
                                    {
                                        "id": cid,
                                        "object": "chat.completion.chunk",
                                        "created": created,
                                        "model": model,
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
