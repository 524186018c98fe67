"""Rows of the secret store and of the tenants' data protection policy.

The store keeps secrets only as ciphertext: ``roost.govern.SecretStore`` encrypts and
decrypts (envelope encryption); this module reads and writes the rows. The module
functions of a :class:`Tx` are what the content sealer calls inside other transactions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from roost.store import rows
from roost.store import statements as sql
from roost.store.backend import Part, Tx, one
from roost.store.errors import SecretNotFound


@dataclass(frozen=True)
class SecretRow:
    """One encrypted secret: its value under a data key, the data key under a master key."""

    name: str
    tenant_id: str | None
    algorithm: str
    master_key_id: str
    wrapped_key: str
    ciphertext: str
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ProtectionRow:
    """A tenant's data protection: content sealed at rest, confidential (private models
    only), the secret holding its data key, and its DLP policy document."""

    tenant_id: str
    encrypt: bool
    confidential: bool
    key_name: str | None
    policy: dict[str, Any]
    updated_at: datetime


def secret_row(tx: Tx, name: str) -> SecretRow | None:
    row = one(tx, sql.GET_SECRET, {"name": name})
    return _secret(row) if row is not None else None


def protection_row(tx: Tx, tenant_id: str) -> ProtectionRow | None:
    row = one(tx, sql.GET_PROTECTION, {"tenant_id": tenant_id})
    return _protection(row) if row is not None else None


def tenant_of(tx: Tx, *, session_id: str | None, run_id: str | None) -> str | None:
    """The tenant of a session or run (one indexed read)."""
    if session_id is not None:
        row = one(tx, sql.SESSION_TENANT, {"id": session_id})
    elif run_id is not None:
        row = one(tx, sql.RUN_TENANT, {"id": run_id})
    else:
        return None
    return row["tenant_id"] if row is not None else None


def _secret(row: Mapping[str, Any]) -> SecretRow:
    values = dict(row)
    values.update(
        version=int(row["version"]),
        created_at=rows.created(row["created_at"]),
        updated_at=rows.created(row["updated_at"]),
    )
    return SecretRow(**values)


def _protection(row: Mapping[str, Any]) -> ProtectionRow:
    return ProtectionRow(
        tenant_id=row["tenant_id"],
        encrypt=bool(row["encrypt"]),
        confidential=bool(row["confidential"]),
        key_name=row["key_name"],
        policy=dict(rows.document(row["policy"]) or {}),
        updated_at=rows.created(row["updated_at"]),
    )


class Secrets(Part):
    async def put_secret_row(
        self,
        name: str,
        *,
        tenant_id: str | None,
        algorithm: str,
        master_key_id: str,
        wrapped_key: str,
        ciphertext: str,
    ) -> int:
        """Insert or replace a secret's row; its new version (1, 2, …)."""
        rows.check_len(tenant_id, 128, "tenant id")
        at = rows.now()
        params = {
            "name": name,
            "tenant_id": tenant_id,
            "algorithm": algorithm,
            "master_key_id": master_key_id,
            "wrapped_key": wrapped_key,
            "ciphertext": ciphertext,
            "version": 1,
            "created_at": at,
            "updated_at": at,
        }
        return int(
            await self._backend.write(lambda tx: tx.rows(sql.UPSERT_SECRET, params)[0]["version"])
        )

    async def get_secret_row(self, name: str) -> SecretRow:
        found = await self._backend.read(lambda tx: secret_row(tx, name))
        if found is None:
            raise SecretNotFound(
                f"secret {name!r} does not exist", hint="list them: roost secrets list"
            )
        return found

    async def list_secret_rows(
        self, *, prefix: str = "", tenant_id: str | None = None, limit: int = 1000
    ) -> list[SecretRow]:
        """Secrets in name order (with their ciphertext: callers show only the metadata)."""
        rows.check_limit(limit)
        params: dict[str, Any] = {"limit": limit}
        where = []
        if prefix:
            where.append("substr(name, 1, :plen) = :prefix")
            params.update(prefix=prefix, plen=len(prefix))
        if tenant_id is not None:
            where.append("tenant_id = :tenant_id")
            params["tenant_id"] = tenant_id
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        stmt = f"SELECT {sql.SECRET} FROM secrets{clause} ORDER BY name LIMIT :limit"
        return [_secret(r) for r in await self._backend.read(lambda tx: tx.rows(stmt, params))]

    async def delete_secret_row(self, name: str) -> None:
        if not await self._backend.write(lambda tx: tx.run(sql.DELETE_SECRET, {"name": name})):
            raise SecretNotFound(f"secret {name!r} does not exist")

    async def secrets_to_rewrap(self, primary: str, *, limit: int = 100) -> list[SecretRow]:
        """Secrets whose data key is wrapped by another master key than ``primary``."""
        params = {"primary": primary, "limit": limit}
        found = await self._backend.read(lambda tx: tx.rows(sql.SECRETS_TO_REWRAP, params))
        return [_secret(r) for r in found]

    async def rewrap_secret_rows(self, changes: list[dict[str, str]]) -> int:
        """Store re-wrapped data keys (``name``, ``old_kid``, ``new_kid``, ``wrapped_key``),
        one transaction, each row only if still wrapped by ``old_kid``; how many changed."""

        def body(tx: Tx) -> int:
            return sum(tx.run(sql.REWRAP_SECRET, change) for change in changes)

        return await self._backend.write(body) if changes else 0

    async def secrets_by_master_key(self) -> dict[str, int]:
        found = await self._backend.read(lambda tx: tx.rows(sql.SECRETS_BY_MASTER_KEY))
        return {r["master_key_id"]: int(r["n"]) for r in found}

    async def get_protection(self, tenant_id: str) -> ProtectionRow | None:
        rows.check_len(tenant_id, 128, "tenant id")
        return await self._backend.read(lambda tx: protection_row(tx, tenant_id))

    async def list_protection(self) -> list[ProtectionRow]:
        found = await self._backend.read(lambda tx: tx.rows(sql.LIST_PROTECTION))
        return [_protection(r) for r in found]

    async def put_protection(
        self,
        tenant_id: str,
        *,
        encrypt: bool,
        confidential: bool,
        key_name: str | None,
        policy: Mapping[str, Any],
    ) -> ProtectionRow:
        rows.check_len(tenant_id, 128, "tenant id")
        values = {
            "tenant_id": tenant_id,
            "encrypt": encrypt,
            "confidential": confidential,
            "key_name": key_name,
            "policy": dict(policy),
            "updated_at": rows.now(),
        }
        await self._backend.write(lambda tx: tx.run(sql.UPSERT_PROTECTION, values))
        return ProtectionRow(**values)  # type: ignore[arg-type]
