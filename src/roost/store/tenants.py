"""Tenants and quotas: the teams one Roost serves, and the limits set on them and their
users (enforced by :mod:`roost.govern.quotas`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from roost.store import rows
from roost.store import statements as sql
from roost.store.backend import Integrity, Part, Row, Tx, one, scalar
from roost.store.errors import InvalidStoreArgument, TenantExists, TenantNotFound
from roost.store.records import QuotaRecord, TenantRecord


class Tenants(Part):
    async def create_tenant(
        self, tenant_id: str, *, name: str | None = None, metadata: Mapping[str, Any] | None = None
    ) -> TenantRecord:
        rows.check_id(tenant_id, "tenant id")
        rows.check_len(name, 256, "tenant name")
        record = TenantRecord(
            id=tenant_id,
            name=name or tenant_id,
            metadata=dict(metadata or {}),
            created_at=rows.now(),
            disabled_at=None,
        )
        values = {
            "id": record.id,
            "name": record.name,
            "metadata": record.metadata,
            "created_at": record.created_at,
            "disabled_at": None,
        }
        try:
            await self._backend.write(lambda tx: tx.run(sql.INSERT_TENANT, values))
        except Integrity as exc:
            raise TenantExists(f"tenant {tenant_id!r} already exists") from exc
        return record

    async def get_tenant(self, tenant_id: str) -> TenantRecord:
        row = await self._backend.read(lambda tx: one(tx, sql.GET_TENANT, {"id": tenant_id}))
        if row is None:
            raise TenantNotFound(f"tenant {tenant_id!r} does not exist")
        return rows.tenant(row)

    async def list_tenants(self) -> list[TenantRecord]:
        found = await self._backend.read(lambda tx: tx.rows(sql.LIST_TENANTS))
        return [rows.tenant(r) for r in found]

    async def set_tenant_disabled(self, tenant_id: str, disabled: bool) -> TenantRecord:
        """Disable a tenant (its keys stop working; its data stays) or enable it again."""
        params = {"id": tenant_id, "now": rows.now()}

        def body(tx: Tx) -> Row | None:
            tx.run(sql.DISABLE_TENANT if disabled else sql.ENABLE_TENANT, params)
            return one(tx, sql.GET_TENANT, {"id": tenant_id})

        row = await self._backend.write(body)
        if row is None:
            raise TenantNotFound(f"tenant {tenant_id!r} does not exist")
        return rows.tenant(row)

    # -- quotas ------------------------------------------------------------------------
    async def set_quota(
        self, tenant_id: str, limits: Mapping[str, float], *, user_id: str = ""
    ) -> QuotaRecord | None:
        """Replace the limits of a tenant (``user_id`` ``""``) or of one of its users;
        empty ``limits`` removes them (``None`` is returned)."""
        rows.check_len(tenant_id, 128, "tenant id")
        rows.check_len(user_id, 128, "user id")
        for key, value in limits.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise InvalidStoreArgument(f"quota {key!r} must be a number >= 0")
        record = QuotaRecord(tenant_id, user_id, dict(limits), rows.now())
        params = {
            "tenant_id": tenant_id,
            "user_id": user_id,
            "limits": record.limits,
            "updated_at": record.updated_at,
        }

        def body(tx: Tx) -> None:
            if not tx.rows(sql.GET_TENANT, {"id": tenant_id}):
                raise TenantNotFound(f"tenant {tenant_id!r} does not exist")
            tx.run(sql.UPSERT_QUOTA if limits else sql.DELETE_QUOTA, params)

        await self._backend.write(body)
        return record if limits else None

    async def list_quotas(self, tenant_id: str) -> list[QuotaRecord]:
        """The tenant's own limits (``user_id`` ``""``) and its users'."""
        params = {"tenant_id": tenant_id}
        found = await self._backend.read(lambda tx: tx.rows(sql.QUOTAS_OF_TENANT, params))
        return [rows.quota(r) for r in found]

    async def count_sessions(self, *, tenant_id: str, user_id: str | None = None) -> int:
        """Sessions stored for a tenant (or one user of it): the ``open_sessions`` quota."""
        params: dict[str, Any] = {"tenant_id": tenant_id}
        stmt = "SELECT count(*) AS n FROM sessions WHERE tenant_id = :tenant_id"
        if user_id is not None:
            stmt += " AND user_id = :user_id"
            params["user_id"] = user_id
        return int(await self._backend.read(lambda tx: scalar(tx, stmt, params)) or 0)

    async def usage_since(
        self, since: datetime, *, tenant_id: str, user_id: str | None = None
    ) -> tuple[int, float]:
        """``(tokens, cost)`` of the runs created since ``since`` by a tenant (or one user
        of it), costs of every currency added (quotas are set in one)."""
        params: dict[str, Any] = {"since": since, "tenant_id": tenant_id}
        stmt = (
            "SELECT sum(input_tokens + output_tokens) AS tokens, sum(cost) AS cost FROM runs"
            " WHERE created_at >= :since AND tenant_id = :tenant_id"
        )
        if user_id is not None:
            stmt += " AND user_id = :user_id"
            params["user_id"] = user_id
        row = await self._backend.read(lambda tx: one(tx, stmt, params))
        if row is None:
            return 0, 0.0
        return int(row["tokens"] or 0), float(row["cost"] or 0.0)
