from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from roost.core import Usage
from roost.store import InvalidStoreArgument, Store


async def _run(
    store: Store,
    session: str,
    model: str,
    tokens: tuple[int, int],
    cost: float | None,
    currency: str | None = "USD",
) -> None:
    run = await store.create_run(session_id=session, status="running", model=model)
    usage = Usage(input_tokens=tokens[0], output_tokens=tokens[1], cost=cost, currency=currency)
    await store.set_run_status(run.id, "succeeded", usage=usage)


async def test_usage_rollups_by_user_model_and_tenant(store: Store) -> None:
    a = await store.create_session(app="demo", user_id="alice", tenant_id="acme", agent="bot")
    b = await store.create_session(app="demo", user_id="bob", tenant_id="acme", agent="bot")
    c = await store.create_session(app="demo", user_id="carol", tenant_id="globex", agent="bot")
    await _run(store, a.id, "gpt", (100, 10), 0.5)
    await _run(store, a.id, "local", (50, 5), None, None)
    await _run(store, b.id, "gpt", (10, 1), 0.25)
    await _run(store, c.id, "gpt", (1000, 100), 3.0, "EUR")

    by_user = await store.usage_summary("user", tenant_id="acme")
    rows = {(r["user"], r["currency"]): r for r in by_user}
    assert set(rows) == {("alice", "USD"), ("alice", None), ("bob", "USD")}
    assert rows[("alice", "USD")] == {
        "user": "alice",
        "currency": "USD",
        "runs": 1,
        "input_tokens": 100,
        "output_tokens": 10,
        "total_tokens": 110,
        "cost": pytest.approx(0.5),
    }
    assert rows[("alice", None)]["cost"] is None
    assert [r["total_tokens"] for r in by_user] == [110, 55, 11]  # largest first

    by_model = {(r["model"], r["currency"]): r for r in await store.usage_summary("model")}
    assert by_model[("gpt", "USD")]["runs"] == 2
    assert by_model[("gpt", "USD")]["cost"] == pytest.approx(0.75)
    assert by_model[("gpt", "EUR")]["input_tokens"] == 1000
    by_tenant = {(r["tenant"], r["currency"]): r for r in await store.usage_summary("tenant")}
    assert by_tenant[("acme", "USD")]["runs"] == 2
    assert by_tenant[("globex", "EUR")]["cost"] == pytest.approx(3.0)
    by_agent = await store.usage_summary("agent")
    assert sum(r["runs"] for r in by_agent) == 4


async def test_usage_time_window_and_bad_group(store: Store) -> None:
    s = await store.create_session(app="demo", user_id="u")
    await _run(store, s.id, "gpt", (10, 1), 0.1)
    now = datetime.now(UTC)
    assert await store.usage_summary("user", since=now + timedelta(seconds=5)) == []
    rows = await store.usage_summary(
        "session", since=now - timedelta(minutes=1), until=now + timedelta(minutes=1)
    )
    assert [(r["session"], r["runs"]) for r in rows] == [(s.id, 1)]
    with pytest.raises(InvalidStoreArgument) as info:
        await store.usage_summary("planet")  # type: ignore[arg-type]
    assert "user" in (info.value.hint or "")
