"""A2A (Agent2Agent protocol 1.0, ``a2a-sdk``): every agent as an A2A server.

``POST /a2a/{agent}`` is the JSON-RPC endpoint (message send and stream, tasks get, list
and cancel); the agent card is at ``/a2a/{agent}/.well-known/agent-card.json`` and the
first agent's also at ``/.well-known/agent-card.json`` (public, like every card: it says
how to authenticate). A task is a Roost run and an A2A context a Roost session, so runs
started over A2A have the sessions, persistence, streaming, cancel and tracing of any
other run. Calls need a Roost key (HTTP 401 otherwise); tasks are scoped to the key's
principal. The SDK is imported on the first A2A request (optional extra ``interop``).
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.core import NotFound, RoostError
from roost.server._http import json_response
from roost.server.auth import Principal
from roost.server.openapi import SSE_DATA
from roost.server.router import Doc, api_route
from roost.server.routes._a2a_common import owner_of
from roost.server.routes._common import load_session
from roost.server.routes._jsonrpc import check_envelope, envelope_model
from roost.store.errors import SessionExists

if TYPE_CHECKING:
    from roost.server.services import Services
    from roost.store import SessionRecord

CARD_PATH = "/.well-known/agent-card.json"
A2A_METHODS = [
    "SendMessage",
    "SendStreamingMessage",
    "GetTask",
    "ListTasks",
    "CancelTask",
    "SubscribeToTask",
    "GetExtendedAgentCard",
]
A2ACall = envelope_model("A2ACall", A2A_METHODS)


class A2AUnavailable(RoostError):
    """The A2A SDK is not installed."""

    code = "a2a_unavailable"
    status = 501


def card_paths(agents: list[str]) -> set[str]:
    """The public paths of the agent cards (the app adds them to its public paths)."""
    return {CARD_PATH} | {f"/a2a/{name}{CARD_PATH}" for name in agents} if agents else set()


def routes(services: Services) -> list[BaseRoute]:
    bridges: dict[str, Any] = {}

    def bridge(agent: str) -> Any:
        if agent not in bridges:
            try:
                from roost.server.routes._a2a_bridge import A2ABridge
            except ImportError as exc:
                raise A2AUnavailable(
                    f"A2A needs the a2a-sdk package ({exc.name})",
                    hint="pip install 'roost[interop]'",
                ) from None
            bridges[agent] = A2ABridge(services, agent, session_for)
        return bridges[agent]

    async def session_for(principal: Principal, context_id: str, agent: str) -> SessionRecord:
        """The Roost session of an A2A context (per principal: ids never collide)."""
        raw = f"{owner_of(principal)}\0{context_id}\0{agent}".encode()
        sid = "ses_a2a" + hashlib.sha256(raw).hexdigest()[:24]
        with contextlib.suppress(NotFound):
            return await load_session(services, principal, sid)
        try:
            session = await services.store.create_session(
                app=services.config.name,
                agent=agent,
                user_id=principal.user_id,
                tenant_id=principal.tenant_id,
                session_id=sid,
                metadata={"source": "a2a", "a2a_context_id": context_id},
            )
        except SessionExists:
            return await load_session(services, principal, sid)
        services.sessions.remember(session, fresh=True)
        return session

    def card_handler(agent: str) -> Any:
        async def agent_card(request: Request, principal: Principal) -> Response:
            base = str(request.base_url).rstrip("/")
            return json_response(bridge(agent).card_dict(base))

        return agent_card

    def rpc_handler(agent: str) -> Any:
        async def a2a_rpc(request: Request, principal: Principal) -> Response:
            if (early := await check_envelope(request, A2ACall)) is not None:
                return early
            return await bridge(agent).handle(request)  # type: ignore[no-any-return]

        return a2a_rpc

    card_doc = Doc(
        "A2A agent card (skills, interfaces, security schemes)",
        response={"type": "object", "required": ["name", "supportedInterfaces"]},
    )
    rpc_doc = Doc(
        "A2A JSON-RPC: SendMessage, SendStreamingMessage, GetTask, ListTasks, CancelTask",
        body=A2ACall,
        codes={"202": {"text/plain": {"schema": {"type": "string", "maxLength": 0}}}},
        response={
            "application/json": {"schema": {"type": "object", "required": ["jsonrpc"]}},
            **SSE_DATA,
        },
        errors={
            "422": "invalid_request (not a JSON-RPC 2.0 call of an A2A method)",
            "501": "a2a_unavailable (install roost[interop])",
        },
    )
    out: list[BaseRoute] = []
    names = list(services.agents)
    if names:
        out.append(api_route(CARD_PATH, card_handler(names[0]), ["GET"], card_doc))
    for name in names:
        out.append(api_route(f"/a2a/{name}{CARD_PATH}", card_handler(name), ["GET"], card_doc))
        out.append(api_route(f"/a2a/{name}", rpc_handler(name), ["POST"], rpc_doc))
    return out
