"""``GET /v1/usage?group_by=session|user|tenant|model|agent&since=&until=&tenant=``:
token and cost totals per group, from the runs table (costs never add across currencies)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.core import InvalidRequest
from roost.server._http import json_response
from roost.server.auth import Principal
from roost.server.openapi import query
from roost.server.router import Doc, api_route

if TYPE_CHECKING:
    from roost.server.services import Services
    from roost.store import UsageGroup

GROUPS = ("session", "user", "tenant", "model", "agent")


_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})?"
)
_NUMBER = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
MAX_UNIX = 253402300799
"""The last second of year 9999, the largest time Python's datetime holds."""


def _time_param(request: Request, name: str) -> datetime | None:
    """An RFC 3339 time (the offset may be left out: UTC) or Unix seconds (a JSON number
    from 0 to :data:`MAX_UNIX`)."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        if _NUMBER.fullmatch(raw):
            seconds = float(raw)
            if seconds > MAX_UNIX:
                raise ValueError(raw)
            return datetime.fromtimestamp(seconds, UTC)
        if not _RFC3339.fullmatch(raw):
            raise ValueError(raw)
        value = datetime.fromisoformat(raw.upper().replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise InvalidRequest(
            f"query parameter {name!r} must be an RFC 3339 time or Unix seconds",
            fields=[{"field": name, "message": "e.g. 2026-01-31T00:00:00Z", "type": "datetime"}],
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _own_usage(
    services: Services, principal: Principal, since: datetime | None, until: datetime | None
) -> list[dict[str, Any]]:
    """The caller's rows of ``usage_summary("user")``, one per currency. Exact without a
    tenant too: the store reads tenant ``None`` as every tenant, so the same user id's
    totals in the other tenants are taken off."""

    async def mine(group: UsageGroup, tenant: str | None) -> dict[str, dict[str, Any]]:
        rows = await services.store.usage_summary(group, since=since, until=until, tenant_id=tenant)
        return {r["currency"]: r for r in rows if r.get("user") == principal.user_id}

    own = await mine("user", principal.tenant_id)
    if principal.tenant_id is None and own:
        tenants = await services.store.usage_summary("tenant", since=since, until=until)
        for other in sorted({r["tenant"] for r in tenants if r["tenant"] is not None}):
            for currency, theirs in (await mine("user", other)).items():
                row = own[currency]
                for key in ("runs", "input_tokens", "output_tokens", "total_tokens"):
                    row[key] -= theirs[key]
                if row["cost"] is not None and theirs["cost"] is not None:
                    row["cost"] = round(row["cost"] - theirs["cost"], 12)
    rows = [r for r in own.values() if r["runs"] > 0]
    return sorted(rows, key=lambda r: -r["total_tokens"])


def routes(services: Services) -> list[BaseRoute]:
    async def usage(request: Request, principal: Principal) -> Response:
        group_by = cast("UsageGroup", request.query_params.get("group_by", "session"))
        if group_by not in GROUPS:
            raise InvalidRequest(
                f"group_by must be one of {', '.join(GROUPS)}",
                fields=[
                    {"field": "group_by", "message": f"one of {', '.join(GROUPS)}", "type": "enum"}
                ],
            )
        since, until = _time_param(request, "since"), _time_param(request, "until")
        tenant = request.query_params.get("tenant") or None
        reach = principal.reach()
        if reach == "all":
            rows = await services.store.usage_summary(
                group_by, since=since, until=until, tenant_id=tenant
            )
        elif reach == "tenant" and principal.tenant_id is not None:  # its tenant's, whole
            tenant = principal.tenant_id
            rows = await services.store.usage_summary(
                group_by, since=since, until=until, tenant_id=tenant
            )
        else:  # a user key sees only its own usage, whatever it asks for
            group_by, tenant = "user", principal.tenant_id
            rows = await _own_usage(services, principal, since, until)
        return json_response(
            {
                "group_by": group_by,
                "since": since.isoformat() if since else None,
                "until": until.isoformat() if until else None,
                "tenant": tenant,
                "data": rows,
            }
        )

    when = {
        "anyOf": [
            {"type": "string", "format": "date-time"},
            {"type": "number", "minimum": 0, "maximum": MAX_UNIX},
        ],
        "description": "an RFC 3339 time or Unix seconds",
    }
    params = (
        query(
            "group_by",
            "what to total by (user keys: always their own user)",
            {"enum": list(GROUPS)},
        ),
        query("since", "runs created from this time", when),
        query("until", "runs created before this time", when),
        query("tenant", "one tenant (admin keys only)", {"type": "string"}),
    )
    doc = Doc(
        "Token usage and cost, grouped (your own, your tenant's, or every tenant's by role)",
        response={"type": "object"},
        params=params,
        permission="usage.read",
    )
    return [api_route("/v1/usage", usage, ["GET"], doc)]
