"""Agent tools that act on a session's sandbox, by sandbox type (the registry holds
each type's toolset: ``execute_python``… for ``base``, ``browser_*``, ``gui_*``).

Tools are bound to a *provider* (``async () -> Sandbox``), not to a sandbox, so the
sandbox is acquired lazily on first use and a replaced sandbox is picked up.
"""

from __future__ import annotations

from collections.abc import Iterable

from roost.sandbox.base import Sandbox, SandboxProvider
from roost.sandbox.kinds.base_tools import base_tools
from roost.sandbox.manager import SandboxManager
from roost.sandbox.registry import registry
from roost.tools import Tool, Toolkit

__all__ = [
    "SandboxProvider",
    "base_tools",
    "manager_provider",
    "register_sandbox_tools",
    "sandbox_toolkit",
]


def manager_provider(
    manager: SandboxManager, session_id: str, type: str = "base"
) -> SandboxProvider:
    """A provider that acquires the session's sandbox from a ``SandboxManager``."""
    if not isinstance(manager, SandboxManager):
        raise TypeError("manager must be a SandboxManager")

    async def provide() -> Sandbox:
        return await manager.acquire(session_id, type)

    return provide


def register_sandbox_tools(
    toolkit: Toolkit, provider: SandboxProvider, *, types: Iterable[str] = ("base",)
) -> list[Tool]:
    """Add the tools of each sandbox type to ``toolkit``; returns the added tools."""
    added: list[Tool] = []
    seen: set[str] = set()
    for type in types:
        for t in registry.tools(type, provider):
            if t.name not in seen and t.name not in toolkit:
                added.append(toolkit.add(t))
                seen.add(t.name)
    return added


def sandbox_toolkit(provider: SandboxProvider, *, types: Iterable[str] = ("base",)) -> Toolkit:
    """A new Toolkit holding the sandbox tools of ``types``."""
    toolkit = Toolkit()
    register_sandbox_tools(toolkit, provider, types=types)
    return toolkit
