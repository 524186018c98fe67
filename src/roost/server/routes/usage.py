"""``GET /v1/usage?group_by=session|user|tenant|model|agent&since=&until=&tenant=``:
token and cost totals per group, from the runs table (costs never add across currencies)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.core import InvalidRequest
from roost.server._http import json_response
from roost.server.auth import Principal
from roost.server.router import api_route

if TYPE_CHECKING:
    from roost.server.app import AgentApp

GROUPS = ("session", "user", "tenant", "model", "agent")


def _time_param(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        if raw.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(raw), UTC)
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise InvalidRequest(
            f"query parameter {name!r} must be an ISO 8601 time or Unix seconds",
            fields=[{"field": name, "message": "e.g. 2026-01-31T00:00:00Z", "type": "datetime"}],
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def routes(app: AgentApp) -> list[BaseRoute]:
    async def usage(request: Request, principal: Principal) -> Response:
        group_by = request.query_params.get("group_by", "session")
        if group_by not in GROUPS:
            raise InvalidRequest(
                f"group_by must be one of {', '.join(GROUPS)}",
                fields=[
                    {"field": "group_by", "message": f"one of {', '.join(GROUPS)}", "type": "enum"}
                ],
            )
        since, until = _time_param(request, "since"), _time_param(request, "until")
        if since and until and since >= until:
            raise InvalidRequest("'since' must be before 'until'")
        tenant = request.query_params.get("tenant") or None
        full_access = principal.is_admin and principal.user_id is None
        if not full_access:
            # a user key sees only its own usage, whatever it asks for
            group_by, tenant = "user", principal.tenant_id
        rows = await app.store.usage_summary(group_by, since=since, until=until, tenant_id=tenant)
        if not full_access:
            rows = [r for r in rows if r.get("user") == principal.user_id]
        return json_response(
            {
                "group_by": group_by,
                "since": since.isoformat() if since else None,
                "until": until.isoformat() if until else None,
                "tenant": tenant,
                "data": rows,
            }
        )

    return [api_route("/v1/usage", usage, ["GET"])]
