"""Gray release over HTTP: policies are validated, sessions stick to their version, the
guard rolls a failing canary back within its window and no v1 session moves."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from server_support import ADMIN_KEY, wait_until

from roost.core import Msg
from roost.evals import enable_evals
from roost.evals.release import ReleasePolicy, choose
from roost.server import AgentApp, AgentContext


def shop_app(tmp_path: Any) -> AgentApp:
    app = AgentApp(
        "shop",
        admin_key=ADMIN_KEY,
        rate_limit=None,
        auth_failure_limit=None,
        store_url=f"sqlite:///{tmp_path / 'shop.db'}",
    )
    calls = itertools.count()

    @app.agent(name="shop@v1")
    async def v1(msg: Msg, ctx: AgentContext) -> AsyncIterator[str]:
        yield "v1 ok"

    @app.agent(name="shop@v2")
    async def v2(msg: Msg, ctx: AgentContext) -> AsyncIterator[str]:
        """Fails 3 runs in 10: the injected fault of the canary."""
        if next(calls) % 10 < 3:
            raise RuntimeError("injected fault")
        yield "v2 ok"

    enable_evals(app, guard_interval=0.1, release_ttl=0.05)
    return app


def _as(user: str) -> dict[str, str]:
    return {"authorization": f"Bearer {ADMIN_KEY}", "x-roost-user": user}


def _session(c: httpx.Client, user: str, **headers: str) -> dict[str, Any]:
    r = c.post("/v1/sessions", json={"agent": "shop"}, headers={**_as(user), **headers})
    assert r.status_code == 201, r.text
    return dict(r.json())


def _turn(c: httpx.Client, session: dict[str, Any], user: str) -> str:
    r = c.post(
        f"/v1/sessions/{session['id']}/runs",
        json={"input": "hi", "stream": False},
        headers=_as(user),
    )
    if r.status_code == 500:  # the run failed: the agent's error, as the API reports it
        assert r.json()["error"]["code"] == "agent_error", r.text
        return "failed"
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


def test_bad_policies_are_refused_with_a_typed_error(served, tmp_path):
    s = served(shop_app(tmp_path))
    with s.client() as c:
        for body, words in (
            ({"stable": "v1", "weights": {"v1": 80, "v2": 10}}, "add up to 90"),
            ({"stable": "v1", "weights": {"v1": 50, "v9": 50}}, "unknown version"),
            ({"stable": "v1", "weights": {"v1": 110, "v2": -10}}, "less than or equal to 100"),
            ({"stable": "v1", "tenants": "acme"}, "tenants"),
        ):
            r = c.put("/v1/releases/shop", json=body)
            assert r.status_code == 422, r.text
            assert r.json()["error"]["code"] == "release_policy_invalid"
            assert words in r.json()["error"]["message"], r.text
        assert c.get("/v1/releases/nope").json()["error"]["code"] == "release_not_found"
        # a user key may not move traffic
        key = c.post("/v1/keys", json={"name": "u", "user_id": "u1"}).json()["key"]
        r = httpx.get(s.url + "/v1/releases/shop", headers={"authorization": f"Bearer {key}"})
        assert r.status_code == 403


def test_users_tenants_and_headers_pick_versions_and_sessions_stick(served, tmp_path):
    s = served(shop_app(tmp_path))
    with s.client() as c:
        policy = {
            "stable": "v1",
            "weights": {"v1": 100, "v2": 0},
            "users": {"v2": ["carol"]},
            "header": "X-Shop-Version",
        }
        assert c.put("/v1/releases/shop", json=policy).status_code == 200
        assert _session(c, "carol")["agent"] == "shop@v2"
        assert _session(c, "dave")["agent"] == "shop@v1"
        assert _session(c, "dave", **{"x-shop-version": "v2"})["agent"] == "shop@v2"
        first = _session(c, "erin")
        unnamed = c.post("/v1/sessions", json={}, headers={**_as("carol")})
        assert unnamed.json()["agent"] == "shop@v2"  # the default agent's versions are released too
        r = c.post("/v1/releases/shop/weights", json={"weights": {"v1": 0, "v2": 100}})
        assert r.status_code == 200 and r.json()["revision"] == 2
        time.sleep(0.1)  # the router's cache
        assert _session(c, "erin")["agent"] == "shop@v2"
        assert _turn(c, first, "erin") == "succeeded"
        assert (
            c.get(f"/v1/sessions/{first['id']}", headers=_as("erin")).json()["agent"] == "shop@v1"
        )
        history = c.get("/v1/releases/shop").json()["events"]
        assert [e["kind"] for e in history] == ["weights_set", "policy_set"]
        assert history[0]["detail"]["to"] == {"v1": 0.0, "v2": 100.0}
        promoted = c.post("/v1/releases/shop/promote", json={"version": "v2"}).json()
        assert promoted["policy"]["stable"] == "v2" and promoted["policy"]["status"] == "promoted"


def test_a_failing_canary_is_rolled_back_by_its_guard_and_no_v1_session_moves(served, tmp_path):
    s = served(shop_app(tmp_path))
    with s.client() as c:
        policy = {
            "stable": "v1",
            "weights": {"v1": 50, "v2": 50},
            "guard": {
                "canary": "v2",
                "window_s": 60,
                "min_runs": 10,
                "rules": [{"metric": "error_rate", "op": ">", "threshold": 0.2}],
            },
        }
        assert c.put("/v1/releases/shop", json=policy).status_code == 200
        time.sleep(0.1)
        sessions = {f"user{i}": _session(c, f"user{i}") for i in range(60)}
        on = {
            v: [u for u, x in sessions.items() if x["agent"] == f"shop@{v}"] for v in ("v1", "v2")
        }
        assert len(on["v1"]) > 10 and len(on["v2"]) > 10  # about half each
        for user in on["v2"][:20] + on["v1"][:5]:
            _turn(c, sessions[user], user)

        def rolled_back() -> Any:
            return c.get("/v1/releases/shop").json()["policy"]["status"] == "rolled_back"

        wait_until(rolled_back, timeout=10)
        status = c.get("/v1/releases/shop").json()
        assert status["policy"]["weights"] == {"v1": 100.0}
        fired = status["events"][0]
        assert fired["kind"] == "guard_rollback" and fired["actor"] == "guard"
        assert fired["detail"]["value"] > 0.2
        assert status["metrics"]["v2"]["error_rate"] > 0.2
        time.sleep(0.1)
        # new sessions go to stable; sessions that started on v1 stay there
        assert {_session(c, f"new{i}")["agent"] for i in range(10)} == {"shop@v1"}
        for user in on["v1"]:
            got = c.get(f"/v1/sessions/{sessions[user]['id']}", headers=_as(user)).json()
            assert got["agent"] == "shop@v1"
        assert _turn(c, sessions[on["v1"][0]], on["v1"][0]) == "succeeded"


def test_weights_split_callers_by_a_stable_hash():
    policy = ReleasePolicy(stable="v1", weights={"v1": 90, "v2": 10})
    picks = [
        choose("a", policy, user_id=f"u{i}", tenant_id=None, key="k", headers={})
        for i in range(5000)
    ]
    share = picks.count("v2") / len(picks)
    assert 0.08 < share < 0.12
    again = [
        choose("a", policy, user_id=f"u{i}", tenant_id=None, key="k", headers={})
        for i in range(5000)
    ]
    assert again == picks


def test_a_policy_change_reaches_another_replica_without_restart(served, tmp_path):
    one, two = served(shop_app(tmp_path)), served(shop_app(tmp_path))  # one database
    with one.client() as a, two.client() as b:
        assert _session(b, "frank")["agent"] == "shop@v1"  # no policy: the first version
        r = a.put("/v1/releases/shop", json={"stable": "v1", "weights": {"v2": 100, "v1": 0}})
        assert r.status_code == 200
        wait_until(lambda: _session(b, "frank")["agent"] == "shop@v2", timeout=5)


async def test_the_guard_also_watches_the_canarys_eval_score(tmp_path):
    from roost.evals import EvalRecords
    from roost.evals.rollout import Releases

    app = shop_app(tmp_path)
    await app.startup()
    try:
        services = app.services
        releases = Releases(services.store, services.agents)
        policy = {
            "stable": "v1",
            "weights": {"v1": 50, "v2": 50},
            "guard": {
                "canary": "v2",
                "min_runs": 1,
                "rules": [{"metric": "eval_pass_rate", "op": "<", "threshold": 0.8}],
            },
        }
        await releases.set_policy("shop", policy, "admin")
        session = await services.store.create_session(app="t", agent="shop@v2", user_id="u")
        handle = await services.executor.start(session, [Msg.user("hi")])
        await handle.done.wait()
        assert await releases.check_guards() == []  # no experiment of v2 yet: nothing to compare
        records = EvalRecords(services.store)
        exp = await records.create_experiment("ds", "shop@v2", {})
        await records.finish_experiment(exp.id, "succeeded", {"pass_rate": 0.5})
        fired = await releases.check_guards()
        assert [f["rule"]["metric"] for f in fired] == ["eval_pass_rate"]
        assert (await releases.policy("shop"))[0].status == "rolled_back"
    finally:
        await app.shutdown()
