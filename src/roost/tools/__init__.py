"""Tools: ``@tool``, ``Toolkit``, safe execution, MCP client tools."""

from __future__ import annotations

from typing import TYPE_CHECKING

from roost.tools.tool import ApprovalPolicy, Tool, tool
from roost.tools.toolkit import Toolkit

if TYPE_CHECKING:
    from roost.tools.mcp import McpConnection, McpUnavailable, connect_mcp

__all__ = [
    "ApprovalPolicy",
    "McpConnection",
    "McpUnavailable",
    "Tool",
    "Toolkit",
    "connect_mcp",
    "tool",
]


def __getattr__(name: str) -> object:
    # the MCP SDK is heavy: import it only when MCP is used
    if name in ("McpConnection", "McpUnavailable", "connect_mcp"):
        from roost.tools import mcp

        return getattr(mcp, name)
    raise AttributeError(f"module 'roost.tools' has no attribute {name!r}")
