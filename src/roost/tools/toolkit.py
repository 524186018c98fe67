"""``Toolkit``: the tools an agent may call, and their safe execution.

``execute()`` never raises for a bad call: unknown tool, invalid arguments, a tool that
raises or runs past its timeout all become ``is_error`` results with a stable ``code``
and a message the model can act on. Each call runs in its own task so a timeout or an
interrupt cancels the tool without touching the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any

from roost.core import (
    RoostError,
    ToolArgumentsInvalid,
    ToolError,
    ToolNotFound,
    ToolProgress,
    ToolResultBlock,
    ToolSpec,
    ToolTimeout,
    ToolUseBlock,
)
from roost.tools import _results
from roost.tools.tool import ApprovalPolicy, Tool

if TYPE_CHECKING:
    from roost.tools.mcp import McpConnection

_DONE = object()


class Toolkit:
    """A named set of tools. ``default_timeout`` applies to tools without their own."""

    def __init__(
        self,
        tools: Iterable[Tool | Callable[..., Any]] | None = None,
        *,
        default_timeout: float | None = 120.0,
    ) -> None:
        self._tools: dict[str, Tool] = {}
        self._mcp: dict[str, McpConnection] = {}
        self.default_timeout = default_timeout
        for item in tools or ():
            self.register(item)

    # -- registration -------------------------------------------------------------------
    def register(
        self,
        func: Tool | Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        requires_approval: ApprovalPolicy | None = None,
    ) -> Tool:
        """Register a function (schema from its signature) or a ready :class:`Tool`."""
        if isinstance(func, Tool):
            updates: dict[str, Any] = {}
            if name is not None:
                updates["name"] = name
            if description is not None:
                updates["description"] = description
            if timeout is not None:
                updates["timeout"] = timeout
            if requires_approval is not None:
                updates["requires_approval"] = requires_approval
            new = Tool(**{**func.__dict__, **updates}) if updates else func
        else:
            new = Tool.from_function(
                func,
                name=name,
                description=description,
                timeout=timeout,
                requires_approval=bool(requires_approval)
                if requires_approval is not None and not callable(requires_approval)
                else (requires_approval or False),
            )
        return self.add(new)

    def add(self, tool: Tool) -> Tool:
        if tool.name in self._tools:
            raise ToolError(
                f"a tool named '{tool.name}' is already registered",
                hint="pass name=... to register it under another name",
            )
        self._tools[tool.name] = tool
        return tool

    def tool(
        self,
        func: Callable[..., Any] | None = None,
        /,
        **options: Any,
    ) -> Any:
        """Decorator form of :meth:`register` (``@toolkit.tool`` or ``@toolkit.tool(...)``)."""
        if func is not None:
            return self.register(func, **options)
        return lambda fn: self.register(fn, **options)

    def remove(self, name: str) -> None:
        self._tools.pop(name, None)

    def extend(self, other: Toolkit) -> None:
        for item in other._tools.values():
            self.add(item)

    # -- queries ------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise ToolNotFound(
                f"there is no tool named '{name}'",
                hint="available tools: " + (", ".join(self._tools) or "none"),
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def specs(self) -> list[ToolSpec]:
        return [t.spec for t in self._tools.values()]

    def needs_approval(self, call: ToolUseBlock) -> bool:
        found = self._tools.get(call.name)
        return found is not None and found.needs_approval(call.input)

    # -- execution ----------------------------------------------------------------------
    async def execute(self, call: ToolUseBlock) -> AsyncIterator[ToolProgress | ToolResultBlock]:
        """Run one call: zero or more ``ToolProgress`` events, then one result block."""
        try:
            found = self.get(call.name)
            if call.raw_input is not None:
                raise ToolArgumentsInvalid(
                    f"the arguments for '{call.name}' are not a valid JSON object: "
                    f"{call.raw_input[:200]!r}",
                    hint="send the arguments as one JSON object",
                )
            kwargs = found.validate(call.input)
        except RoostError as exc:
            yield _results.failure(call.id, call.name, exc)
            return

        timeout = found.timeout if found.timeout is not None else self.default_timeout
        queue: asyncio.Queue[Any] = asyncio.Queue()
        task = asyncio.create_task(self._run(found, kwargs, queue), name=f"tool:{call.name}")
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        chunks: list[str] = []
        try:
            while True:
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError
                item = await asyncio.wait_for(queue.get(), remaining)
                if item is _DONE:
                    break
                kind, value = item
                if kind == "chunk":
                    text = value if isinstance(value, str) else str(value)
                    chunks.append(text)
                    yield ToolProgress(call_id=call.id, name=call.name, delta=text)
                elif kind == "result":
                    yield _results.success(call.id, call.name, value)
                    return
                elif kind == "stream_end":
                    yield _results.success(call.id, call.name, "".join(chunks))
                    return
                else:  # "error"
                    yield _results.failure(call.id, call.name, value)
                    return
        except TimeoutError:
            yield _results.failure(
                call.id,
                call.name,
                ToolTimeout(
                    f"tool '{call.name}' did not finish within {timeout:g} s",
                    hint="try smaller input or another approach",
                ),
            )
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    @staticmethod
    async def _run(found: Tool, kwargs: dict[str, Any], queue: asyncio.Queue[Any]) -> None:
        try:
            kind = found.kind
            if kind == "stream":
                async for chunk in found.func(**kwargs):
                    await queue.put(("chunk", chunk))
                await queue.put(("stream_end", None))
            elif kind == "async":
                await queue.put(("result", await found.func(**kwargs)))
            else:
                await queue.put(("result", await asyncio.to_thread(found.func, **kwargs)))
        except asyncio.CancelledError:
            raise
        except RoostError as exc:
            await queue.put(("error", exc))
        except Exception as exc:
            await queue.put(
                ("error", ToolError(f"tool '{found.name}' raised {type(exc).__name__}: {exc}"))
            )

    async def call(self, name: str, /, **arguments: Any) -> ToolResultBlock:
        """Convenience: run a tool by name outside an agent and return its result."""
        from roost.core import new_id

        result: ToolResultBlock | None = None
        async for item in self.execute(ToolUseBlock(id=new_id("call"), name=name, input=arguments)):
            if isinstance(item, ToolResultBlock):
                result = item
        assert result is not None
        return result

    # -- MCP ----------------------------------------------------------------------------
    async def add_mcp_server(
        self,
        name: str,
        *,
        command: str | None = None,
        args: Iterable[str] = (),
        env: dict[str, str] | None = None,
        url: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        prefix: str | None = None,
    ) -> list[str]:
        """Connect to an MCP server (stdio ``command`` or streamable-HTTP ``url``) and
        register its tools; returns their names. ``prefix`` namespaces them."""
        from roost.tools.mcp import connect_mcp

        if name in self._mcp:
            raise ToolError(f"an MCP server named '{name}' is already connected")
        conn = await connect_mcp(
            name,
            command=command,
            args=tuple(args),
            env=env,
            url=url,
            headers=headers,
            timeout=timeout,
        )
        self._mcp[name] = conn
        added = []
        try:
            for item in conn.tools:
                if prefix:
                    item = Tool(**{**item.__dict__, "name": f"{prefix}{item.name}"})
                self.add(item)
                added.append(item.name)
        except Exception:
            for tool_name in added:
                self.remove(tool_name)
            await conn.aclose()
            del self._mcp[name]
            raise
        return added

    async def aclose(self) -> None:
        """Close MCP connections."""
        conns, self._mcp = list(self._mcp.values()), {}
        for conn in conns:
            with contextlib.suppress(Exception):
                await conn.aclose()
