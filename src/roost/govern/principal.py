"""Who is calling, and what the route being served lets it reach.

Every principal that is not the platform admin has a user id (a key created without
one is its own user, ``user_id`` = the key's id, decision 0130), and whether it may see
a resource is decided in one place, :meth:`Principal.can_access`, from its role's reach
for the permission of the route being served (:mod:`roost.govern.roles`, decision 0180).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from roost.core import Forbidden
from roost.govern.roles import CONTENT_BLIND, PERMISSIONS, TENANT_ROLES, Reach, Role, reach


@dataclass(frozen=True)
class Principal:
    """The key, its role, the tenant/user the call acts for, and the permission of the
    route being served (set by the router: it picks the reach :meth:`can_access` uses).

    A principal other than the platform admin (or a public route's caller) always has a
    ``user_id``: it cannot be built without one, so no missing field can widen what it
    sees.
    """

    key_id: str
    role: Role
    user_id: str | None = None
    tenant_id: str | None = None
    permission: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ("admin", "public", "metrics") and not self.user_id:
            raise ValueError(f"a {self.role} principal needs a user_id")
        if self.role in TENANT_ROLES and not self.tenant_id:
            raise ValueError(f"a {self.role} principal needs a tenant_id")

    @property
    def is_admin(self) -> bool:
        """The platform admin (every tenant, every route)."""
        return self.role == "admin"

    @property
    def sees_content(self) -> bool:
        """Whether this role may read conversation content at all (operators may not)."""
        return self.role not in CONTENT_BLIND

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("this route needs the platform admin", hint="use an admin key")

    def reach(self, permission: str | None = None) -> Reach | None:
        """The reach of this principal for ``permission`` (default: the route's)."""
        wanted = permission or self.permission
        if wanted is None:  # outside a route: only what is its own
            return "all" if self.is_admin else ("own" if self.user_id else None)
        return reach(self.role, wanted, self.tenant_id)

    def allows(self, permission: str) -> bool:
        return self.reach(permission) is not None

    def acting(self, permission: str) -> Principal:
        """This principal serving a route that needs ``permission``; 403 if its role does
        not grant it."""
        if permission not in PERMISSIONS:
            raise ValueError(f"unknown permission {permission!r}")
        if self.reach(permission) is None:
            raise Forbidden(
                f"the {self.role} role does not grant {permission!r}",
                hint="use a key whose role grants it (see docs/security.md)",
                permission=permission,
                role=self.role,
            )
        if self.permission == permission:
            return self
        return dataclasses.replace(self, permission=permission)

    def can_access(self, user_id: str | None, tenant_id: str | None) -> bool:
        """Whether the resource of ``(tenant_id, user_id)`` is within reach: every tenant,
        this principal's tenant, or its own (tenant, user) pair."""
        found = self.reach()
        if found == "all":
            return True
        if found == "tenant":
            return tenant_id == self.tenant_id
        if found == "own":
            return user_id == self.user_id and tenant_id == self.tenant_id
        return False

    def listing_filter(self) -> tuple[str | None, str | None]:
        """The store filter ``(user_id, tenant_id)`` of what this principal may list.
        Listings still check every item with :meth:`can_access`: the store reads a
        ``None`` as "any"."""
        found = self.reach()
        if found == "all":
            return None, None
        if found == "tenant":
            return None, self.tenant_id
        if found == "own":
            return self.user_id, self.tenant_id
        raise Forbidden("this route needs an API key", hint="send an API key")

    def tenant_scope(self) -> str | None:
        """The one tenant this principal is confined to for the route's permission, or
        ``None`` when its reach is every tenant. (A confined principal without a tenant
        is confined to the tenant-less space: compare with ``reach()``, not with None.)"""
        return None if self.reach() == "all" else self.tenant_id


ANONYMOUS = Principal(key_id="anonymous", role="admin")
"""The principal of every request when the app runs with ``auth=False`` (tests, local dev)."""

PUBLIC = Principal(key_id="public", role="public")
"""Who calls a public route (``/healthz``, ``@app.endpoint(..., public=True)``) with auth
on: nobody known, so no admin rights and no one's resources."""
