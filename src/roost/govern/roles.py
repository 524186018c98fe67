"""Roles and their permission table: what each role may do, and over whose data.

A route names one *permission* (``Doc.permission``); a role grants a permission with a
*reach*: ``own`` (the caller's own (tenant, user) resources), ``tenant`` (everything of
the caller's tenant) or ``all`` (every tenant). The table is data so that the docs
(docs/security.md), the server's check and the access tests read the same thing
(decision 0180).
"""

from __future__ import annotations

from typing import Literal

Role = Literal[
    "admin", "tenant_admin", "developer", "operator", "viewer", "user", "metrics", "public"
]
Reach = Literal["own", "tenant", "all"]

ROLES: tuple[Role, ...] = (
    "admin",
    "tenant_admin",
    "developer",
    "operator",
    "viewer",
    "user",
    "metrics",
)
"""The roles an API key can have (``public`` is the caller of a public route)."""

ROLE_TITLES: dict[str, str] = {
    "admin": "platform admin: every tenant, every route",
    "tenant_admin": "tenant admin: everything of its tenant, its keys, users and quotas",
    "developer": "developer: its own sessions and runs, its tenant's knowledge bases",
    "operator": "operator: runs, traces and usage without content, metrics",
    "viewer": "viewer: reads its tenant's sessions, runs, traces and usage; changes nothing",
    "user": "user: its own sessions, runs, memories and usage",
    "metrics": "metrics: scrapes /metrics and nothing else",
}

TENANT_ROLES: frozenset[str] = frozenset({"tenant_admin", "developer", "viewer"})
"""Roles that make no sense without a tenant: a key of one needs a ``tenant_id``."""
PLATFORM_WIDE_WITHOUT_TENANT: frozenset[str] = frozenset({"operator"})
"""Roles whose ``tenant`` reach becomes ``all`` on a key without a tenant (a platform
operator); with a tenant they are scoped to it."""
CONTENT_BLIND: frozenset[str] = frozenset({"operator", "metrics", "public"})
"""Roles that never read conversation content (messages, run outputs, span payloads)."""

PERMISSIONS: dict[str, str] = {
    "authenticated": "any key (a route open to every role)",
    "api.docs": "read the OpenAPI document",
    "api.use": "a route that declares no permission of its own (custom routes of apps)",
    "admin": "platform administration (server files, every tenant)",
    "agents.read": "list the app's agents and models",
    "sessions.read": "list and read sessions (metadata)",
    "sessions.write": "create and delete sessions",
    "content.read": "read messages and run event streams (conversation content)",
    "runs.read": "read runs (status, usage; the output only with content.read)",
    "runs.write": "start, cancel and approve runs (chat completions too)",
    "traces.read": "read a run's span tree (payloads only with content.read)",
    "usage.read": "token and cost totals",
    "endpoints.call": "call the app's custom endpoints and background tasks",
    "memories": "read and delete one's own long-term memories",
    "knowledge.read": "list and search knowledge bases",
    "knowledge.manage": "create, fill and delete knowledge bases",
    "keys.manage": "create, list and revoke API keys; list users",
    "tenants.read": "read tenants",
    "tenants.manage": "create, disable and enable tenants; set a tenant's own quotas",
    "quotas.read": "read quotas and current usage against them",
    "quotas.manage": "set the quotas of a tenant's users (a tenant's own: tenants.manage)",
    "metrics.read": "scrape /metrics",
    "audit.read": "read the audit trail (for the audit routes of roost.govern.audit)",
    "evals.read": "read evaluation datasets, experiments, results and reports",
    "evals.run": "make datasets, run experiments, replay runs (roost.evals)",
}

_USE: dict[str, Reach] = {
    "authenticated": "own",
    "api.docs": "own",
    "api.use": "own",
    "agents.read": "own",
    "endpoints.call": "own",
    "memories": "own",
}

TABLE: dict[str, dict[str, Reach]] = {
    "admin": dict.fromkeys(PERMISSIONS, "all"),
    "tenant_admin": {
        **_USE,
        **dict.fromkeys(
            (
                "sessions.read",
                "sessions.write",
                "content.read",
                "runs.read",
                "runs.write",
                "traces.read",
                "usage.read",
                "knowledge.read",
                "knowledge.manage",
                "keys.manage",
                "tenants.read",
                "quotas.read",
                "quotas.manage",
                "audit.read",
                "evals.read",
                "evals.run",
            ),
            "tenant",
        ),
    },
    "developer": {
        **_USE,
        **dict.fromkeys(
            (
                "sessions.read",
                "sessions.write",
                "content.read",
                "runs.read",
                "runs.write",
                "traces.read",
                "usage.read",
                "quotas.read",
            ),
            "own",
        ),
        # evaluation cases hold conversations: its own, like the sessions it reads
        **dict.fromkeys(("evals.read", "evals.run"), "own"),
        **dict.fromkeys(("knowledge.read", "knowledge.manage", "tenants.read"), "tenant"),
    },
    "operator": {
        "authenticated": "own",
        "api.docs": "own",
        "metrics.read": "all",
        **dict.fromkeys(
            ("runs.read", "traces.read", "usage.read", "quotas.read", "tenants.read"), "tenant"
        ),
    },
    "viewer": {
        "authenticated": "own",
        "api.docs": "own",
        "agents.read": "own",
        **dict.fromkeys(
            (
                "sessions.read",
                "content.read",
                "runs.read",
                "traces.read",
                "usage.read",
                "knowledge.read",
                "quotas.read",
                "tenants.read",
                "evals.read",
            ),
            "tenant",
        ),
    },
    "user": {
        **_USE,
        **dict.fromkeys(
            (
                "sessions.read",
                "sessions.write",
                "content.read",
                "runs.read",
                "runs.write",
                "traces.read",
                "usage.read",
                "quotas.read",
                "evals.read",
                "evals.run",
            ),
            "own",
        ),
        "knowledge.read": "tenant",
    },
    "metrics": {"authenticated": "own", "metrics.read": "all"},
    "public": {},
}
"""``TABLE[role][permission]``: the reach the role has; a missing permission is a 403."""

ASSIGNABLE_BY_TENANT_ADMIN: frozenset[str] = frozenset(
    {"tenant_admin", "developer", "operator", "viewer", "user"}
)
"""Roles a tenant admin may give keys of its tenant (never ``admin`` or ``metrics``, whose
reach crosses tenants)."""


def reach(role: str, permission: str, tenant_id: str | None) -> Reach | None:
    """The reach ``role`` has for ``permission`` (``None``: not granted)."""
    found = TABLE.get(role, {}).get(permission)
    if found == "tenant" and tenant_id is None and role in PLATFORM_WIDE_WITHOUT_TENANT:
        return "all"
    return found


def markdown_table() -> str:
    """The permission table as Markdown (docs/security.md embeds it; a test compares)."""
    roles = list(ROLES)
    head = "| permission | " + " | ".join(roles) + " |"
    rule = "|---|" + "---|" * len(roles)
    lines = [head, rule]
    for permission in PERMISSIONS:
        cells = [TABLE[r].get(permission, "—") for r in roles]
        lines.append(f"| `{permission}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)
