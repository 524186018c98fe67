"""``/v1/secrets`` and ``/v1/data-protection``: the secret store and tenants' data
protection, admin only. A secret's value goes in and never comes out whole: reads give
its metadata and a masked preview (decision 0190)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.core.errors import ConfigError
from roost.server._http import json_response, parse_body
from roost.server.auditing import record_action
from roost.server.auth import Principal
from roost.server.router import Doc, api_route

if TYPE_CHECKING:
    from roost.govern.protection import DataProtection
    from roost.govern.secrets import SecretInfo
    from roost.server.services import Services
    from roost.store.secrets import ProtectionRow


class SecretPut(BaseModel):
    """A secret's new value (stored encrypted; never returned)."""

    model_config = ConfigDict(extra="forbid")
    value: str = Field(min_length=1, max_length=65536)
    tenant_id: str | None = Field(default=None, max_length=128)


class SecretOut(BaseModel):
    """A secret as the API shows it: metadata and a masked preview, never the value."""

    name: str
    tenant_id: str | None = None
    algorithm: str
    master_key_id: str
    version: int
    created_at: datetime
    updated_at: datetime
    preview: str | None = None


Filtering = Literal["allow", "mask", "hash", "drop"]


class SinkActions(BaseModel):
    """The action of each sink (decision 0193); omitted sinks keep their default."""

    model_config = ConfigDict(extra="forbid")
    logs: Filtering | None = None
    traces: Filtering | None = None
    transcripts: Literal["allow", "mask", "hash"] | None = None
    audit: Filtering | None = None
    prompts: Literal["route", "allow", "mask", "hash", "drop"] | None = None


class PolicyIn(BaseModel):
    """A tenant's DLP policy."""

    model_config = ConfigDict(extra="forbid")
    actions: SinkActions = Field(default_factory=SinkActions)
    kinds: list[Literal["cn_id", "cn_mobile", "bank_card", "email", "ip", "api_key"]] | None = (
        Field(default=None, description="detectors in use (default: all)")
    )
    custom: dict[
        Annotated[str, Field(min_length=1, max_length=64)],
        Annotated[str, Field(min_length=1, max_length=1000, json_schema_extra={"format": "regex"})],
    ] = Field(default_factory=dict, max_length=50, description="name -> Python regex")

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"actions": self.actions.model_dump(exclude_none=True)}
        if self.kinds:
            doc["kinds"] = list(dict.fromkeys(self.kinds))
        if self.custom:
            doc["custom"] = dict(self.custom)
        return doc


class ProtectionPut(BaseModel):
    """What to change in a tenant's data protection (omitted fields stay)."""

    model_config = ConfigDict(extra="forbid")
    encrypt: bool | None = None
    confidential: bool | None = None
    policy: PolicyIn | None = None


class ProtectionOut(BaseModel):
    tenant_id: str
    encrypt: bool
    confidential: bool
    policy: dict[str, Any]
    updated_at: datetime | None = None


def _secret_out(info: SecretInfo, preview: str | None = None) -> dict[str, Any]:
    return SecretOut(**info.__dict__, preview=preview).model_dump(mode="json", exclude_none=True)


def _protection_out(tenant_id: str, row: ProtectionRow | None) -> dict[str, Any]:
    from roost.govern.dlp import DlpPolicy

    policy = DlpPolicy.from_document(row.policy if row else None).to_document()
    out = ProtectionOut(
        tenant_id=tenant_id,
        encrypt=bool(row and row.encrypt),
        confidential=bool(row and row.confidential),
        policy=policy,
        updated_at=row.updated_at if row else None,
    )
    return out.model_dump(mode="json", exclude_none=True)


def routes(services: Services) -> list[BaseRoute]:
    def protection() -> DataProtection:
        if services.governance is None:
            raise ConfigError(
                "the secret store is off: this server has no master key",
                hint="set ROOST_MASTER_KEY or make $ROOST_HOME writable for the key file",
            )
        return services.governance.protection

    async def put_secret(request: Request, principal: Principal) -> Response:
        principal.require_admin()
        body = await parse_body(request, SecretPut)
        secrets = protection().secrets
        info = await secrets.set(request.path_params["name"], body.value, tenant_id=body.tenant_id)
        await record_action(services, "secret.set", resource_type="secret", resource_id=info.name)
        from roost.govern.secrets import masked

        return json_response(_secret_out(info, masked(body.value)), status=200)

    async def get_secret(request: Request, principal: Principal) -> Response:
        principal.require_admin()
        from roost.govern.secrets import masked

        secrets = protection().secrets
        name = request.path_params["name"]
        info = await secrets.info(name)
        preview = masked(await secrets.get(name))
        await record_action(services, "secret.read", resource_type="secret", resource_id=name)
        return json_response(_secret_out(info, preview))

    async def list_secrets(request: Request, principal: Principal) -> Response:
        principal.require_admin()
        found = await protection().secrets.list()
        return json_response({"data": [_secret_out(i) for i in found]})

    async def delete_secret(request: Request, principal: Principal) -> Response:
        principal.require_admin()
        secrets = protection().secrets
        name = request.path_params["name"]
        info = await secrets.info(name)
        await secrets.delete(name)
        await record_action(services, "secret.deleted", resource_type="secret", resource_id=name)
        return json_response(_secret_out(info))

    async def get_protection(request: Request, principal: Principal) -> Response:
        principal.require_admin()
        tenant = request.path_params["tenant_id"]
        return json_response(_protection_out(tenant, await protection().get_policy(tenant)))

    async def put_protection(request: Request, principal: Principal) -> Response:
        principal.require_admin()
        from roost.govern.dlp import DlpPolicy

        body = await parse_body(request, ProtectionPut)
        tenant = request.path_params["tenant_id"]
        policy = None
        if body.policy is not None:
            policy = DlpPolicy.from_document(body.policy.document()).to_document()
        row = await protection().set_policy(
            tenant, encrypt=body.encrypt, confidential=body.confidential, policy=policy
        )
        await record_action(
            services,
            "data_protection.set",
            resource_type="tenant",
            resource_id=tenant,
            detail={"encrypt": body.encrypt, "confidential": body.confidential},
        )
        return json_response(_protection_out(tenant, row))

    async def rotate_tenant_key(request: Request, principal: Principal) -> Response:
        principal.require_admin()
        tenant = request.path_params["tenant_id"]
        row = await protection().rotate_tenant_key(tenant)
        await record_action(
            services, "data_protection.key_rotated", resource_type="tenant", resource_id=tenant
        )
        return json_response(_protection_out(tenant, row))

    from roost.govern.secrets import NAME_PATTERN

    listed = {"type": "object", "properties": {"data": {"type": "array"}}}
    not_found = {"404": "no secret with that name"}
    # one path segment: names with "/" (tenants' data keys) are Roost's, and the CLI's
    named = {"name": {"type": "string", "pattern": NAME_PATTERN.replace("/", "")}}
    tenant = {"tenant_id": {"type": "string", "minLength": 1, "maxLength": 128}}
    return [
        api_route(
            "/v1/secrets",
            list_secrets,
            ["GET"],
            Doc("List secrets: metadata only (admin)", response=listed, admin=True),
        ),
        api_route(
            "/v1/secrets/{name}",
            put_secret,
            ["PUT"],
            Doc(
                "Set a secret; stored envelope-encrypted, answered with a masked preview (admin)",
                body=SecretPut,
                response=SecretOut,
                admin=True,
                path=named,
            ),
        ),
        api_route(
            "/v1/secrets/{name}",
            get_secret,
            ["GET"],
            Doc(
                "A secret's metadata and masked preview, never its value (admin)",
                response=SecretOut,
                errors=not_found,
                admin=True,
                path=named,
            ),
        ),
        api_route(
            "/v1/secrets/{name}",
            delete_secret,
            ["DELETE"],
            Doc(
                "Delete a secret (admin)",
                response=SecretOut,
                errors=not_found,
                admin=True,
                path=named,
            ),
        ),
        api_route(
            "/v1/data-protection/{tenant_id}",
            get_protection,
            ["GET"],
            Doc(
                "A tenant's data protection and DLP policy (admin)",
                response=ProtectionOut,
                admin=True,
                path=tenant,
            ),
        ),
        api_route(
            "/v1/data-protection/{tenant_id}",
            put_protection,
            ["PUT"],
            Doc(
                "Change a tenant's encryption at rest, confidential flag or DLP policy (admin)",
                body=ProtectionPut,
                response=ProtectionOut,
                admin=True,
                path=tenant,
            ),
        ),
        api_route(
            "/v1/data-protection/{tenant_id}/rotate-key",
            rotate_tenant_key,
            ["POST"],
            Doc(
                "Give an encrypted tenant a new data key; older content keeps opening (admin)",
                response=ProtectionOut,
                errors={"409": "the tenant is not encrypted at rest"},
                admin=True,
                path=tenant,
            ),
        ),
    ]
