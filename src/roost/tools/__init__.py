"""Tools: ``@tool``, ``Toolkit``, safe execution, MCP client tools."""

from roost.tools.tool import ApprovalPolicy, Tool, tool
from roost.tools.toolkit import Toolkit

__all__ = ["ApprovalPolicy", "Tool", "Toolkit", "tool"]
