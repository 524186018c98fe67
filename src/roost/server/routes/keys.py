"""``/v1/keys``: API keys, admin only (create returns the plaintext once)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.server._http import json_response, parse_body
from roost.server.auditing import record_action
from roost.server.auth import Principal
from roost.server.router import Doc, api_route
from roost.server.schemas import KeyCreate, KeyOut

if TYPE_CHECKING:
    from roost.server.services import Services
    from roost.store import ApiKeyRecord


def _key_out(record: ApiKeyRecord, plaintext: str | None = None) -> dict[str, Any]:
    out = KeyOut(
        id=record.id,
        name=record.name,
        role=record.role,
        tenant_id=record.tenant_id,
        # a user key without a user id is its own user (decision 0130)
        user_id=record.user_id or (record.id if record.role == "user" else None),
        key=plaintext,
    ).model_dump(exclude_none=True)
    out["prefix"] = record.display
    out["revoked"] = record.revoked_at is not None
    return out


def routes(services: Services) -> list[BaseRoute]:
    async def create_key(request: Request, principal: Principal) -> Response:
        principal.require_admin()
        body = await parse_body(request, KeyCreate)
        plaintext, record = await services.store.create_api_key(
            body.name, role=body.role, tenant_id=body.tenant_id, user_id=body.user_id
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
        return json_response(_key_out(record, plaintext), status=201)

    async def list_keys(request: Request, principal: Principal) -> Response:
        principal.require_admin()
        records = await services.store.list_api_keys()
        return json_response({"data": [_key_out(r) for r in records]})

    async def revoke_key(request: Request, principal: Principal) -> Response:
        principal.require_admin()
        record = await services.store.revoke_api_key(request.path_params["key_id"])
        if services.authenticator is not None:
            services.authenticator.forget()
        await record_action(services, "key.revoked", resource_type="key", resource_id=record.id)
        return json_response(_key_out(record))

    listed = {"type": "object", "properties": {"data": {"type": "array"}}}
    return [
        api_route(
            "/v1/keys",
            create_key,
            ["POST"],
            Doc(
                "Create an API key (admin)", body=KeyCreate, response=KeyOut, status=201, admin=True
            ),
        ),
        api_route(
            "/v1/keys",
            list_keys,
            ["GET"],
            Doc("List API keys (admin)", response=listed, admin=True),
        ),
        api_route(
            "/v1/keys/{key_id}",
            revoke_key,
            ["DELETE"],
            Doc("Revoke an API key (admin)", response=KeyOut, admin=True),
        ),
    ]
