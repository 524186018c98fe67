"""A real MCP server for the client tests, built on the MCP SDK's ``MCPServer``.

``python demo_server.py stdio`` serves over stdin/stdout; ``python demo_server.py http``
serves streamable HTTP on a free 127.0.0.1 port, prints ``PORT <n>`` and requires the
header ``Authorization: Bearer test-token``.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import sys

from mcp.server.mcpserver import MCPServer
from mcp_types import ImageContent, TextContent

server = MCPServer("demo")
PNG = b"\x89PNG\r\n\x1a\n-demo-"


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool(name="text.upper")
def upper(text: str) -> str:
    """Upper-case a text (a dotted name, as some servers use)."""
    return text.upper()


@server.tool()
def chart(title: str) -> list[TextContent | ImageContent]:
    """Return a caption and a PNG image."""
    return [
        TextContent(type="text", text=f"chart: {title}"),
        ImageContent(type="image", data=base64.b64encode(PNG).decode(), mime_type="image/png"),
    ]


@server.tool()
def explode(reason: str) -> str:
    """Always fail."""
    raise ValueError(f"exploded: {reason}")


@server.tool()
def env_value(name: str) -> str:
    """Read an environment variable of the server process."""
    return os.environ.get(name, "<unset>")


@server.tool()
async def sleep(seconds: float) -> str:
    """Sleep, then answer."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
def crash() -> str:
    """Kill the server process (to test a server that dies mid-call)."""
    os._exit(7)


def serve_http() -> None:
    import uvicorn
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.responses import JSONResponse

    app = server.streamable_http_app()

    async def require_token(request, call_next):  # type: ignore[no-untyped-def]
        if request.headers.get("authorization") != "Bearer test-token":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return await call_next(request)

    app.add_middleware(BaseHTTPMiddleware, dispatch=require_token)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # accept connections (queued) before announcing the port
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    if sys.argv[1:] == ["http"]:
        serve_http()
    else:
        server.run("stdio")
