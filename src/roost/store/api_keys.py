"""API keys: stored as a SHA-256 of the key and a display prefix, never in clear.

Keys are 32 random bytes, so a single SHA-256 is enough to make a leaked table useless:
a slow password hash (bcrypt, argon2) only defends low-entropy secrets, and would cost
tens of milliseconds on every authenticated request. See docs/decisions/0051.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import secrets
from datetime import timedelta
from typing import Any

from roost.core.ids import new_id
from roost.store import rows
from roost.store import statements as sql
from roost.store.backend import Part, Row, Tx, one
from roost.store.errors import ApiKeyNotFound, InvalidStoreArgument
from roost.store.records import ApiKeyRecord, ApiKeyRole

KEY_PREFIX = "rk_"
_KEY_RE = re.compile(r"^rk_[A-Za-z0-9_-]{43}$")
LAST_USED_RESOLUTION = timedelta(seconds=60)
"""``api_keys.last_used_at`` is only rewritten when older than this (saves a write per request)."""


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


class ApiKeys(Part):
    async def create_api_key(
        self,
        name: str,
        *,
        role: ApiKeyRole,
        tenant_id: str | None = None,
        user_id: str | None = None,
    ) -> tuple[str, ApiKeyRecord]:
        """Create a key; the plaintext is returned once and only its SHA-256 is stored."""
        if role not in ("admin", "user"):
            raise InvalidStoreArgument(f"unknown API key role {role!r}", hint="use admin or user")
        if not name or len(name) > 128:
            raise InvalidStoreArgument("API key name must be 1-128 characters")
        plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKeyRecord(
            id=new_id("key"),
            name=name,
            prefix=plaintext[3:11],
            role=role,
            tenant_id=tenant_id,
            user_id=user_id,
            created_at=rows.now(),
            revoked_at=None,
            last_used_at=None,
        )
        values = {**dataclasses.asdict(record), "key_hash": hash_key(plaintext)}
        await self._backend.write(lambda tx: tx.run(sql.INSERT_API_KEY, values))
        return plaintext, record

    async def verify_api_key(self, plaintext: str) -> ApiKeyRecord | None:
        """The active key matching ``plaintext``, or ``None`` (unknown, revoked, garbage)."""
        if not isinstance(plaintext, str) or not _KEY_RE.match(plaintext):
            return None  # garbage never reaches the database
        digest = hash_key(plaintext)
        row = await self._backend.read(
            lambda tx: one(tx, sql.API_KEY_BY_HASH, {"key_hash": digest})
        )
        if row is None or not hmac.compare_digest(row["key_hash"].encode(), digest.encode()):
            return None
        record = rows.api_key(row)
        if record.revoked_at is not None:
            return None
        at = rows.now()
        if record.last_used_at is None or at - record.last_used_at > LAST_USED_RESOLUTION:
            params = {"id": record.id, "now": at}
            await self._backend.write(lambda tx: tx.run(sql.TOUCH_API_KEY, params))
            record = dataclasses.replace(record, last_used_at=at)
        return record

    async def list_api_keys(
        self, *, tenant_id: str | None = None, include_revoked: bool = True
    ) -> list[ApiKeyRecord]:
        params: dict[str, Any] = {}
        where = []
        if tenant_id is not None:
            where.append("tenant_id = :tenant_id")
            params["tenant_id"] = tenant_id
        if not include_revoked:
            where.append("revoked_at IS NULL")
        stmt = f"SELECT {sql.API_KEY} FROM api_keys"
        if where:
            stmt += " WHERE " + " AND ".join(where)
        stmt += " ORDER BY created_at, id"
        found = await self._backend.read(lambda tx: tx.rows(stmt, params))
        return [rows.api_key(r) for r in found]

    async def revoke_api_key(self, key_id: str) -> ApiKeyRecord:
        """Revoke a key (idempotent: the first revocation time is kept)."""
        params = {"id": key_id, "now": rows.now()}

        def body(tx: Tx) -> Row | None:
            tx.run(sql.REVOKE_API_KEY, params)
            return one(tx, sql.GET_API_KEY, {"id": key_id})

        row = await self._backend.write(body)
        if row is None:
            raise ApiKeyNotFound(f"API key {key_id!r} does not exist")
        return rows.api_key(row)
