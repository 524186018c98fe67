"""Tools: ``@tool``, ``Toolkit``, safe execution, MCP client tools."""

from __future__ import annotations

from typing import TYPE_CHECKING

from roost._lazy import lazy_names
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


# the MCP SDK is heavy: imported only when MCP is used
__getattr__ = lazy_names(
    __name__,
    {name: "roost.tools.mcp" for name in ("McpConnection", "McpUnavailable", "connect_mcp")},
)
