"""``/v1/sessions``: create, read, list, page through messages, delete."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.core import InvalidRequest, SessionBusy
from roost.core.digits import parse_digits
from roost.core.jsontext import dumps
from roost.core.retry import retry_transient
from roost.server._http import JSON_TYPE, json_response, parse_body
from roost.server.auditing import record_action
from roost.server.auth import Principal
from roost.server.openapi import CURSOR, PAGE_LIMIT, SEQ, query
from roost.server.router import Doc, api_route
from roost.server.routes._common import (
    fitting,
    load_session,
    owned_sessions,
    page_body,
    session_out,
)
from roost.server.schemas import MessagePageOut, SessionCreate, SessionList, SessionOut

if TYPE_CHECKING:
    from roost.server.services import Services


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = parse_digits(raw, hi)
    if value is None or value < lo:
        raise InvalidRequest(
            f"query parameter {name!r} must be an integer from {lo} to {hi}",
            fields=[{"field": name, "message": f"integer {lo}..{hi}", "type": "int_range"}],
        )
    return value


def routes(services: Services) -> list[BaseRoute]:
    async def create_session(request: Request, principal: Principal) -> Response:
        body = await parse_body(request, SessionCreate)
        asked = await services.agents.route(body.agent, principal, request.headers)
        spec = services.agents.spec(asked)
        session = await retry_transient(
            lambda: services.store.create_session(
                app=services.config.name,
                agent=spec.name,
                user_id=principal.user_id,
                tenant_id=principal.tenant_id,
                metadata=body.metadata,
            )
        )
        services.sessions.remember(session, fresh=True)
        return json_response(session_out(session), status=201)

    async def list_sessions(request: Request, principal: Principal) -> Response:
        limit = _int_param(request, "limit", 50, 1, 500)
        start = request.query_params.get("cursor")
        items, cursor = await owned_sessions(services, principal, limit, start)
        encoded = [session_out(s).model_dump_json(exclude_none=True) for s in items]
        if (n := fitting(encoded)) < len(encoded):  # the next page starts after item n
            _, cursor = await owned_sessions(services, principal, n, start)
        return Response(page_body(encoded[:n], next_cursor=cursor), media_type=JSON_TYPE)

    async def get_session(request: Request, principal: Principal) -> Response:
        session = await load_session(services, principal, request.path_params["session_id"])
        session = await services.sessions.get(session.id, fresh=True)  # not the runs' cached copy
        return json_response(session_out(session))

    async def list_messages(request: Request, principal: Principal) -> Response:
        session = await load_session(services, principal, request.path_params["session_id"])
        limit = _int_param(request, "limit", 50, 1, 500)
        after = request.query_params.get("after")
        page = await services.store.list_messages(session.id, limit=limit, after=after)
        encoded = []
        for record in page.records:
            item = record.msg.model_dump(mode="json", exclude_none=True)
            item["run_id"] = record.run_id
            item["partial"] = record.partial
            encoded.append(dumps(item))
        cursor = page.next_cursor
        if (n := fitting(encoded)) < len(encoded):
            cursor = (
                await services.store.list_messages(session.id, limit=n, after=after)
            ).next_cursor
        more = {"next_after": cursor} if cursor is not None else {}
        body = page_body(encoded[:n], has_more=cursor is not None, **more)
        return Response(body, media_type=JSON_TYPE)

    async def delete_session(request: Request, principal: Principal) -> Response:
        session = await load_session(services, principal, request.path_params["session_id"])
        busy = SessionBusy(
            f"session {session.id} has a run in progress",
            hint="cancel the run first (POST /v1/runs/{id}/cancel)",
        )
        # the session's lock, so that no run starts between the check and the delete (a
        # run starting then lost its end to the missing session, 204 and 200 both sent)
        lock = await services.locks.try_acquire(session.id)
        if lock is None:
            raise busy
        try:
            if (
                session.id in services.executor.by_session
                or (
                    await services.store.list_runs(
                        session_id=session.id, status=["queued", "running", "waiting_approval"]
                    )
                ).items
            ):
                raise busy
            services.sessions.forget(session.id)
            await services.store.delete_session(session.id)
            # gone from the product, not from the audit trail (its runs' records stay)
            await record_action(
                services,
                "session.deleted",
                resource_type="session",
                resource_id=session.id,
                user_id=session.user_id,
                tenant_id=session.tenant_id,
                session_id=session.id,
            )
        finally:
            await lock.release()
        if (sandbox := sys.modules.get("roost.sandbox")) is not None:  # only if in use
            await sandbox.release_session(session.id)  # its sandboxes end with it
        return Response(status_code=204)

    limit = query("limit", "page size", PAGE_LIMIT)
    return [
        api_route(
            "/v1/sessions",
            create_session,
            ["POST"],
            Doc(
                "Create a session",
                body=SessionCreate,
                response=SessionOut,
                status=201,
                errors={"404": "agent_not_found"},
                permission="sessions.write",
                quota="session",
            ),
        ),
        api_route(
            "/v1/sessions",
            list_sessions,
            ["GET"],
            Doc(
                "List your sessions",
                response=SessionList,
                params=(limit, query("cursor", "next_cursor of the previous page", CURSOR)),
                permission="sessions.read",
            ),
        ),
        api_route(
            "/v1/sessions/{session_id}",
            get_session,
            ["GET"],
            Doc("Get a session", response=SessionOut, permission="sessions.read"),
        ),
        api_route(
            "/v1/sessions/{session_id}",
            delete_session,
            ["DELETE"],
            Doc(
                "Delete a session and its history",
                status=204,
                errors={"409": "session_busy (a run is active)"},
                permission="sessions.write",
            ),
        ),
        api_route(
            "/v1/sessions/{session_id}/messages",
            list_messages,
            ["GET"],
            Doc(
                "Page through messages",
                response=MessagePageOut,
                params=(limit, query("after", "next_after of the previous page", SEQ)),
                permission="content.read",
            ),
        ),
    ]
