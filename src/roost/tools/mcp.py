"""MCP client: tools of a Model Context Protocol server as Roost :class:`Tool` objects.

The SDK's transports are anyio context managers that must be entered and exited in the
same task, so each connection owns one background task that holds the session open until
:meth:`McpConnection.aclose`; tool calls are made from the caller's task on that session.
A stdio server gets only a minimal environment (``PATH``, ``HOME`` …) plus ``env``: the
parent's secrets are not inherited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from typing import IO, Any

from roost.core import (
    AudioBlock,
    DataBlock,
    ImageBlock,
    InvalidRequest,
    TextBlock,
    ToolArgumentsInvalid,
    ToolError,
    ToolResultBlock,
)
from roost.tools.tool import Tool

logger = logging.getLogger("roost.tools.mcp")

_NAME_OK = re.compile(r"[^A-Za-z0-9_-]")
_INVALID_PARAMS = -32602
_CONNECTION_CLOSED = -32000
_CLOSE_GRACE = 10.0


class McpUnavailable(ToolError):
    """The MCP server cannot be reached, did not start, or went away."""

    code = "mcp_unavailable"
    status = 503


class McpConnection:
    """A live session with one MCP server; ``tools`` call the server when executed."""

    def __init__(self, name: str, timeout: float) -> None:
        self.name = name
        self.timeout = timeout
        self.tools: list[Tool] = []
        self.server_name: str | None = None
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._failure: BaseException | None = None
        self._errlog: IO[str] | None = None

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"McpConnection({self.name!r}, tools={len(self.tools)}, {state})"

    @property
    def closed(self) -> bool:
        return self._client is None

    # -- lifecycle ------------------------------------------------------------------------
    async def _start(self, open_transport: Any) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[list[Any]] = loop.create_future()
        self._task = asyncio.create_task(self._hold(open_transport, ready), name=f"mcp:{self.name}")
        try:
            listed = await asyncio.wait_for(asyncio.shield(ready), self.timeout)
        except TimeoutError:
            await self.aclose()
            raise McpUnavailable(
                f"MCP server '{self.name}' did not complete the handshake within {self.timeout:g} s"
                + self._stderr_tail(),
                hint="check the command/URL, or raise timeout=",
            ) from None
        except BaseException:
            await self.aclose()
            raise
        self.tools = [self._as_tool(t) for t in listed]

    async def _hold(self, open_transport: Any, ready: asyncio.Future[list[Any]]) -> None:
        from mcp import Client
        from mcp_types import Implementation

        try:
            async with AsyncExitStack() as stack:
                transport = await open_transport(stack)
                client = Client(
                    transport,
                    read_timeout_seconds=None,
                    client_info=Implementation(name="roost", version="0.1.0"),
                )
                await stack.enter_async_context(client)
                listed = await self._list_tools(client)
                info = client.server_info
                self.server_name = info.name if info is not None else None
                self._client = client
                ready.set_result(listed)
                await self._stop.wait()
        except asyncio.CancelledError:
            if not ready.done():
                ready.set_exception(
                    McpUnavailable(f"MCP server '{self.name}' connection cancelled")
                )
            raise
        except BaseException as exc:
            error = McpUnavailable(
                f"MCP server '{self.name}' failed: {_describe(exc)}" + self._stderr_tail(),
                hint="check that the server starts on its own and speaks MCP",
            )
            if not ready.done():
                ready.set_exception(error)
            else:
                self._failure = error
                logger.warning("MCP server %s disconnected: %s", self.name, _describe(exc))
        finally:
            self._client = None

    async def _list_tools(self, client: Any) -> list[Any]:
        tools: list[Any] = []
        cursor: str | None = None
        for _ in range(100):  # a server that paginates forever cannot hang the connect
            page = await client.list_tools(cursor=cursor)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        return tools

    async def aclose(self) -> None:
        """Close the session (and stop a stdio server process); idempotent."""
        self._stop.set()
        task, self._task = self._task, None
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), _CLOSE_GRACE)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            except Exception:
                pass
        if self._errlog is not None:
            self._errlog.close()
            self._errlog = None

    def _stderr_tail(self) -> str:
        if self._errlog is None or self._errlog.closed:
            return ""
        try:
            self._errlog.seek(0)
            tail = self._errlog.read()[-600:].strip()
        except (OSError, ValueError):
            return ""
        return f"; server stderr: {tail}" if tail else ""

    # -- calls ----------------------------------------------------------------------------
    async def call_tool(self, name: str, arguments: Mapping[str, Any]) -> ToolResultBlock:
        """Call ``name`` on the server; its content becomes text/image/audio/data blocks."""
        from mcp import MCPError

        client = self._client
        if client is None:
            raise self._failure or McpUnavailable(
                f"MCP server '{self.name}' is not connected", hint="reconnect the MCP server"
            )
        try:
            result = await client.call_tool(name, dict(arguments))
        except MCPError as exc:
            code = getattr(getattr(exc, "error", None), "code", None)
            message = f"MCP tool '{name}' on '{self.name}' failed: {exc}"
            if code == _INVALID_PARAMS:
                raise ToolArgumentsInvalid(
                    message, hint="fix the arguments to match the schema"
                ) from None
            if code == _CONNECTION_CLOSED:
                self._client = None  # the session is gone: fail fast from now on
                self._failure = McpUnavailable(
                    f"MCP server '{self.name}' closed the connection" + self._stderr_tail(),
                    hint="the server process exited or dropped the session; reconnect it",
                )
                raise self._failure from None
            raise ToolError(message) from None
        except (OSError, EOFError) as exc:
            raise McpUnavailable(f"MCP server '{self.name}' went away: {_describe(exc)}") from None
        except Exception as exc:
            if self._client is None:
                raise McpUnavailable(
                    f"MCP server '{self.name}' went away during '{name}': {_describe(exc)}"
                ) from None
            raise
        return result_to_block(result, name)

    def _as_tool(self, spec: Any) -> Tool:
        remote = str(spec.name)
        local = _NAME_OK.sub("_", remote)[:64]

        async def call(**arguments: Any) -> ToolResultBlock:
            return await self.call_tool(remote, arguments)

        schema = dict(spec.input_schema or {"type": "object", "properties": {}})
        schema.setdefault("type", "object")
        return Tool(
            name=local,
            func=call,
            description=spec.description or spec.title or "",
            parameters=schema,
            source="mcp",
        )


def result_to_block(result: Any, name: str) -> ToolResultBlock:
    """An MCP ``CallToolResult`` → a Roost tool result (``is_error`` kept)."""
    parts: list[TextBlock | ImageBlock | AudioBlock | DataBlock] = []
    structured = getattr(result, "structured_content", None)
    if structured is not None:
        parts.append(_structured_block(structured))
    for item in result.content or []:
        kind = getattr(item, "type", None)
        if kind == "text":
            if structured is None:  # servers repeat structured content as JSON text
                parts.append(TextBlock(text=item.text))
        elif kind == "image":
            parts.append(ImageBlock(data=item.data, media_type=item.mime_type))
        elif kind == "audio":
            parts.append(AudioBlock(data=item.data, media_type=item.mime_type))
        elif kind == "resource":
            parts.append(_resource_block(item.resource))
        elif kind == "resource_link":
            link = {"uri": str(item.uri), "name": item.name, "mime_type": item.mime_type}
            parts.append(DataBlock(data={k: v for k, v in link.items() if v is not None}))
        else:
            dumped = item.model_dump(mode="json") if hasattr(item, "model_dump") else str(item)
            parts.append(DataBlock(data=dumped))
    if result.is_error:
        return ToolResultBlock(
            tool_use_id="",
            name=name,
            content=parts or [TextBlock(text=f"MCP tool '{name}' reported an error")],
            is_error=True,
            status="error",
            code="tool_failed",
        )
    return ToolResultBlock(tool_use_id="", name=name, content=parts)


def _structured_block(value: Any) -> TextBlock | DataBlock:
    # SDK servers wrap a non-object return value as {"result": value}: unwrap it.
    if isinstance(value, dict) and list(value) == ["result"]:
        inner = value["result"]
        return TextBlock(text=inner) if isinstance(inner, str) else DataBlock(data=inner)
    return DataBlock(data=value)


def _resource_block(resource: Any) -> TextBlock | ImageBlock | DataBlock:
    mime = getattr(resource, "mime_type", None)
    text = getattr(resource, "text", None)
    if text is not None:
        return TextBlock(text=text)
    blob = getattr(resource, "blob", None)
    if blob is not None and mime and mime.startswith("image/"):
        return ImageBlock(data=blob, media_type=mime)
    return DataBlock(data={"uri": str(resource.uri), "mime_type": mime, "blob": blob})


def _describe(exc: BaseException) -> str:
    """The innermost meaningful message of an exception (task groups nest them)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def connect_mcp(
    name: str,
    *,
    command: str | None = None,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    url: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    cwd: str | None = None,
) -> McpConnection:
    """Connect to an MCP server over stdio (``command``) or streamable HTTP (``url``).

    Returns once the handshake and the tool listing are done; raises ``McpUnavailable``
    when the server does not start or answer within ``timeout`` seconds.
    """
    if (command is None) == (url is None):
        raise InvalidRequest(
            f"MCP server '{name}' needs exactly one of command= (stdio) or url= (HTTP)",
            hint="e.g. command='npx', args=['-y', '@modelcontextprotocol/server-everything']",
        )
    if timeout <= 0:
        raise InvalidRequest(f"MCP timeout must be positive, got {timeout}")
    conn = McpConnection(name, timeout)

    if url is not None:
        if not url.startswith(("http://", "https://")):
            raise InvalidRequest(
                f"MCP url must start with http:// or https://, got {url!r}",
                hint="e.g. http://127.0.0.1:8000/mcp",
            )
        http_headers = dict(headers or {})

        async def open_transport(stack: AsyncExitStack) -> Any:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client
            from mcp.shared._httpx_utils import create_mcp_http_client

            client = create_mcp_http_client(
                headers=http_headers, timeout=httpx2.Timeout(timeout, read=300.0)
            )
            await stack.enter_async_context(client)
            return streamable_http_client(url, http_client=client)

    else:
        assert command is not None
        # The server's stderr, kept to explain a failed start; closed by aclose().
        conn._errlog = tempfile.TemporaryFile(  # noqa: SIM115
            mode="w+", encoding="utf-8", errors="replace"
        )
        errlog = conn._errlog

        async def open_transport(stack: AsyncExitStack) -> Any:
            from mcp import StdioServerParameters
            from mcp.client.stdio import stdio_client

            params = StdioServerParameters(
                command=command, args=list(args), env=dict(env or {}), cwd=cwd
            )
            return stdio_client(params, errlog=errlog)

    await conn._start(open_transport)
    return conn


__all__ = ["McpConnection", "McpUnavailable", "connect_mcp", "result_to_block"]
