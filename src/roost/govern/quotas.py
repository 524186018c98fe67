"""Quotas per tenant and per user, checked before a run starts or a session is made.

A quota is a limit on a tenant (every user of it together) or on one user of it:

- ``runs_per_minute``: runs started in the last 60 s (in this process; decision 0182);
- ``tokens_per_day`` / ``tokens_per_month``, ``cost_per_day`` / ``cost_per_month``:
  totals of the runs created since the start of the UTC day or month (the runs table);
- ``open_sessions``: sessions stored; ``sandboxes``: sandboxes held at once.

Going over a rate or spending quota is a 429 ``quota_exceeded`` saying which quota, its
limit, what was used, and when it resets; reaching a holding quota is a 403
``quota_limit_reached``. Limits and totals are cached briefly, so a run start costs no
database round trip most of the time.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from roost.govern.errors import QuotaExceeded, QuotaLimitReached
from roost.govern.principal import Principal

QUOTAS: dict[str, str] = {
    "runs_per_minute": "runs started in the last 60 seconds",
    "tokens_per_day": "input + output tokens of the runs created today (UTC)",
    "tokens_per_month": "input + output tokens of the runs created this month (UTC)",
    "cost_per_day": "cost of the runs created today (UTC), in the price table's currency",
    "cost_per_month": "cost of the runs created this month (UTC)",
    "open_sessions": "sessions stored at once",
    "sandboxes": "sandboxes held at once",
}
"""Every quota a tenant or user can have; a quota not set is unlimited."""

Action = Literal["run", "session"]
_SPENDING = ("tokens_per_day", "tokens_per_month", "cost_per_day", "cost_per_month")
LIMITS_TTL = 5.0
"""Seconds the limits of a tenant are cached (changes made through this process apply
at once; another replica's within this time)."""
USAGE_TTL = 2.0
"""Seconds a usage total is reused before it is read again."""


def period_start(period: str, at: datetime) -> datetime:
    if period == "day":
        return at.replace(hour=0, minute=0, second=0, microsecond=0)
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def period_end(period: str, at: datetime) -> datetime:
    start = period_start(period, at)
    if period == "day":
        return datetime.fromtimestamp(start.timestamp() + 86400, UTC)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


class QuotaGate:
    """Admits a principal's run or new session against its tenant's and its own quotas.

    ``store`` is a :class:`roost.store.Store` (``list_quotas``, ``usage_since``,
    ``count_sessions``); ``clock`` returns Unix seconds (tests move it).
    """

    def __init__(self, store: Any, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._limits: dict[str, tuple[float, dict[str, dict[str, float]]]] = {}
        self._usage: dict[tuple[str, str | None, str], tuple[float, tuple[int, float]]] = {}
        self._starts: dict[tuple[str, str | None], deque[float]] = {}

    # -- limits ------------------------------------------------------------------------
    async def limits(self, tenant_id: str) -> dict[str, dict[str, float]]:
        """``{user_id or "": limits}`` of a tenant (``""``: the tenant's own)."""
        now = self.clock()
        hit = self._limits.get(tenant_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = {q.user_id: dict(q.limits) for q in await self.store.list_quotas(tenant_id)}
        self._limits[tenant_id] = (now + LIMITS_TTL, found)
        return found

    def forget(self, tenant_id: str | None = None) -> None:
        """Drop cached limits (after they were changed through this process)."""
        if tenant_id is None:
            self._limits.clear()
        else:
            self._limits.pop(tenant_id, None)

    # -- admission ---------------------------------------------------------------------
    async def admit(self, principal: Principal, action: Action) -> None:
        """Raise :class:`QuotaExceeded` / :class:`QuotaLimitReached` if ``action`` would go
        over a quota of the principal's tenant or its own; a run admitted is counted."""
        tenant = principal.tenant_id
        if tenant is None:  # quotas are set on tenants and their users
            return
        limits = await self.limits(tenant)
        scopes: list[tuple[str | None, dict[str, float]]] = [(None, limits.get("", {}))]
        if principal.user_id is not None:
            scopes.append((principal.user_id, limits.get(principal.user_id, {})))
        scopes = [(user, found) for user, found in scopes if found]
        if not scopes:
            return
        if action == "session":
            for user, found in scopes:
                if "open_sessions" in found:
                    used = await self.store.count_sessions(tenant_id=tenant, user_id=user)
                    _holding("open_sessions", found["open_sessions"], used, tenant, user)
            return
        now = self.clock()
        for user, found in scopes:
            if "runs_per_minute" in found:
                self._rate(tenant, user, found["runs_per_minute"], now)
            for quota in _SPENDING:
                if quota in found:
                    await self._spending(quota, found[quota], tenant, user, now)
        for user, _ in scopes:
            self._starts.setdefault((tenant, user), deque()).append(now)

    def check_holding(
        self, quota: str, principal: Principal, used: int, limits: dict[str, dict[str, float]]
    ) -> None:
        """For holders outside the store (sandboxes): refuse one more past the limit."""
        tenant = principal.tenant_id
        if tenant is None:
            return
        for user in (None, principal.user_id):
            found = limits.get(user or "", {})
            if quota in found:
                _holding(quota, found[quota], used, tenant, user)

    def _rate(self, tenant: str, user: str | None, limit: float, now: float) -> None:
        starts = self._starts.setdefault((tenant, user), deque())
        while starts and starts[0] <= now - 60:
            starts.popleft()
        if len(starts) >= limit:
            resets = (starts[0] + 60) if starts else now + 60
            raise _exceeded("runs_per_minute", limit, len(starts), tenant, user, resets, now)

    async def _spending(
        self, quota: str, limit: float, tenant: str, user: str | None, now: float
    ) -> None:
        period = quota.rsplit("_", 1)[1]
        at = datetime.fromtimestamp(now, UTC)
        tokens, cost = await self._used(tenant, user, period, at, now)
        used: float = tokens if quota.startswith("tokens") else cost
        if used >= limit:
            resets = period_end(period, at).timestamp()
            raise _exceeded(quota, limit, used, tenant, user, resets, now)

    async def _used(
        self, tenant: str, user: str | None, period: str, at: datetime, now: float
    ) -> tuple[int, float]:
        key = (tenant, user, f"{period}:{at.year}-{at.month}-{at.day if period == 'day' else 0}")
        hit = self._usage.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        found: tuple[int, float] = await self.store.usage_since(
            period_start(period, at), tenant_id=tenant, user_id=user
        )
        if len(self._usage) > 10_000:
            self._usage.clear()
        self._usage[key] = (now + USAGE_TTL, found)
        return found

    # -- reporting ---------------------------------------------------------------------
    async def report(self, tenant_id: str, user_id: str | None = None) -> list[dict[str, Any]]:
        """Every quota set on the tenant (``user_id`` None) or on one user of it, with
        what is used now and when it resets: what ``GET …/quotas`` shows."""
        limits = (await self.limits(tenant_id)).get(user_id or "", {})
        now = self.clock()
        at = datetime.fromtimestamp(now, UTC)
        out: list[dict[str, Any]] = []
        for quota in QUOTAS:
            if quota not in limits:
                continue
            used: float
            resets: float | None = None
            if quota == "runs_per_minute":
                starts = self._starts.get((tenant_id, user_id), deque())
                recent = [t for t in starts if t > now - 60]
                used = len(recent)
                resets = (recent[0] + 60) if recent else None
            elif quota in _SPENDING:
                period = quota.rsplit("_", 1)[1]
                tokens, cost = await self._used(tenant_id, user_id, period, at, now)
                used = tokens if quota.startswith("tokens") else cost
                resets = period_end(period, at).timestamp()
            elif quota == "open_sessions":
                used = await self.store.count_sessions(tenant_id=tenant_id, user_id=user_id)
            else:
                used = 0  # sandboxes are counted by their holder
            out.append(
                {
                    "quota": quota,
                    "limit": limits[quota],
                    "used": used,
                    "resets_at": _iso(resets),
                }
            )
        return out


def _iso(at: float | None) -> str | None:
    return datetime.fromtimestamp(at, UTC).isoformat() if at is not None else None


def _scope(tenant: str, user: str | None) -> str:
    return f"user {user!r} of tenant {tenant!r}" if user else f"tenant {tenant!r}"


def _exceeded(
    quota: str,
    limit: float,
    used: float,
    tenant: str,
    user: str | None,
    resets: float,
    now: float,
) -> QuotaExceeded:
    wait = max(1, math.ceil(resets - now))
    return QuotaExceeded(
        f"quota {quota} of {_scope(tenant, user)} exceeded ({used:g} of {limit:g})",
        hint=f"it resets at {_iso(resets)}; retry after {wait} s or ask for a higher quota",
        quota=quota,
        scope="user" if user else "tenant",
        tenant_id=tenant,
        user_id=user,
        limit=limit,
        used=used,
        resets_at=_iso(resets),
        retry_after=wait,
    )


def _holding(quota: str, limit: float, used: int, tenant: str, user: str | None) -> None:
    if used >= limit:
        raise QuotaLimitReached(
            f"quota {quota} of {_scope(tenant, user)} reached ({used} of {limit:g})",
            hint="delete some (DELETE /v1/sessions/{id}) or ask for a higher quota",
            quota=quota,
            scope="user" if user else "tenant",
            tenant_id=tenant,
            user_id=user,
            limit=limit,
            used=used,
            resets_at=None,
        )
