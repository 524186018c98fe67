"""``/v1/keys``: API keys (create returns the plaintext once). Platform admins manage
every key; tenant admins the keys of their tenant, with the roles a tenant may give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.core import Forbidden, InvalidRequest
from roost.govern.roles import ASSIGNABLE_BY_TENANT_ADMIN, TENANT_ROLES
from roost.server._http import json_response, parse_body
from roost.server.auditing import record_action
from roost.server.auth import Principal
from roost.server.openapi import query
from roost.server.router import Doc, api_route
from roost.server.schemas import KeyCreate, KeyOut
from roost.store import ApiKeyNotFound

if TYPE_CHECKING:
    from roost.server.services import Services
    from roost.store import ApiKeyRecord


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def key_out(record: ApiKeyRecord, plaintext: str | None = None) -> dict[str, Any]:
    out = KeyOut(
        id=record.id,
        name=record.name,
        role=record.role,
        tenant_id=record.tenant_id,
        # a key without a user id is its own user (decision 0130)
        user_id=record.user_id or (record.id if record.role != "admin" else None),
        key=plaintext,
        expires_at=_ts(record.expires_at),
        last_used_at=_ts(record.last_used_at),
    ).model_dump(exclude_none=True)
    out["prefix"] = record.display
    out["revoked"] = record.revoked_at is not None
    out["created_at"] = record.created_at.timestamp()
    return out


def manages(principal: Principal, record: ApiKeyRecord) -> bool:
    """Whether ``principal`` (serving ``keys.manage``) may see and revoke the key."""
    if principal.reach() == "all":
        return True
    return (
        principal.tenant_id is not None
        and record.tenant_id == principal.tenant_id
        and record.role in ASSIGNABLE_BY_TENANT_ADMIN
    )


def routes(services: Services) -> list[BaseRoute]:
    async def create_key(request: Request, principal: Principal) -> Response:
        body = await parse_body(request, KeyCreate)
        tenant = body.tenant_id
        if principal.reach() != "all":  # a tenant admin: keys of its tenant, roles it may give
            scope = principal.tenant_id
            if tenant not in (None, scope):
                raise Forbidden(
                    "a tenant admin makes keys of its own tenant only",
                    hint="leave tenant_id out",
                )
            if body.role not in ASSIGNABLE_BY_TENANT_ADMIN:
                raise Forbidden(
                    f"a tenant admin cannot give the {body.role} role",
                    hint=f"one of {', '.join(sorted(ASSIGNABLE_BY_TENANT_ADMIN))}",
                )
            tenant = scope
        if body.role in TENANT_ROLES and tenant is None:
            raise InvalidRequest(
                f"a {body.role} key needs a tenant_id",
                fields=[{"field": "tenant_id", "message": "required", "type": "missing"}],
            )
        expires = (
            datetime.now(UTC) + timedelta(seconds=body.expires_in)
            if body.expires_in is not None
            else None
        )
        plaintext, record = await services.store.create_api_key(
            body.name, role=body.role, tenant_id=tenant, user_id=body.user_id, expires_at=expires
        )
        await record_action(
            services,
            "key.created",
            resource_type="key",
            resource_id=record.id,
            detail={
                "role": record.role,
                "for_user": record.user_id,
                "for_tenant": record.tenant_id,
            },
        )
        return json_response(key_out(record, plaintext), status=201)

    async def list_keys(request: Request, principal: Principal) -> Response:
        tenant = request.query_params.get("tenant_id") or None
        if principal.reach() != "all":
            tenant = principal.tenant_id
        records = await services.store.list_api_keys(tenant_id=tenant)
        return json_response({"data": [key_out(r) for r in records if manages(principal, r)]})

    async def revoke_key(request: Request, principal: Principal) -> Response:
        key_id = request.path_params["key_id"]
        try:
            found = await services.store.get_api_key(key_id)
        except ApiKeyNotFound:
            found = None
        if found is None or not manages(principal, found):  # 404: ids are not confirmed
            raise ApiKeyNotFound(f"API key {key_id!r} does not exist")
        record = await services.store.revoke_api_key(key_id)
        if services.authenticator is not None:
            services.authenticator.forget()
        await record_action(services, "key.revoked", resource_type="key", resource_id=record.id)
        return json_response(key_out(record))

    listed = {"type": "object", "properties": {"data": {"type": "array"}}}
    tenant = query("tenant_id", "one tenant's keys (platform admins)", {"type": "string"})
    return [
        api_route(
            "/v1/keys",
            create_key,
            ["POST"],
            Doc(
                "Create an API key (shown once)",
                body=KeyCreate,
                response=KeyOut,
                status=201,
                permission="keys.manage",
            ),
        ),
        api_route(
            "/v1/keys",
            list_keys,
            ["GET"],
            Doc("List API keys", response=listed, params=(tenant,), permission="keys.manage"),
        ),
        api_route(
            "/v1/keys/{key_id}",
            revoke_key,
            ["DELETE"],
            Doc("Revoke an API key", response=KeyOut, permission="keys.manage"),
        ),
    ]
