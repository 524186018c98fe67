"""API-key authentication: bearer keys verified against the store (keyed hash), cached
briefly.

The admin key is either ``ROOST_ADMIN_KEY`` or generated at first start and printed
once; only its hash is stored. ``X-Roost-User`` / ``X-Roost-Tenant`` are honoured for
admin keys only, so a gateway holding the admin key can act on behalf of its users.

A key has one of the roles of :mod:`roost.govern.roles`; the :class:`Principal` it
becomes is checked against the permission table by the router (``api_route``) on every
route, and what it may see is decided in one place, :meth:`Principal.can_access`
(decisions 0130 and 0180).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections import OrderedDict
from typing import Any

from roost.core import InvalidRequest, RateLimited, Unauthorized
from roost.govern.principal import ANONYMOUS, PUBLIC, Principal
from roost.govern.roles import TENANT_ROLES, Role
from roost.server.ratelimit import FailureLimiter

__all__ = ["ANONYMOUS", "PUBLIC", "Authenticator", "Principal", "Role", "key_principal"]

log = logging.getLogger("roost.server.auth")

_CACHE_TTL = 30.0
_CACHE_MAX = 10_000


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


CONSOLE_COOKIE = "roost_console"
"""The web console's sign-in cookie: the key itself, HttpOnly and SameSite=Strict."""


def console_token(headers: dict[str, str]) -> str | None:
    """The key in the console's cookie, honoured only with ``X-Roost-Console: 1``: a page
    of another site can neither send a SameSite=Strict cookie nor set that header without
    a CORS preflight the server refuses, so a cookie alone never authenticates (CSRF)."""
    if headers.get("x-roost-console") != "1":
        return None
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == CONSOLE_COOKIE and value:
            return value
    return None


def key_principal(record: Any) -> Principal:
    """The principal of a stored key: a key without a user id is its own user."""
    if record.role == "admin":
        return Principal(str(record.id), "admin", record.user_id, record.tenant_id)
    role = record.role
    if role in TENANT_ROLES and not record.tenant_id:  # made outside the API: least rights
        role = "user"
    return Principal(str(record.id), role, record.user_id or str(record.id), record.tenant_id)


class _LRU:
    """A bounded least-recently-used map of key hashes to verdicts with an expiry."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, tuple[Principal | None, float]] = OrderedDict()

    def get(self, digest: str, now: float) -> tuple[Principal | None] | None:
        hit = self._items.get(digest)
        if hit is None or hit[1] <= now:
            return None
        self._items.move_to_end(digest)
        return (hit[0],)

    def put(self, digest: str, principal: Principal | None, expires: float) -> None:
        self._items[digest] = (principal, expires)
        self._items.move_to_end(digest)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


class Authenticator:
    """Turns request headers into a :class:`Principal` or raises ``Unauthorized``.

    Verdicts are cached in two bounded LRUs, valid keys apart from invalid ones, so a
    flood of random keys never evicts the keys in use.
    """

    def __init__(
        self,
        store: Any,
        admin_key: str | None = None,
        failures: FailureLimiter | None = None,
        cache_size: int = _CACHE_MAX,
    ) -> None:
        self.store = store
        self.failures = failures
        self._admin_hash = _hash(admin_key) if admin_key else None
        self._valid = _LRU(cache_size)
        self._invalid = _LRU(cache_size)

    async def authenticate(self, headers: dict[str, str], address: str = "") -> Principal:
        """The caller's principal; ``address`` (the client's) is what failed attempts
        are counted by (see :class:`FailureLimiter`)."""
        token = bearer_token(headers) or console_token(headers)
        if not token:
            raise Unauthorized(
                "missing API key", hint="send 'Authorization: Bearer <key>' (see `roost serve`)"
            )
        principal = await self._principal_for(token, address)
        if principal is None:
            if self.failures is not None:
                self.failures.failed(address)
            raise Unauthorized(
                "invalid API key", hint="check the key; admins create keys at /v1/keys"
            )
        if principal.is_admin:
            user = headers.get("x-roost-user")
            tenant = headers.get("x-roost-tenant")
            if tenant and not user:
                raise InvalidRequest(
                    "X-Roost-Tenant needs X-Roost-User",
                    hint="name the user the admin key acts for, or send neither header",
                    fields=[{"field": "X-Roost-User", "message": "required", "type": "missing"}],
                )
            if user:
                return Principal(principal.key_id, "user", user_id=user, tenant_id=tenant or None)
        return principal

    async def _principal_for(self, token: str, address: str) -> Principal | None:
        digest = _hash(token)
        if self._admin_hash is not None and hmac.compare_digest(digest, self._admin_hash):
            return Principal(key_id="admin-env", role="admin")
        now = time.monotonic()
        hit = self._valid.get(digest, now)
        if hit is not None:
            return hit[0]
        wait = self.failures.wait(address) if self.failures is not None else 0
        if wait:
            raise RateLimited(
                "too many failed authentications from this address",
                hint=f"check the key; retry after {int(wait)} s",
                retry_after=int(wait),
            )
        hit = self._invalid.get(digest, now)
        if hit is not None:
            return hit[0]
        record = await self.store.verify_api_key(token)
        principal = key_principal(record) if record is not None else None
        cache = self._valid if principal is not None else self._invalid
        until = now + _CACHE_TTL
        if record is not None and record.expires_at is not None:  # not cached past expiry
            left = record.expires_at.timestamp() - time.time()
            until = min(until, now + max(left, 0.0))
        cache.put(digest, principal, until)
        return principal

    async def check_pepper(self) -> None:
        """Warn when the active keys were all hashed with another pepper than this
        process's: every one of them would be refused (decision 0181)."""
        from roost.store.api_keys import LEGACY_SCHEME, key_hasher

        schemes = await self.store.api_key_schemes()
        keyed = {s for s in schemes if s != LEGACY_SCHEME}
        if keyed and key_hasher().scheme not in keyed:
            log.error(
                "the active API keys were hashed with another pepper (%s, this server: %s):"
                " set ROOST_API_KEY_PEPPER to the same value on every replica",
                ", ".join(sorted(keyed)),
                key_hasher().scheme,
            )

    def forget(self) -> None:
        """Drop cached verdicts (after a key is created or revoked in this process)."""
        self._valid.clear()
        self._invalid.clear()
