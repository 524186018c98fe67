"""The sandbox agent tools as an MCP server (streamable HTTP), so agents of any framework
can run code, files, a browser and a desktop in Roost sandboxes.

The tools are exactly the agent tools of :mod:`roost.sandbox.tools` (same names,
schemas and result text). Each MCP session gets its own sandboxes from the manager —
one per type, acquired on first use — keyed by the ``X-Roost-Session`` header, else
the ``mcp-session-id`` of a stateful MCP session; clients sending neither (stateless
protocol versions) share the ``default`` sandboxes.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from roost.core import DataBlock, ImageBlock, TextBlock, ToolResultBlock
from roost.sandbox.manager import SandboxManager
from roost.sandbox.tools import SandboxProvider, base_tools, manager_provider
from roost.tools import Toolkit

__all__ = [
    "MCP_SESSION_PREFIX",
    "SESSION_HEADER",
    "ReleaseOnSessionEnd",
    "build_mcp_server",
    "mcp_session_manager",
    "sandbox_mcp_toolkit",
]

MCP_SESSION_PREFIX = "mcp:"
SESSION_HEADER = "x-roost-session"
"""Header naming the sandbox session; else the MCP session id (stateful transport)."""
_MAX_CACHED_SESSIONS = 256


def sandbox_mcp_toolkit(manager: SandboxManager, session_id: str) -> Toolkit:
    """The tools one MCP session sees: base tools on its ``base`` sandbox, ``browser_*``
    on its ``browser`` sandbox, ``gui_*`` on its ``gui`` sandbox."""
    from roost.sandbox.kinds.browser_tools import browser_tools
    from roost.sandbox.kinds.gui_tools import gui_tools

    def provider(type: str) -> SandboxProvider:
        return manager_provider(manager, session_id, type)

    toolkit = Toolkit(default_timeout=None)
    for tool in [
        *base_tools(provider("base")),
        *browser_tools(provider("browser")),
        *gui_tools(provider("gui")),
    ]:
        toolkit.add(tool)
    return toolkit


def _content(result: ToolResultBlock) -> list[Any]:
    import mcp_types as types

    out: list[Any] = []
    for block in result.content:
        if isinstance(block, TextBlock):
            out.append(types.TextContent(type="text", text=block.text))
        elif isinstance(block, ImageBlock) and block.data is not None:
            out.append(
                types.ImageContent(
                    type="image", data=block.data, mime_type=block.media_type or "image/png"
                )
            )
        elif isinstance(block, DataBlock):
            out.append(types.TextContent(type="text", text=json.dumps(block.data, default=str)))
        else:
            out.append(types.TextContent(type="text", text=f"[{block.type}]"))
    return out


def build_mcp_server(manager: SandboxManager, *, name: str = "roost-sandbox") -> Any:
    """A low-level MCP ``Server`` whose tools act on the caller's sandboxes."""
    import mcp_types as types
    from mcp.server.lowlevel.server import Server

    toolkits: OrderedDict[str, Toolkit] = OrderedDict()
    catalogue = sandbox_mcp_toolkit(manager, "catalogue")
    schemas = {spec.name: spec.parameters for spec in catalogue.specs()}

    def toolkit_for(ctx: Any) -> Toolkit:
        request = getattr(ctx, "request", None)
        headers = getattr(request, "headers", None)
        key = None
        if headers is not None:
            key = headers.get(SESSION_HEADER) or headers.get("mcp-session-id")
        session = MCP_SESSION_PREFIX + (key or "default")
        toolkit = toolkits.get(session)
        if toolkit is None:
            toolkit = sandbox_mcp_toolkit(manager, session)
            toolkits[session] = toolkit
            while len(toolkits) > _MAX_CACHED_SESSIONS:
                toolkits.popitem(last=False)
        else:
            toolkits.move_to_end(session)
        return toolkit

    async def list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(
            tools=[
                types.Tool(
                    name=spec.name, description=spec.description, input_schema=spec.parameters
                )
                for spec in catalogue.specs()
            ]
        )

    async def call_tool(ctx: Any, params: Any) -> Any:
        result = await toolkit_for(ctx).call(params.name, **(params.arguments or {}))
        return types.CallToolResult(content=_content(result), is_error=result.is_error)

    return Server(
        name,
        version="1",
        instructions=(
            "Tools that run code, read and write files, browse the web and drive a desktop "
            "inside isolated Roost sandboxes (one per MCP session and sandbox type)."
        ),
        get_tool_input_schema=schemas.get,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def mcp_session_manager(server: Any, *, loopback_only: bool) -> Any:
    """The streamable-HTTP session manager for ``server`` (run it in the app lifespan).

    DNS-rebinding protection (Host/Origin checks) is on when the service listens on
    loopback; elsewhere the bearer token in front of it is what keeps browsers out."""
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from mcp.server.transport_security import TransportSecuritySettings

    security = (
        TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )
        if loopback_only
        else TransportSecuritySettings(enable_dns_rebinding_protection=False)
    )
    return StreamableHTTPSessionManager(app=server, security_settings=security)


class ReleaseOnSessionEnd:
    """ASGI wrapper of the MCP endpoint: when a client ends its stateful MCP session
    (``DELETE`` with ``mcp-session-id``, answered 2xx), that session's sandboxes are
    released at once instead of at the idle timeout."""

    def __init__(self, app: Any, manager: SandboxManager) -> None:
        self.app = app
        self.manager = manager

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "DELETE":
            await self.app(scope, receive, send)
            return
        status = 0

        async def watch(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        session = dict(scope["headers"]).get(b"mcp-session-id")
        if session and 200 <= status < 300:
            await self.manager.release(MCP_SESSION_PREFIX + session.decode("latin-1"))
