"""Quotas: typed 429/403 saying what was exceeded and when it resets, on a real store and
through the HTTP API (issue 21)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from roost.core import Msg, Usage
from roost.govern import Principal, QuotaExceeded, QuotaGate, QuotaLimitReached
from roost.govern.quotas import period_end
from roost.store import Store

sys.path.insert(0, str(Path(__file__).parents[1] / "server"))
from server_support import served

__all__ = ["served"]

ALICE = Principal("key_a", "user", user_id="alice", tenant_id="acme")
BOB = Principal("key_b", "user", user_id="bob", tenant_id="acme")


@pytest.fixture
async def store(tmp_path: Path):
    s = await Store.open(f"sqlite:///{tmp_path / 'q.db'}")
    await s.create_tenant("acme")
    yield s
    await s.close()


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 31, 23, 59, 0, tzinfo=UTC).timestamp()

    def __call__(self) -> float:
        return self.now


async def test_runs_per_minute_of_a_user_and_of_the_tenant(store: Store) -> None:
    clock = Clock()
    gate = QuotaGate(store, clock=clock)
    await store.set_quota("acme", {"runs_per_minute": 3})
    await store.set_quota("acme", {"runs_per_minute": 2}, user_id="alice")
    await gate.admit(ALICE, "run")
    clock.now += 10
    await gate.admit(ALICE, "run")
    with pytest.raises(QuotaExceeded) as caught:
        await gate.admit(ALICE, "run")
    err = caught.value
    assert (err.status, err.code) == (429, "quota_exceeded")
    assert err.details["quota"] == "runs_per_minute" and err.details["scope"] == "user"
    assert (err.details["limit"], err.details["used"], err.details["retry_after"]) == (2, 2, 50)
    assert err.details["resets_at"] == datetime.fromtimestamp(clock.now + 50, UTC).isoformat()
    await gate.admit(BOB, "run")  # the tenant's third run
    with pytest.raises(QuotaExceeded) as caught:
        await gate.admit(BOB, "run")
    assert caught.value.details["scope"] == "tenant"
    clock.now += 51  # alice's first run left the window, the tenant's too
    await gate.admit(ALICE, "run")
    report = await gate.report("acme", "alice")
    assert report == [
        {
            "quota": "runs_per_minute",
            "limit": 2,
            "used": 2,
            "resets_at": datetime.fromtimestamp(clock.now - 51 + 60, UTC).isoformat(),
        }
    ]


async def test_tokens_and_cost_per_day_reset_at_midnight_utc(store: Store) -> None:
    clock = Clock()
    gate = QuotaGate(store, clock=clock)
    await store.set_quota("acme", {"tokens_per_day": 100, "cost_per_month": 5.0})
    s = await store.create_session(app="x", user_id="alice", tenant_id="acme")
    run = await store.create_run(session_id=s.id, user_id="alice", tenant_id="acme")
    usage = Usage(input_tokens=90, output_tokens=10, cost=1.0, currency="USD")
    await store.flush_run(run.id, [], Msg.assistant("ok"), status="succeeded", usage=usage)
    clock.now = datetime.now(UTC).timestamp()  # the run was stored now
    with pytest.raises(QuotaExceeded) as caught:
        await gate.admit(BOB, "run")  # the tenant's total counts for every user
    details = caught.value.details
    assert (details["quota"], details["used"], details["limit"]) == ("tokens_per_day", 100, 100)
    at = datetime.fromtimestamp(clock.now, UTC)
    assert details["resets_at"] == period_end("day", at).isoformat()
    assert period_end("month", datetime(2026, 12, 31, tzinfo=UTC)) == datetime(
        2027, 1, 1, tzinfo=UTC
    )


async def test_open_sessions_is_a_403_that_frees_up_when_one_is_deleted(store: Store) -> None:
    gate = QuotaGate(store)
    await store.set_quota("acme", {"open_sessions": 1}, user_id="alice")
    await gate.admit(ALICE, "session")
    s = await store.create_session(app="x", user_id="alice", tenant_id="acme")
    with pytest.raises(QuotaLimitReached) as caught:
        await gate.admit(ALICE, "session")
    assert (caught.value.status, caught.value.code) == (403, "quota_limit_reached")
    assert caught.value.details["resets_at"] is None
    await gate.admit(BOB, "session")  # bob has no limit of his own
    await store.delete_session(s.id)
    await gate.admit(ALICE, "session")


def test_quotas_through_the_api(served):
    from server_support import ADMIN_KEY

    from roost.server import AgentApp

    app = AgentApp("quotas", admin_key=ADMIN_KEY, rate_limit=None, auth_failure_limit=None)

    @app.agent(name="echo")
    async def echo(msg, ctx):
        yield f"echo {msg.text}"

    s = served(app)
    with s.client() as admin:
        boss = admin.post(
            "/v1/keys", json={"name": "b", "role": "tenant_admin", "tenant_id": "acme"}
        ).json()
        user = admin.post("/v1/keys", json={"name": "u", "tenant_id": "acme", "user_id": "u1"})
        limits = {"runs_per_minute": 5, "open_sessions": 10}
        r = admin.put("/v1/tenants/acme/quotas", json=limits)
        assert r.status_code == 200, r.text
        assert admin.put("/v1/tenants/acme/quotas", json={"runs": 1}).status_code == 422
    with s.client(boss["key"]) as c:
        assert c.put("/v1/tenants/acme/quotas", json={}).status_code == 403  # a platform admin's
        r = c.put("/v1/tenants/acme/users/u1/quotas", json={"runs_per_minute": 1})
        assert r.status_code == 200, r.text
        shown = c.get("/v1/tenants/acme/quotas").json()
        assert {q["quota"] for q in shown["quotas"]} == {"runs_per_minute", "open_sessions"}
        assert shown["users"][0]["user_id"] == "u1"
    with s.client(user.json()["key"]) as c:
        sid = c.post("/v1/sessions", json={}).json()["id"]
        ok = c.post(f"/v1/sessions/{sid}/runs", json={"input": "hi", "stream": False})
        assert ok.status_code == 200, ok.text
        refused = c.post(f"/v1/sessions/{sid}/runs", json={"input": "hi", "stream": False})
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == "quota_exceeded"
        assert error["details"]["quota"] == "runs_per_minute"
        assert error["details"]["scope"] == "user" and error["details"]["resets_at"]
        assert int(refused.headers["retry-after"]) >= 1
        mine = c.get("/v1/quotas").json()
        assert mine["user_quotas"][0]["used"] == 1 and mine["tenant_quotas"][1]["used"] == 1
