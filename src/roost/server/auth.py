"""API-key authentication: bearer keys verified against the store (hashed), cached briefly.

The admin key is either ``ROOST_ADMIN_KEY`` or generated at first start and printed
once; only its hash is stored. ``X-Roost-User`` / ``X-Roost-Tenant`` are honoured for
admin keys only, so a gateway holding the admin key can act on behalf of its users.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

from roost.core import Forbidden, Unauthorized

_CACHE_TTL = 30.0
_CACHE_MAX = 10_000


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key, its role, and the tenant/user the call acts for."""

    key_id: str
    role: str
    user_id: str | None = None
    tenant_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("this route needs an admin key", hint="use the admin key")

    def can_access(self, user_id: str | None, tenant_id: str | None) -> bool:
        """Admins see everything; a user key only its own (tenant, user) resources; an
        unauthenticated caller nothing."""
        if self.is_admin and self.user_id is None:
            return True
        if self.role == "public":
            return False
        return user_id == self.user_id and tenant_id == self.tenant_id


ANONYMOUS = Principal(key_id="anonymous", role="admin")
"""The principal of every request when the app runs with ``auth=False`` (tests, local dev)."""

PUBLIC = Principal(key_id="public", role="public")
"""Who calls a public route (``/healthz``, ``@app.endpoint(..., public=True)``) with auth
on: nobody known, so no admin rights and no one's resources."""


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def bearer_token(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    key = headers.get("x-api-key")
    return key.strip() if key else None


class Authenticator:
    """Turns request headers into a :class:`Principal` or raises ``Unauthorized``."""

    def __init__(self, store: Any, admin_key: str | None = None) -> None:
        self.store = store
        self._admin_hash = _hash(admin_key) if admin_key else None
        self._cache: dict[str, tuple[Principal | None, float]] = {}

    async def authenticate(self, headers: dict[str, str]) -> Principal:
        token = bearer_token(headers)
        if not token:
            raise Unauthorized(
                "missing API key", hint="send 'Authorization: Bearer <key>' (see `roost serve`)"
            )
        principal = await self._principal_for(token)
        if principal is None:
            raise Unauthorized(
                "invalid API key", hint="check the key; admins create keys at /v1/keys"
            )
        if principal.is_admin:
            user = headers.get("x-roost-user")
            tenant = headers.get("x-roost-tenant")
            if user or tenant:
                return Principal(principal.key_id, "user", user_id=user, tenant_id=tenant)
        return principal

    async def _principal_for(self, token: str) -> Principal | None:
        digest = _hash(token)
        if self._admin_hash is not None and hmac.compare_digest(digest, self._admin_hash):
            return Principal(key_id="admin-env", role="admin")
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        record = await self.store.verify_api_key(token)
        principal = None
        if record is not None:
            principal = Principal(
                key_id=str(record.id),
                role=str(getattr(record, "role", "user") or "user"),
                user_id=getattr(record, "user_id", None),
                tenant_id=getattr(record, "tenant_id", None),
            )
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = (principal, now + _CACHE_TTL)
        return principal

    def forget(self) -> None:
        """Drop cached verdicts (after a key is created or revoked in this process)."""
        self._cache.clear()
