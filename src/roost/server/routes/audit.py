"""``/v1/audit``: the audit trail for those who may read it (admins today; see
:func:`roost.server.auditing.require_auditor`), and ``/v1/messages/{id}/lineage``: where
an answer came from, for whoever may see the message's run."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute

from roost.core import InvalidRequest, jsontext
from roost.govern.audit.entry import CSV_COLUMNS
from roost.server._http import json_response, parse_body
from roost.server.auditing import audit_scope, record_action, require_auditor
from roost.server.auth import Principal
from roost.server.openapi import query
from roost.server.router import Doc, api_route
from roost.server.routes.usage import MAX_UNIX, _time_param
from roost.server.schemas import _Body

if TYPE_CHECKING:
    from roost.govern.audit import AuditLog
    from roost.govern.audit.query import AuditQuery
    from roost.server.services import Services

_FILTERS = {
    "user_id": "records of this user",
    "tenant_id": "records of this tenant",
    "key_id": "records made with this API key",
    "action": "this action, or a prefix such as `run.*`",
    "resource_type": "this kind of resource (run, model, tool, key, session …)",
    "resource_id": "this resource",
    "outcome": "ok, denied, failed or error",
    "run_id": "records of this run",
    "session_id": "records of this session",
}


class HoldCreate(_Body):
    """``POST /v1/audit/holds``: stop pruning a tenant's or a user's records (name at
    least one)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": ["tenant_id"], "properties": {"tenant_id": {"type": "string"}}},
                {"required": ["user_id"], "properties": {"user_id": {"type": "string"}}},
            ]
        },
    )
    tenant_id: str | None = Field(None, min_length=1, max_length=128)
    user_id: str | None = Field(None, min_length=1, max_length=128)
    reason: str = Field(min_length=1, max_length=2000)


class ArchiveRun(_Body):
    """``POST /v1/audit/archive``: one archiving pass now."""

    days: float | None = Field(
        None, ge=0, le=36500, description="Retention in days; default the setting."
    )
    force: bool = Field(False, description="Accept a retention under 180 days.")


def _log(services: Services) -> AuditLog:
    if services.audit is None:
        from roost.core import ConfigError

        raise ConfigError("auditing is off on this server", hint="unset ROOST_AUDIT=0")
    return services.audit


def _query(request: Request, principal: Principal) -> AuditQuery:
    from roost.govern.audit.query import AuditQuery, scoped

    params = request.query_params
    values: dict[str, Any] = {}
    for name in _FILTERS:
        raw = params.get(name)
        if raw is not None:
            if not raw or len(raw) > 256:
                raise InvalidRequest(f"{name} must be 1-256 characters", fields=[{"field": name}])
            values[name] = raw
    since, until = _time_param(request, "since"), _time_param(request, "until")
    if since is not None:
        values["since_us"] = int(since.timestamp() * 1_000_000)
    if until is not None:
        values["until_us"] = int(until.timestamp() * 1_000_000)
    return scoped(AuditQuery(**values), audit_scope(principal))


def _csv_line(row: dict[str, Any]) -> str:
    out = io.StringIO()
    row = {**row, "detail": jsontext.encode(row["detail"])}
    csv.writer(out).writerow([row.get(c) for c in CSV_COLUMNS])
    return out.getvalue()


def routes(services: Services) -> list[BaseRoute]:
    async def list_audit(request: Request, principal: Principal) -> Response:
        require_auditor(principal)
        from roost.govern.audit.archive import target_for
        from roost.govern.audit.query import export, search

        _log(services)
        q = _query(request, principal)
        fmt = request.query_params.get("format", "json")
        if fmt in ("jsonl", "csv"):  # the export: archives and live records, oldest first
            await record_action(
                services,
                "audit.exported",
                resource_type="audit",
                detail={"format": fmt, "filters": _filters(q)},
            )
            target = target_for(None, services.settings)

            async def lines() -> AsyncIterator[bytes]:
                if fmt == "csv":
                    yield ",".join(CSV_COLUMNS).encode() + b"\r\n"
                async for rec in export(services.store, q, target=target):
                    row = rec.to_json()
                    text = _csv_line(row) if fmt == "csv" else jsontext.encode(row) + "\n"
                    yield text.encode()

            media = "text/csv" if fmt == "csv" else "application/x-ndjson"
            return StreamingResponse(lines(), media_type=media)
        if fmt != "json":
            raise InvalidRequest("format is json, jsonl or csv", fields=[{"field": "format"}])
        limit = _int(request, "limit", 100, 1, 1000) or 100
        before = _int(request, "before", None, 1, 2**63 - 1)
        records, cursor = await search(services.store, q, before=before, limit=limit)
        return json_response({"data": [r.to_json() for r in records], "next_before": cursor})

    async def verify_audit(request: Request, principal: Principal) -> Response:
        require_auditor(principal)
        from roost.govern.audit import load_verifier, target_for, verify

        log = _log(services)
        verifier = log.policy.signer.verifier if log.policy.signer else None
        if services.settings.audit_verify_key:
            verifier = load_verifier(services.settings)
        report = await verify(
            services.store, target=target_for(None, services.settings), verifier=verifier
        )
        await record_action(
            services,
            "audit.verified",
            resource_type="audit",
            outcome="ok" if report.ok else "failed",
            detail={"records": report.records, "ok": report.ok},
        )
        return json_response(report.to_json())

    async def list_holds(request: Request, principal: Principal) -> Response:
        require_auditor(principal)
        holds = await _retention(services).holds()
        tenant = audit_scope(principal)
        return json_response(
            {"data": [h.__dict__ for h in holds if tenant is None or h.tenant_id == tenant]}
        )

    async def place_hold(request: Request, principal: Principal) -> Response:
        principal.require_admin()
        body = await parse_body(request, HoldCreate)
        if body.tenant_id is None and body.user_id is None:
            raise InvalidRequest(
                "a hold names a tenant, a user, or both",
                fields=[{"field": "user_id"}, {"field": "tenant_id"}],
            )
        tenant = audit_scope(principal)
        if tenant is not None and body.tenant_id not in (None, tenant):
            raise InvalidRequest("you may only hold your tenant's records")
        hold = await _retention(services).place_hold(
            tenant_id=body.tenant_id or tenant,
            user_id=body.user_id,
            reason=body.reason,
            by=principal.key_id,
        )
        return json_response(hold.__dict__, status=201)

    async def release_hold(request: Request, principal: Principal) -> Response:
        principal.require_admin()
        hold = await _retention(services).release_hold(
            request.path_params["hold_id"], by=principal.key_id
        )
        return json_response(hold.__dict__)

    async def archive_now(request: Request, principal: Principal) -> Response:
        principal.require_admin()
        body = await parse_body(request, ArchiveRun)
        done = await _retention(services).archive(days=body.days, force=body.force or None)
        return json_response(done.__dict__)

    async def message_lineage(request: Request, principal: Principal) -> Response:
        from roost.govern.audit import LineageNotFound
        from roost.govern.audit.lineage import lineage

        _log(services)
        message_id = request.path_params["message_id"]
        found = await lineage(services.store, message_id)
        run = found["run"]
        if not principal.can_access(run.get("user_id"), run.get("tenant_id")):
            raise LineageNotFound(f"no audit record names message {message_id!r}")
        return json_response(found)

    when = {
        "anyOf": [
            {"type": "string", "format": "date-time"},
            {"type": "number", "minimum": 0, "maximum": MAX_UNIX},
        ]
    }
    text = {"type": "string", "minLength": 1, "maxLength": 256}
    params = tuple(query(n, d, text) for n, d in _FILTERS.items())
    params += (
        query("since", "records from this time (RFC 3339 or Unix seconds)", when),
        query("until", "records before this time", when),
        query("limit", "page size (json)", {"type": "integer", "minimum": 1, "maximum": 1000}),
        query(
            "before",
            "the cursor: next_before of the previous page",
            {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
        ),
        query(
            "format",
            "json (a page, newest first), or jsonl/csv (everything, oldest first, archives included)",
            {"enum": ["json", "jsonl", "csv"]},
        ),
    )
    listed = {"type": "object", "properties": {"data": {"type": "array"}}}
    export_types = {
        "application/json": {"schema": listed},
        "application/x-ndjson": {"schema": {"type": "string"}},
        "text/csv": {"schema": {"type": "string"}},
    }
    hold_out = {"type": "object", "properties": {"id": {"type": "string"}}}
    return [
        api_route(
            "/v1/audit",
            list_audit,
            ["GET"],
            Doc(
                "Audit records (admin): a filtered page, or the export",
                response=export_types,
                params=params,
                admin=True,
            ),
        ),
        api_route(
            "/v1/audit/verify",
            verify_audit,
            ["GET"],
            Doc(
                "Verify the audit chain, archives included (admin)",
                response={"type": "object"},
                admin=True,
            ),
        ),
        api_route(
            "/v1/audit/holds",
            list_holds,
            ["GET"],
            Doc("Legal holds (admin)", response=listed, admin=True),
        ),
        api_route(
            "/v1/audit/holds",
            place_hold,
            ["POST"],
            Doc(
                "Place a legal hold: the records of a tenant or user are not pruned (admin)",
                body=HoldCreate,
                response=hold_out,
                status=201,
                admin=True,
            ),
        ),
        api_route(
            "/v1/audit/holds/{hold_id}",
            release_hold,
            ["DELETE"],
            Doc("Release a legal hold (admin)", response=hold_out, admin=True),
        ),
        api_route(
            "/v1/audit/archive",
            archive_now,
            ["POST"],
            Doc(
                "Archive and prune audit records past their retention now (admin)",
                body=ArchiveRun,
                response={"type": "object"},
                admin=True,
                errors={"409": "under 180 days without force (audit_retention_too_short)"},
            ),
        ),
        api_route(
            "/v1/messages/{message_id}/lineage",
            message_lineage,
            ["GET"],
            Doc(
                "Where an answer came from: run, model calls, tool calls, knowledge chunks",
                response={"type": "object"},
                errors={"404": "no audit record names it"},
            ),
        ),
    ]


def _retention(services: Services) -> Any:
    from roost.govern.audit.retention import AuditRetention

    return AuditRetention.from_settings(_log(services), services.settings)


def _filters(q: AuditQuery) -> dict[str, Any]:
    return {k: v for k, v in q.__dict__.items() if v is not None}


def _int(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidRequest(
            f"{name} must be an integer from {low} to {high}",
            fields=[{"field": name, "message": f"{low}..{high}", "type": "int_range"}],
        )
    return int(raw)
