"""``SqlSandboxBindingStore``: sandbox bindings in the Roost database (SQLite or
PostgreSQL), so a restarted manager finds the sandboxes a crashed one left behind.
The table is created by the Alembic revision ``0002_sandbox_bindings``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from roost.sandbox.bindings import SandboxBinding
from roost.store._engine import WRITE_OPTION
from roost.store.schema import sandbox_bindings

sandbox_bindings_table = sandbox_bindings
_T = sandbox_bindings_table


def _row(b: SandboxBinding) -> dict[str, Any]:
    return b.model_dump()


def _binding(row: Any) -> SandboxBinding:
    return SandboxBinding.model_validate(dict(row._mapping))


class SqlSandboxBindingStore:
    """Implements ``roost.sandbox.SandboxBindingStore`` on a store engine
    (``SqlSandboxBindingStore(store.engine)`` with a migrated ``roost.store.Store``)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._write = engine.execution_options(**{WRITE_OPTION: True})

    async def put(self, binding: SandboxBinding) -> None:
        async with self._write.begin() as conn:
            await conn.execute(sa.delete(_T).where(_T.c.sandbox_id == binding.sandbox_id))
            await conn.execute(sa.insert(_T).values(**_row(binding)))

    async def get(self, sandbox_id: str) -> SandboxBinding | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(_T).where(_T.c.sandbox_id == sandbox_id))).first()
        return _binding(row) if row else None

    async def find(self, session_id: str, type: str) -> SandboxBinding | None:
        query = (
            sa.select(_T)
            .where(_T.c.session_id == session_id, _T.c.type == type)
            .order_by(_T.c.created_at.desc())
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _binding(row) if row else None

    async def list_bindings(self, owner: str | None = None) -> list[SandboxBinding]:
        query = sa.select(_T).order_by(_T.c.created_at)
        if owner is not None:
            query = query.where(_T.c.owner == owner)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_binding(r) for r in rows]

    async def touch(self, sandbox_id: str, last_used_at: float) -> None:
        async with self._write.begin() as conn:
            await conn.execute(
                sa.update(_T).where(_T.c.sandbox_id == sandbox_id).values(last_used_at=last_used_at)
            )

    async def remove(self, sandbox_id: str) -> None:
        async with self._write.begin() as conn:
            await conn.execute(sa.delete(_T).where(_T.c.sandbox_id == sandbox_id))
