"""Every agent as an MCP server over streamable HTTP at ``/mcp/agents/{agent}``.

The agent is one tool (named after it): ``message`` in, the answer out, a progress
notification per streamed piece while it works; ``session_id`` continues a conversation
(a new one otherwise; the result names it). The caller's sessions with the agent are
resources (``roost://sessions/{id}``: the messages as JSON). Stateless transport, so any
replica answers any request. Calls need a Roost key: without one the answer is 401 with
``WWW-Authenticate`` pointing at the OAuth protected-resource metadata
(``/.well-known/oauth-protected-resource/mcp/agents/{agent}``, public), as MCP asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.core import Msg, NotFound, RoostError
from roost.server._http import json_response
from roost.server.auth import Principal
from roost.server.openapi import SSE_DATA
from roost.server.router import Doc, api_route
from roost.server.routes._common import load_session, owned_sessions
from roost.server.routes._jsonrpc import check_envelope, envelope_model

if TYPE_CHECKING:
    from roost.server.services import Services

PREFIX = "/mcp/agents/"
MCP_METHODS = [
    "initialize",
    "notifications/initialized",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "notifications/cancelled",
]
McpCall = envelope_model("McpCall", MCP_METHODS)
METADATA_PREFIX = "/.well-known/oauth-protected-resource"


def metadata_paths(agents: list[str]) -> set[str]:
    """The public protected-resource metadata paths (RFC 9728), one per agent."""
    return {f"{METADATA_PREFIX}{PREFIX}{name}" for name in agents}


def www_authenticate(path: str, base_url: str) -> str | None:
    """The ``WWW-Authenticate`` value of a 401 on an MCP agent path, else ``None``."""
    if not path.startswith(PREFIX):
        return None
    return f'Bearer resource_metadata="{base_url.rstrip("/")}{METADATA_PREFIX}{path}"'


class _Servers:
    """The MCP session manager, started on the first MCP request and closed with the app."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.apps: dict[str, Any] = {}
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()

    async def app_for(self, agent: str) -> Any:
        async with self._lock:
            if agent not in self.apps:
                from mcp.server.streamable_http_manager import (
                    StreamableHTTPASGIApp,
                    StreamableHTTPSessionManager,
                )
                from mcp.server.transport_security import TransportSecuritySettings

                # the Roost key in front is what keeps browsers out (as for /v1)
                manager = StreamableHTTPSessionManager(
                    app=build_agent_server(self.services, agent),
                    stateless=True,
                    security_settings=TransportSecuritySettings(
                        enable_dns_rebinding_protection=False
                    ),
                )
                ready = asyncio.Event()

                async def hold() -> None:
                    async with manager.run():
                        ready.set()
                        await self._stop.wait()

                task = asyncio.get_running_loop().create_task(hold(), name=f"mcp-{agent}")
                self.services.closers.append(lambda: self._close(task))
                await ready.wait()
                self.apps[agent] = StreamableHTTPASGIApp(manager)
            return self.apps[agent]

    async def _close(self, task: asyncio.Task[None]) -> None:
        self._stop.set()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(task, 5)


def build_agent_server(services: Services, agent: str) -> Any:
    """A low-level MCP ``Server`` with the agent as its tool and sessions as resources."""
    import mcp_types as types
    from mcp.server.lowlevel.server import Server

    spec = services.agents.spec(agent)
    description = spec.description or f"Ask the {agent} agent."
    schema = {
        "type": "object",
        "properties": {
            "message": {"type": "string", "description": "what to ask the agent"},
            "session_id": {
                "type": "string",
                "description": "continue this conversation (from an earlier result)",
            },
        },
        "required": ["message"],
    }

    def principal_of(ctx: Any) -> Principal:
        request = getattr(ctx, "request", None)
        principal = request.scope.get("roost.principal") if request is not None else None
        if not isinstance(principal, Principal):
            raise RoostError("no principal on the MCP request")
        return principal

    async def list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(
            tools=[types.Tool(name=agent, description=description, input_schema=schema)]
        )

    async def call_tool(ctx: Any, params: Any) -> Any:
        principal = principal_of(ctx)
        args = params.arguments or {}
        message = args.get("message")
        if params.name != agent or not isinstance(message, str):
            return _error(f"call {agent!r} with a 'message' string")
        try:
            return await _ask(services, principal, agent, message, args.get("session_id"), ctx)
        except RoostError as exc:
            return _error(f"{exc.code}: {exc.message}")

    async def list_resources(ctx: Any, params: Any) -> Any:
        principal = principal_of(ctx)
        sessions, _ = await owned_sessions(services, principal, 100, None)
        return types.ListResourcesResult(
            resources=[
                types.Resource(
                    name=s.id,
                    uri=f"roost://sessions/{s.id}",
                    description=f"a conversation with {agent}",
                    mime_type="application/json",
                )
                for s in sessions
                if s.agent == agent
            ]
        )

    async def read_resource(ctx: Any, params: Any) -> Any:
        principal = principal_of(ctx)
        uri = str(params.uri)
        sid = uri.removeprefix("roost://sessions/")
        session = await load_session(services, principal, sid)
        page = await services.store.list_messages(session.id, limit=500)
        text = json.dumps([m.model_dump(mode="json", exclude_none=True) for m in page.items])
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type="application/json", text=text)]
        )

    return Server(
        f"roost-{agent}",
        version="1",
        instructions=description,
        get_tool_input_schema={agent: schema}.get,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )


def _error(text: str) -> Any:
    import mcp_types as types

    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


async def _ask(
    services: Services,
    principal: Principal,
    agent: str,
    message: str,
    session_id: str | None,
    ctx: Any,
) -> Any:
    """One run of the agent; text pieces become progress notifications."""
    import mcp_types as types

    if session_id:
        session = await load_session(services, principal, session_id)
        if session.agent not in (None, agent):
            raise NotFound(f"no session {session_id!r} with {agent!r}")
    else:
        session = await services.store.create_session(
            app=services.config.name,
            agent=agent,
            user_id=principal.user_id,
            tenant_id=principal.tenant_id,
            metadata={"source": "mcp"},
        )
        services.sessions.remember(session, fresh=True)
    handle = await services.executor.start(session, [Msg.user(message)], metadata={"source": "mcp"})
    pieces = 0
    try:
        async with contextlib.aclosing(services.executor.follow(handle.id, 0)) as batches:
            async for batch in batches:
                # one notification per batch of deltas (the piece of text as its message)
                text = "".join(json.loads(d)["delta"] for _s, t, d in batch if t == "text.delta")
                if text:
                    pieces += 1
                    await ctx.session.report_progress(pieces, None, text)
    except asyncio.CancelledError:  # the client went away or cancelled the request
        with contextlib.suppress(Exception):
            await services.executor.cancel(handle.id, "canceled over MCP")
        raise
    await handle.done.wait()
    run = await services.store.get_run(handle.id)
    text = handle.final.text if handle.final is not None else ""
    result = {"session_id": session.id, "run_id": handle.id, "status": run.status}
    if run.status == "failed":
        return _error(f"{run.error_code}: {run.error_message}")
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], structured_content=result
    )


def routes(services: Services) -> list[BaseRoute]:
    servers = _Servers(services)

    def mcp_handler(agent: str) -> Any:
        async def mcp_agent(request: Request, principal: Principal) -> Response:
            if (early := await check_envelope(request, McpCall)) is not None:
                return early
            app = await servers.app_for(agent)
            return _Delegated(app, await request.body())

        return mcp_agent

    def metadata_handler(agent: str) -> Any:
        async def protected_resource(request: Request, principal: Principal) -> Response:
            base = str(request.base_url).rstrip("/")
            return json_response(
                {
                    "resource": f"{base}{PREFIX}{agent}",
                    "resource_name": f"Roost agent {agent}",
                    "bearer_methods_supported": ["header"],
                    "authorization_servers": [],
                    "resource_documentation": f"{base}/docs",
                }
            )

        return protected_resource

    mcp_doc = Doc(
        "MCP streamable HTTP: the agent as a tool, its sessions as resources",
        body=McpCall,
        response={
            "application/json": {"schema": {"type": "object"}},
            **SSE_DATA,
        },
        errors={
            "401": "unauthorized (WWW-Authenticate names the resource metadata)",
            "422": "invalid_request (not a JSON-RPC 2.0 call of an MCP method)",
        },
    )
    mcp_doc = Doc(
        mcp_doc.summary,
        body=mcp_doc.body,
        response=mcp_doc.response,
        errors=mcp_doc.errors,
        codes={"202": {"text/plain": {"schema": {"type": "string", "maxLength": 0}}}},
    )
    meta_doc = Doc(
        "OAuth protected-resource metadata of an agent's MCP server (RFC 9728)",
        response={"type": "object", "required": ["resource"]},
    )
    out: list[BaseRoute] = []
    for name in services.agents:
        out.append(api_route(f"{PREFIX}{name}", mcp_handler(name), ["POST"], mcp_doc))
        out.append(
            api_route(f"{METADATA_PREFIX}{PREFIX}{name}", metadata_handler(name), ["GET"], meta_doc)
        )
    return out


class _Delegated(Response):
    """Hands the request to the MCP transport's ASGI app (it writes the response)."""

    def __init__(self, app: Any, body: bytes) -> None:
        self.app = app
        self.pending: bytes | None = body
        self.background = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # every MCP client accepts both; one that did not say so gets them anyway
        # rather than a 406 (the body was read by the envelope check: replayed here)
        headers = [(k, v) for k, v in scope["headers"] if k != b"accept"]
        headers.append((b"accept", b"application/json, text/event-stream"))

        async def replay() -> dict[str, Any]:
            if self.pending is not None:
                body, self.pending = self.pending, None
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # type: ignore[no-any-return]  # then: the disconnect

        await self.app({**scope, "headers": headers}, replay, send)
