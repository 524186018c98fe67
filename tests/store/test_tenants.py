"""Tenants and quotas in the store (every backend)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from roost.core import Msg, Usage
from roost.store import InvalidStoreArgument, Store, TenantExists, TenantNotFound


async def test_tenants_are_created_listed_and_disabled(store: Store) -> None:
    made = await store.create_tenant("acme", name="Acme Corp", metadata={"region": "cn"})
    assert (made.id, made.name, made.metadata, made.active) == (
        "acme",
        "Acme Corp",
        {"region": "cn"},
        True,
    )
    with pytest.raises(TenantExists):
        await store.create_tenant("acme")
    with pytest.raises(InvalidStoreArgument):
        await store.create_tenant("no spaces allowed")
    await store.create_tenant("beta")
    assert [t.id for t in await store.list_tenants()] == ["acme", "beta"]
    disabled = await store.set_tenant_disabled("acme", True)
    assert not disabled.active
    assert (await store.get_tenant("acme")).disabled_at == disabled.disabled_at
    with pytest.raises(TenantNotFound):
        await store.get_tenant("missing")
    with pytest.raises(TenantNotFound):
        await store.set_tenant_disabled("missing", True)


async def test_quotas_are_replaced_and_removed(store: Store) -> None:
    with pytest.raises(TenantNotFound):
        await store.set_quota("nobody", {"runs_per_minute": 1})
    await store.create_tenant("acme")
    await store.set_quota("acme", {"runs_per_minute": 10, "tokens_per_day": 1000})
    await store.set_quota("acme", {"runs_per_minute": 2}, user_id="alice")
    await store.set_quota("acme", {"runs_per_minute": 20})
    found = {(q.user_id, tuple(sorted(q.limits.items()))) for q in await store.list_quotas("acme")}
    assert found == {("", (("runs_per_minute", 20),)), ("alice", (("runs_per_minute", 2),))}
    assert await store.set_quota("acme", {}, user_id="alice") is None
    assert [q.user_id for q in await store.list_quotas("acme")] == [""]
    with pytest.raises(InvalidStoreArgument):
        await store.set_quota("acme", {"runs_per_minute": -1})


async def test_usage_and_sessions_are_counted_per_tenant_and_user(store: Store) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    for user, tenant, tokens in (("a", "t1", 10), ("b", "t1", 5), ("a", "t2", 100)):
        s = await store.create_session(app="x", user_id=user, tenant_id=tenant)
        run = await store.create_run(
            session_id=s.id, user_id=user, tenant_id=tenant, inputs=[Msg.user("hi")]
        )
        usage = Usage(input_tokens=tokens, output_tokens=1, cost=0.5, currency="USD")
        await store.flush_run(run.id, [], None, status="succeeded", usage=usage)
    assert await store.count_sessions(tenant_id="t1") == 2
    assert await store.count_sessions(tenant_id="t1", user_id="a") == 1
    assert await store.usage_since(since, tenant_id="t1") == (17, 1.0)
    assert await store.usage_since(since, tenant_id="t1", user_id="a") == (11, 0.5)
    assert await store.usage_since(datetime.now(UTC) + timedelta(hours=1), tenant_id="t1") == (
        0,
        0.0,
    )
