"""The permission table: documented as it is, and principals that cannot widen it."""

from __future__ import annotations

from pathlib import Path

import pytest

from roost.core import Forbidden
from roost.govern import PERMISSIONS, ROLES, TABLE, Principal
from roost.govern.roles import markdown_table

DOC = Path(__file__).parents[2] / "docs" / "security.md"


def test_docs_security_md_shows_the_table_the_server_enforces() -> None:
    assert markdown_table() in DOC.read_text()


def test_every_role_grants_only_known_permissions_and_admin_all() -> None:
    for role in ROLES:
        assert set(TABLE[role]) <= set(PERMISSIONS), role
    assert set(TABLE["admin"]) == set(PERMISSIONS)
    assert set(TABLE["metrics"]) == {"authenticated", "metrics.read"}
    assert "content.read" not in TABLE["operator"]


def test_a_principal_cannot_be_built_without_what_confines_it() -> None:
    with pytest.raises(ValueError):
        Principal("k", "user")
    with pytest.raises(ValueError):
        Principal("k", "tenant_admin", user_id="u")  # a tenant role without a tenant
    Principal("k", "metrics")


def test_reach_follows_the_route_being_served() -> None:
    boss = Principal("k", "tenant_admin", user_id="boss", tenant_id="acme")
    reading = boss.acting("sessions.read")
    assert reading.can_access("alice", "acme") and not reading.can_access("alice", "beta")
    assert reading.listing_filter() == (None, "acme")
    calling = boss.acting("endpoints.call")  # its own tasks only
    assert not calling.can_access("alice", "acme") and calling.can_access("boss", "acme")
    with pytest.raises(Forbidden) as caught:
        boss.acting("tenants.manage")
    assert caught.value.details == {"permission": "tenants.manage", "role": "tenant_admin"}
    platform = Principal("k", "operator", user_id="ops").acting("runs.read")
    assert platform.reach() == "all" and not platform.sees_content
    scoped = Principal("k", "operator", user_id="ops", tenant_id="acme").acting("runs.read")
    assert scoped.reach() == "tenant" and scoped.tenant_scope() == "acme"
