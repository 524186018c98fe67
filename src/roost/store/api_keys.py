"""API keys: stored as a keyed hash (HMAC-SHA256 with the server's pepper) and a display
prefix, never in clear; shown once at creation, revocable, with an optional expiry.

Keys are 32 random bytes, so a slow password hash would add nothing against guessing
and cost tens of milliseconds per verification; the key the hash is made with (the
*pepper*, ``ROOST_API_KEY_PEPPER`` or a file under ``ROOST_HOME``) is not in the
database, so a stolen table or backup cannot even confirm a leaked key. Keys stored
before as a bare SHA-256 (decision 0051) are found by it once and rewritten to the keyed
hash at that first use (decision 0181).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import os
import re
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from roost.core.ids import new_id
from roost.store import rows
from roost.store import statements as sql
from roost.store.backend import Part, Row, Tx, one
from roost.store.errors import ApiKeyNotFound, InvalidStoreArgument
from roost.store.records import API_KEY_ROLES, ApiKeyRecord, ApiKeyRole

KEY_PREFIX = "rk_"
_KEY_RE = re.compile(r"^rk_[A-Za-z0-9_-]{43}$")
LAST_USED_RESOLUTION = timedelta(seconds=60)
"""``api_keys.last_used_at`` is only rewritten when older than this (saves a write per request)."""
LEGACY_SCHEME = "sha256"
PEPPER_FILE = "api-key-pepper"


def hash_key(plaintext: str) -> str:
    """The bare SHA-256 keys were stored as before 0005 (only to find such keys)."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


class KeyHasher:
    """HMAC-SHA256 of a key with the pepper; ``scheme`` names the pepper (by a short
    fingerprint) so that keys made with another one can be told apart."""

    def __init__(self, pepper: bytes) -> None:
        if len(pepper) < 16:
            raise InvalidStoreArgument(
                "the API key pepper is too short", hint="use at least 16 random bytes"
            )
        self._keyed = hmac.new(pepper, digestmod=hashlib.sha256)  # copied per key: cheaper
        fingerprint = hmac.new(pepper, b"roost:api-key-pepper", hashlib.sha256).hexdigest()
        self.scheme = "hmac-sha256:" + fingerprint[:8]

    def digest(self, plaintext: str) -> str:
        keyed = self._keyed.copy()
        keyed.update(plaintext.encode())
        return keyed.hexdigest()


def key_hasher() -> KeyHasher:
    """The hasher of this process: ``ROOST_API_KEY_PEPPER``, else the pepper file under
    ``ROOST_HOME`` (created with 256 random bits at first use)."""
    from roost.core.settings import get_settings

    settings = get_settings()
    if settings.api_key_pepper is not None:
        return _hasher_for(settings.api_key_pepper.get_secret_value().encode(), None)
    return _hasher_for(None, settings.ensure_home() / PEPPER_FILE)


@functools.lru_cache(maxsize=8)
def _hasher_for(pepper: bytes | None, path: Path | None) -> KeyHasher:
    if pepper is None:
        assert path is not None
        pepper = _pepper_file(path)
    return KeyHasher(pepper)


def _pepper_file(path: Path) -> bytes:
    """Read the pepper file, or create it atomically (two processes starting together
    agree on one: the first ``link`` wins)."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_urlsafe(32).encode())
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes().strip()


class ApiKeys(Part):
    async def create_api_key(
        self,
        name: str,
        *,
        role: ApiKeyRole,
        tenant_id: str | None = None,
        user_id: str | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[str, ApiKeyRecord]:
        """Create a key; the plaintext is returned once and only its keyed hash is
        stored. A key of a tenant not known yet records the tenant."""
        if role not in API_KEY_ROLES:
            raise InvalidStoreArgument(
                f"unknown API key role {role!r}", hint=f"use one of {', '.join(API_KEY_ROLES)}"
            )
        if not name or len(name) > 128:
            raise InvalidStoreArgument("API key name must be 1-128 characters")
        rows.check_len(tenant_id, 128, "tenant id")
        rows.check_len(user_id, 128, "user id")
        at = rows.now()
        if expires_at is not None and expires_at <= at:
            raise InvalidStoreArgument("the key would expire before it is made")
        hasher = key_hasher()
        plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKeyRecord(
            id=new_id("key"),
            name=name,
            prefix=plaintext[3:11],
            role=role,
            tenant_id=tenant_id,
            user_id=user_id,
            created_at=at,
            revoked_at=None,
            last_used_at=None,
            expires_at=expires_at,
            hash_scheme=hasher.scheme,
        )
        values = {**dataclasses.asdict(record), "key_hash": hasher.digest(plaintext)}

        def body(tx: Tx) -> None:
            if tenant_id is not None:
                tenant = {"id": tenant_id, "name": tenant_id, "metadata": {}}
                tx.run(sql.ENSURE_TENANT, {**tenant, "created_at": at, "disabled_at": None})
            tx.run(sql.INSERT_API_KEY, values)

        await self._backend.write(body)
        return plaintext, record

    async def verify_api_key(self, plaintext: str) -> ApiKeyRecord | None:
        """The usable key matching ``plaintext``, or ``None`` (unknown, revoked, expired,
        of a disabled tenant, garbage). A key still stored as a bare SHA-256 is
        rewritten to the keyed hash here."""
        if not isinstance(plaintext, str) or not _KEY_RE.match(plaintext):
            return None  # garbage never reaches the database
        hasher = key_hasher()
        digest = hasher.digest(plaintext)
        legacy = hash_key(plaintext)

        def find(tx: Tx) -> Row | None:
            row = one(tx, sql.API_KEY_BY_HASH, {"key_hash": digest})
            if row is None:
                old = one(tx, sql.API_KEY_BY_HASH, {"key_hash": legacy})
                if old is not None and old["hash_scheme"] == LEGACY_SCHEME:
                    return old
            return row

        row = await self._backend.read(find)
        if row is None:
            return None
        expected = legacy if row["hash_scheme"] == LEGACY_SCHEME else digest
        if not hmac.compare_digest(row["key_hash"].encode(), expected.encode()):
            return None
        record = rows.api_key(row)
        at = rows.now()
        if (
            record.revoked_at is not None
            or record.expired(at)
            or row["tenant_disabled_at"] is not None
        ):
            return None
        rehash = record.hash_scheme == LEGACY_SCHEME
        touch = record.last_used_at is None or at - record.last_used_at > LAST_USED_RESOLUTION
        if rehash or touch:  # one write, and none on most requests
            params: dict[str, Any] = {
                "id": record.id,
                "now": at,
                "key_hash": digest,
                "hash_scheme": hasher.scheme,
            }

            def update(tx: Tx) -> None:
                if rehash:
                    tx.run(sql.REHASH_API_KEY, params)
                if touch:
                    tx.run(sql.TOUCH_API_KEY, params)

            await self._backend.write(update)
            record = dataclasses.replace(
                record,
                hash_scheme=hasher.scheme,
                last_used_at=at if touch else record.last_used_at,
            )
        return record

    async def get_api_key(self, key_id: str) -> ApiKeyRecord:
        row = await self._backend.read(lambda tx: one(tx, sql.GET_API_KEY, {"id": key_id}))
        if row is None:
            raise ApiKeyNotFound(f"API key {key_id!r} does not exist")
        return rows.api_key(row)

    async def list_api_keys(
        self,
        *,
        tenant_id: str | None = None,
        user_id: str | None = None,
        include_revoked: bool = True,
    ) -> list[ApiKeyRecord]:
        params: dict[str, Any] = {}
        where = []
        if tenant_id is not None:
            where.append("tenant_id = :tenant_id")
            params["tenant_id"] = tenant_id
        if user_id is not None:
            where.append("(user_id = :user_id OR (user_id IS NULL AND id = :user_id))")
            params["user_id"] = user_id
        if not include_revoked:
            where.append("revoked_at IS NULL")
        stmt = f"SELECT {sql.API_KEY} FROM api_keys"
        if where:
            stmt += " WHERE " + " AND ".join(where)
        stmt += " ORDER BY created_at, id"
        found = await self._backend.read(lambda tx: tx.rows(stmt, params))
        return [rows.api_key(r) for r in found]

    async def api_key_schemes(self) -> set[str]:
        """The hash schemes of the active keys (a start-up check that the pepper in use
        is the one the keys were made with)."""
        stmt = "SELECT DISTINCT hash_scheme FROM api_keys WHERE revoked_at IS NULL"
        found = await self._backend.read(lambda tx: tx.rows(stmt))
        return {r["hash_scheme"] for r in found}

    async def revoke_api_key(self, key_id: str) -> ApiKeyRecord:
        """Revoke a key (idempotent: the first revocation time is kept)."""
        params: dict[str, Any] = {"id": key_id, "now": rows.now()}

        def body(tx: Tx) -> Row | None:
            tx.run(sql.REVOKE_API_KEY, params)
            return one(tx, sql.GET_API_KEY, {"id": key_id})

        row = await self._backend.write(body)
        if row is None:
            raise ApiKeyNotFound(f"API key {key_id!r} does not exist")
        return rows.api_key(row)
