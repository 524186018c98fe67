"""Typed errors of tenants, roles and quotas (stable codes the server maps to HTTP)."""

from __future__ import annotations

from roost.core.errors import Forbidden, RateLimited


class QuotaExceeded(RateLimited):
    """A rate or spending quota is used up until it resets (runs per minute, tokens or
    cost per day or month); ``details`` say which, its limit, what was used and when it
    resets (``resets_at``, ``retry_after``)."""

    code = "quota_exceeded"


class QuotaLimitReached(Forbidden):
    """A quota on what one holds at once (open sessions, sandboxes) is reached; it frees
    up when something is deleted, not with time."""

    code = "quota_limit_reached"
