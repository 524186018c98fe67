"""The server's side of the audit trail: who the request's actor is, the records of
admin actions and of refused requests, and the one permission check of the audit
routes (:func:`require_auditor`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from roost.govern.audit.actor import Actor, current_actor, trace_id_from
from roost.govern.audit.entry import AuditEntry, Outcome

if TYPE_CHECKING:
    from roost.core import RoostError
    from roost.server.auth import Principal
    from roost.server.services import Services


def set_actor(principal: Principal, headers: dict[str, str], client: str | None) -> None:
    """Name the request's actor for every record made while serving it."""
    current_actor.set(
        Actor(
            key_id=principal.key_id,
            user_id=principal.user_id,
            tenant_id=principal.tenant_id,
            client=client,
            trace_id=trace_id_from(headers.get("traceparent")),
            role=principal.role,
        )
    )


async def record_action(
    services: Services,
    action: str,
    *,
    resource_type: str | None = None,
    resource_id: str | None = None,
    outcome: Outcome = "ok",
    detail: dict[str, Any] | None = None,
    user_id: str | None = None,
    tenant_id: str | None = None,
    session_id: str | None = None,
) -> None:
    """Commit an audit record of an action of this request (no-op when auditing is
    off); called before the action's response is sent."""
    log = services.audit
    if log is None:
        return
    actor = current_actor.get() or Actor()
    await log.record(
        AuditEntry(
            action,
            outcome=outcome,
            tenant_id=tenant_id if tenant_id is not None else actor.tenant_id,
            user_id=user_id if user_id is not None else actor.user_id,
            key_id=actor.key_id,
            client=actor.client,
            resource_type=resource_type,
            resource_id=resource_id,
            trace_id=actor.trace_id,
            session_id=session_id,
            detail=detail or {},
        )
    )


async def record_refusal(
    services: Services, err: RoostError, scope: dict[str, Any], headers: dict[str, str]
) -> None:
    """A failed authentication (401) or authorization (403): who tried what, from where."""
    log = services.audit
    if log is None or err.status not in (401, 403):
        return
    principal = scope.get("roost.principal")
    client = scope.get("client")
    await log.record(
        AuditEntry(
            "auth.failed" if err.status == 401 else "authz.denied",
            outcome="denied",
            key_id=getattr(principal, "key_id", None),
            user_id=getattr(principal, "user_id", None),
            tenant_id=getattr(principal, "tenant_id", None),
            client=client[0] if client else None,
            resource_type="route",
            resource_id=f"{scope.get('method')} {scope.get('path')}"[:256],
            trace_id=trace_id_from(headers.get("traceparent")),
            detail={"code": err.code},
        )
    )


def require_auditor(principal: Principal) -> None:
    """Who may read the audit trail: admins today. The one place an ``auditor``
    permission plugs in (roles arrive with the tenants/RBAC work)."""
    principal.require_admin()


def audit_scope(principal: Principal) -> str | None:
    """The tenant an audit reader is confined to (a tenant admin: its tenant), or None
    for the whole trail."""
    return principal.tenant_id
