"""``GET /v1/runs``: the caller's runs, newest first, by cursor, filtered by session and
status in the store (the console's runs page; a user key sees its own only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.core import InvalidRequest
from roost.server._http import json_response
from roost.server.auth import Principal
from roost.server.openapi import CURSOR, NON_BLANK, PAGE_LIMIT, query
from roost.server.router import Doc, api_route
from roost.server.routes._common import run_out
from roost.server.routes.sessions import _int_param
from roost.server.schemas import RunList
from roost.store import RUN_STATUSES

if TYPE_CHECKING:
    from roost.server.services import Services
    from roost.store import RunRecord, RunStatus

_REFILLS = 8


async def owned_runs(
    services: Services,
    principal: Principal,
    limit: int,
    cursor: str | None,
    session_id: str | None,
    status: RunStatus | None,
) -> tuple[list[RunRecord], str | None]:
    """A page of the runs ``principal`` may see and the cursor after it (each item is
    checked with :meth:`Principal.can_access`; a page short of items is refilled)."""
    user_id, tenant_id = principal.listing_filter()
    items: list[RunRecord] = []
    for _ in range(_REFILLS):
        page = await services.store.list_runs(
            session_id=session_id,
            status=status,
            user_id=user_id,
            tenant_id=tenant_id,
            limit=limit - len(items),
            cursor=cursor,
        )
        items += [r for r in page.items if principal.can_access(r.user_id, r.tenant_id)]
        cursor = page.next_cursor
        if cursor is None or len(items) >= limit:
            break
    return items, cursor


def routes(services: Services) -> list[BaseRoute]:
    async def list_runs(request: Request, principal: Principal) -> Response:
        limit = _int_param(request, "limit", 50, 1, 500)
        status = request.query_params.get("status")
        if status is not None and status not in RUN_STATUSES:
            raise InvalidRequest(
                f"status must be one of {', '.join(RUN_STATUSES)}",
                fields=[{"field": "status", "message": "unknown status", "type": "enum"}],
            )
        session_id = request.query_params.get("session_id")
        if session_id is not None and not session_id.strip():
            raise InvalidRequest(
                "session_id must name a session",
                fields=[{"field": "session_id", "message": "must not be blank", "type": "blank"}],
            )
        items, cursor = await owned_runs(
            services,
            principal,
            limit,
            request.query_params.get("cursor"),
            session_id,
            status,
        )
        data = [run_out(r).model_dump(mode="json", exclude_none=True) for r in items]
        return json_response({"data": data, "next_cursor": cursor})

    params = (
        query("limit", "page size", PAGE_LIMIT),
        query("cursor", "next_cursor of the previous page", CURSOR),
        query("session_id", "runs of this session only", NON_BLANK),
        query("status", "runs in this status only", {"enum": list(RUN_STATUSES)}),
    )
    doc = Doc("List your runs, newest first", response=RunList, params=params)
    return [api_route("/v1/runs", list_runs, ["GET"], doc)]
