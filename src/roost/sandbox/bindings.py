"""Which sandbox serves which session, persisted so a restarted manager can find and
reap the sandboxes a crashed one left behind.

``SandboxBindingStore`` is the protocol; :class:`InMemorySandboxBindingStore` is the
embedded implementation and ``roost.store.Store.sandbox_bindings`` the SQLite/PostgreSQL
one. The record, :class:`SandboxBinding`, lives in ``roost.core`` (the store must not
import this layer).
"""

from __future__ import annotations

import os
import socket
from typing import Protocol, runtime_checkable

from roost.core import new_id
from roost.core.sandbox_binding import SandboxBinding as SandboxBinding


def new_owner_id() -> str:
    """``host:pid:random``: identifies one manager instance (see ``owner_is_dead``)."""
    return f"{socket.gethostname()}:{os.getpid()}:{new_id('mgr')}"


def owner_is_dead(owner: str) -> bool:
    """True when the owner ran on this host in a process that no longer exists.

    Owners on other hosts are never judged here (their own host reaps them).
    """
    host, _, rest = owner.partition(":")
    pid_text, _, _ = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@runtime_checkable
class SandboxBindingStore(Protocol):
    async def put(self, binding: SandboxBinding) -> None:
        """Insert or replace the binding of ``binding.sandbox_id``."""

    async def get(self, sandbox_id: str) -> SandboxBinding | None: ...

    async def find(self, session_id: str, type: str) -> SandboxBinding | None:
        """The binding of a session's sandbox of a type, if any."""

    async def list_bindings(self, owner: str | None = None) -> list[SandboxBinding]: ...

    async def touch(self, sandbox_id: str, last_used_at: float) -> None: ...

    async def remove(self, sandbox_id: str) -> None: ...


class InMemorySandboxBindingStore:
    """Bindings in a dict: for one process (tests, the embedded default)."""

    def __init__(self) -> None:
        self._rows: dict[str, SandboxBinding] = {}

    async def put(self, binding: SandboxBinding) -> None:
        self._rows[binding.sandbox_id] = binding.model_copy(deep=True)

    async def get(self, sandbox_id: str) -> SandboxBinding | None:
        row = self._rows.get(sandbox_id)
        return row.model_copy(deep=True) if row else None

    async def find(self, session_id: str, type: str) -> SandboxBinding | None:
        for row in self._rows.values():
            if row.session_id == session_id and row.type == type:
                return row.model_copy(deep=True)
        return None

    async def list_bindings(self, owner: str | None = None) -> list[SandboxBinding]:
        return [
            r.model_copy(deep=True)
            for r in sorted(self._rows.values(), key=lambda r: r.created_at)
            if owner is None or r.owner == owner
        ]

    async def touch(self, sandbox_id: str, last_used_at: float) -> None:
        row = self._rows.get(sandbox_id)
        if row is not None:
            row.last_used_at = last_used_at

    async def remove(self, sandbox_id: str) -> None:
        self._rows.pop(sandbox_id, None)
