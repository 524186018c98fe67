"""Sandbox bindings in the Roost database, so a restarted sandbox manager finds (and
reaps) the sandboxes a crashed one left behind. ``Store.sandbox_bindings`` is the
``roost.sandbox.SandboxBindingStore`` on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from roost.core.sandbox_binding import SandboxBinding
from roost.store import rows
from roost.store import statements as sql
from roost.store.backend import Row, StoreBackend, Tx, one


def _binding(row: Row) -> SandboxBinding:
    return SandboxBinding.model_validate({**row, "detail": rows.document(row["detail"])})


class SandboxBindings:
    """Implements ``roost.sandbox.SandboxBindingStore`` on a store's backend."""

    def __init__(self, backend: StoreBackend) -> None:
        self._backend = backend

    async def put(self, binding: SandboxBinding) -> None:
        """Insert or replace the binding of ``binding.sandbox_id``."""
        values = binding.model_dump()

        def body(tx: Tx) -> None:
            tx.run(sql.DELETE_BINDING, {"sandbox_id": binding.sandbox_id})
            tx.run(sql.INSERT_BINDING, values)

        await self._backend.write(body)

    async def get(self, sandbox_id: str) -> SandboxBinding | None:
        row = await self._backend.read(
            lambda tx: one(tx, sql.GET_BINDING, {"sandbox_id": sandbox_id})
        )
        return _binding(row) if row else None

    async def find(self, session_id: str, type: str) -> SandboxBinding | None:
        """The binding of a session's sandbox of a type, if any (the newest)."""
        params = {"session_id": session_id, "type": type}
        row = await self._backend.read(lambda tx: one(tx, sql.FIND_BINDING, params))
        return _binding(row) if row else None

    async def list_bindings(self, owner: str | None = None) -> list[SandboxBinding]:
        params: dict[str, Any] = {"owner": owner} if owner is not None else {}
        where = " WHERE owner = :owner" if owner is not None else ""
        stmt = f"SELECT {sql.BINDING} FROM sandbox_bindings{where} ORDER BY created_at"
        return [_binding(r) for r in await self._backend.read(lambda tx: tx.rows(stmt, params))]

    async def touch(self, sandbox_id: str, last_used_at: float) -> None:
        params = {"sandbox_id": sandbox_id, "at": last_used_at}
        await self._backend.write(lambda tx: tx.run(sql.TOUCH_BINDING, params))

    async def remove(self, sandbox_id: str) -> None:
        params = {"sandbox_id": sandbox_id}
        await self._backend.write(lambda tx: tx.run(sql.DELETE_BINDING, params))
