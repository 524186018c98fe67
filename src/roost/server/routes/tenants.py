"""``/v1/tenants`` (tenants, their users and quotas) and ``/v1/quotas`` (the caller's own).

Platform admins see and manage every tenant; a tenant's admins, operators and viewers
see their own tenant (another tenant is a 404, never a 403: ids are not confirmed).
Tenant quotas are set by platform admins; a tenant admin sets its users' quotas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.core.digits import MAX_INT64
from roost.govern.quotas import QUOTAS, QuotaGate
from roost.server._http import json_response, parse_body
from roost.server.auditing import record_action
from roost.server.auth import Principal
from roost.server.router import Doc, api_route
from roost.server.schemas import Metadata, _Body, _Out, integral
from roost.store import TenantNotFound

if TYPE_CHECKING:
    from roost.server.services import Services
    from roost.store import TenantRecord


class TenantCreate(_Body):
    """``POST /v1/tenants``."""

    id: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")
    name: str | None = Field(None, min_length=1, max_length=256)
    metadata: Metadata = Field(default_factory=dict)


class TenantOut(_Out):
    id: str
    name: str
    metadata: dict[str, Any]
    created_at: float
    disabled: bool


Limit = Annotated[int, Field(ge=0, le=MAX_INT64), BeforeValidator(integral)]


class QuotaLimits(_Body):
    """The limits to set (all of them: a limit left out is removed, i.e. unlimited)."""

    runs_per_minute: Limit | None = Field(None, description=QUOTAS["runs_per_minute"])
    tokens_per_day: Limit | None = Field(None, description=QUOTAS["tokens_per_day"])
    tokens_per_month: Limit | None = Field(None, description=QUOTAS["tokens_per_month"])
    cost_per_day: float | None = Field(None, ge=0, le=MAX_INT64, description=QUOTAS["cost_per_day"])
    cost_per_month: float | None = Field(
        None, ge=0, le=MAX_INT64, description=QUOTAS["cost_per_month"]
    )
    open_sessions: Limit | None = Field(None, description=QUOTAS["open_sessions"])
    sandboxes: Limit | None = Field(None, description=QUOTAS["sandboxes"])


def _tenant_out(record: TenantRecord) -> dict[str, Any]:
    return TenantOut(
        id=record.id,
        name=record.name,
        metadata=record.metadata,
        created_at=record.created_at.timestamp(),
        disabled=not record.active,
    ).model_dump()


def _visible(principal: Principal, tenant_id: str) -> None:
    """404 unless the whole tenant is within the principal's reach for the route."""
    reach = principal.reach()
    if reach == "all" or (reach == "tenant" and tenant_id == principal.tenant_id):
        return
    raise TenantNotFound(f"no tenant {tenant_id!r}")


def routes(services: Services) -> list[BaseRoute]:
    def gate() -> QuotaGate:
        return services.quotas or QuotaGate(services.store)  # auth off: reports only

    async def get_record(principal: Principal, tenant_id: str) -> TenantRecord:
        _visible(principal, tenant_id)
        return await services.store.get_tenant(tenant_id)

    async def list_tenants(request: Request, principal: Principal) -> Response:
        records = await services.store.list_tenants()
        if principal.reach() != "all":
            records = [r for r in records if r.id == principal.tenant_id]
        return json_response({"data": [_tenant_out(r) for r in records]})

    async def create_tenant(request: Request, principal: Principal) -> Response:
        body = await parse_body(request, TenantCreate)
        record = await services.store.create_tenant(body.id, name=body.name, metadata=body.metadata)
        await record_action(
            services, "tenant.created", resource_type="tenant", resource_id=record.id
        )
        return json_response(_tenant_out(record), status=201)

    async def get_tenant(request: Request, principal: Principal) -> Response:
        record = await get_record(principal, request.path_params["tenant_id"])
        return json_response(_tenant_out(record))

    def switch(disabled: bool) -> Any:
        async def handler(request: Request, principal: Principal) -> Response:
            tenant_id = request.path_params["tenant_id"]
            record = await services.store.set_tenant_disabled(tenant_id, disabled)
            if services.authenticator is not None:  # its keys stop (or start) at once
                services.authenticator.forget()
            action = "tenant.disabled" if disabled else "tenant.enabled"
            await record_action(services, action, resource_type="tenant", resource_id=tenant_id)
            return json_response(_tenant_out(record))

        handler.__name__ = "disable_tenant" if disabled else "enable_tenant"
        return handler

    async def list_users(request: Request, principal: Principal) -> Response:
        """The users a tenant's keys act as, with their roles and when last seen."""
        record = await get_record(principal, request.path_params["tenant_id"])
        users: dict[str, dict[str, Any]] = {}
        for key in await services.store.list_api_keys(tenant_id=record.id):
            user = key.user_id or key.id
            entry = users.setdefault(
                user, {"user_id": user, "roles": [], "keys": 0, "last_used_at": None}
            )
            if key.active:
                entry["keys"] += 1
                if key.role not in entry["roles"]:
                    entry["roles"].append(key.role)
            if key.last_used_at is not None:
                seen = key.last_used_at.timestamp()
                entry["last_used_at"] = max(entry["last_used_at"] or 0.0, seen)
        return json_response({"data": sorted(users.values(), key=lambda u: u["user_id"])})

    async def tenant_quotas(request: Request, principal: Principal) -> Response:
        record = await get_record(principal, request.path_params["tenant_id"])
        limits = await gate().limits(record.id)
        users = [
            {"user_id": user, "quotas": await gate().report(record.id, user)}
            for user in sorted(u for u in limits if u)
        ]
        body = {"tenant_id": record.id, "quotas": await gate().report(record.id), "users": users}
        return json_response(body)

    async def set_tenant_quotas(request: Request, principal: Principal) -> Response:
        # tenants.manage: a tenant's own limits are set by a platform admin
        return await _set(
            request.path_params["tenant_id"], "", await parse_body(request, QuotaLimits)
        )

    async def set_user_quotas(request: Request, principal: Principal) -> Response:
        tenant_id, user_id = request.path_params["tenant_id"], request.path_params["user_id"]
        _visible(principal, tenant_id)
        return await _set(tenant_id, user_id, await parse_body(request, QuotaLimits))

    async def _set(tenant_id: str, user_id: str, body: QuotaLimits) -> Response:
        limits = body.model_dump(exclude_none=True)
        await services.store.set_quota(tenant_id, limits, user_id=user_id)
        gate().forget(tenant_id)
        await record_action(
            services,
            "quota.set",
            resource_type="quota",
            resource_id=f"{tenant_id}/{user_id}" if user_id else tenant_id,
            detail={"limits": limits},
        )
        report = await gate().report(tenant_id, user_id or None)
        return json_response({"tenant_id": tenant_id, "user_id": user_id or None, "quotas": report})

    async def own_quotas(request: Request, principal: Principal) -> Response:
        tenant = principal.tenant_id
        body: dict[str, Any] = {"tenant_id": tenant, "user_id": principal.user_id}
        if tenant is None:
            body.update(tenant_quotas=[], user_quotas=[])
        else:
            body["tenant_quotas"] = await gate().report(tenant)
            user = principal.user_id
            body["user_quotas"] = await gate().report(tenant, user) if user else []
        return json_response(body)

    listed = {"type": "object", "properties": {"data": {"type": "array"}}}
    report = {"type": "object", "properties": {"quotas": {"type": "array"}}}
    base = "/v1/tenants"
    return [
        api_route(
            base,
            list_tenants,
            ["GET"],
            Doc("List tenants (yours, or every one)", response=listed, permission="tenants.read"),
        ),
        api_route(
            base,
            create_tenant,
            ["POST"],
            Doc(
                "Create a tenant (platform admin)",
                body=TenantCreate,
                response=TenantOut,
                status=201,
                errors={"409": "tenant_exists"},
                permission="tenants.manage",
            ),
        ),
        api_route(
            base + "/{tenant_id}",
            get_tenant,
            ["GET"],
            Doc("Get a tenant", response=TenantOut, permission="tenants.read"),
        ),
        api_route(
            base + "/{tenant_id}/disable",
            switch(True),
            ["POST"],
            Doc(
                "Disable a tenant: its keys stop working, its data stays (platform admin)",
                response=TenantOut,
                permission="tenants.manage",
            ),
        ),
        api_route(
            base + "/{tenant_id}/enable",
            switch(False),
            ["POST"],
            Doc("Enable a disabled tenant again", response=TenantOut, permission="tenants.manage"),
        ),
        api_route(
            base + "/{tenant_id}/users",
            list_users,
            ["GET"],
            Doc("The tenant's users (from its keys)", response=listed, permission="keys.manage"),
        ),
        api_route(
            base + "/{tenant_id}/quotas",
            tenant_quotas,
            ["GET"],
            Doc(
                "The tenant's quotas and its users', with current usage",
                response=report,
                permission="quotas.read",
            ),
        ),
        api_route(
            base + "/{tenant_id}/quotas",
            set_tenant_quotas,
            ["PUT"],
            Doc(
                "Set the tenant's quotas (platform admin; a limit left out is unlimited)",
                body=QuotaLimits,
                response=report,
                permission="tenants.manage",
            ),
        ),
        api_route(
            base + "/{tenant_id}/users/{user_id}/quotas",
            set_user_quotas,
            ["PUT"],
            Doc(
                "Set one user's quotas (a limit left out is unlimited)",
                body=QuotaLimits,
                response=report,
                permission="quotas.manage",
            ),
        ),
        api_route(
            "/v1/quotas",
            own_quotas,
            ["GET"],
            Doc(
                "Your quotas (your tenant's and your own) with current usage and resets",
                response={"type": "object"},
                permission="quotas.read",
            ),
        ),
    ]
