"""Auth, key management, tenancy, CORS, body size and rate limits on a real server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from server_support import ADMIN_KEY, new_session

from roost.core import ConfigError, Msg, Unauthorized
from roost.server import AgentApp, AgentContext


def make_app(**options: Any) -> AgentApp:
    options.setdefault("admin_key", ADMIN_KEY)
    app = AgentApp("sec", **options)

    @app.agent
    async def echo(msg: Msg, ctx: AgentContext) -> Any:
        yield f"{ctx.user_id}:{msg.text}"

    return app


def test_every_route_but_health_needs_a_key(served):
    s = served(make_app())
    with s.client(key=None) as anon, s.client(key="rk_" + "B" * 43) as wrong:
        for method, path in [
            ("POST", "/v1/sessions"),
            ("GET", "/v1/sessions/x"),
            ("POST", "/v1/chat/completions"),
            ("GET", "/metrics"),
            ("GET", "/openapi.json"),
            ("POST", "/v1/keys"),
        ]:
            for client in (anon, wrong):
                r = client.request(method, path, json={})
                assert r.status_code == 401, (method, path)
                assert r.json()["error"]["code"] == "unauthorized"
        garbage = anon.get("/v1/sessions", headers={"authorization": "Basic abc"})
        assert garbage.status_code == 401
        assert anon.get("/healthz").status_code == 200


def test_first_start_generates_an_admin_key_stored_hashed(served, roost_home, capfd):
    import sqlite3

    app = make_app(admin_key=None)
    served(app)
    key = app.created_admin_key
    assert key and key.startswith("rk_")
    assert key in capfd.readouterr().err  # printed once, at first start
    db = sqlite3.connect(roost_home / "roost.db")
    stored = [row[0] for row in db.execute("select key_hash from api_keys")]
    assert key not in stored and len(stored) == 1  # only the hash is kept
    # the next start finds it and prints nothing
    app2 = make_app(admin_key=None)
    served(app2)
    assert app2.created_admin_key is None


def test_user_keys_see_only_their_own_sessions(served):
    s = served(make_app())
    with s.client() as admin:
        made = admin.post("/v1/keys", json={"name": "alice", "user_id": "alice", "tenant_id": "t1"})
        assert made.status_code == 201
        alice_key = made.json()["key"]
        bob_key = admin.post("/v1/keys", json={"name": "bob", "user_id": "bob"}).json()["key"]
        listed = admin.get("/v1/keys").json()["data"]
        assert all("key" not in k for k in listed)  # plaintext only at creation
    with s.client(key=alice_key) as alice, s.client(key=bob_key) as bob:
        sid = new_session(alice)
        run = alice.post(f"/v1/sessions/{sid}/runs", json={"input": "hi", "stream": False})
        assert run.json()["output"]["content"][0]["text"] == "alice:hi"
        assert bob.get(f"/v1/sessions/{sid}").status_code == 404
        assert bob.post(f"/v1/sessions/{sid}/runs", json={"input": "x"}).status_code == 404
        assert bob.get(f"/v1/runs/{run.json()['id']}").status_code == 404
        assert [x["id"] for x in alice.get("/v1/sessions").json()["data"]] == [sid]
        assert bob.get("/v1/sessions").json()["data"] == []
        forbidden = alice.post("/v1/keys", json={"name": "x"})
        assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden"
        # the service's metrics are the operator's (docs/metrics.md)
        assert alice.get("/metrics").status_code == 403
        # X-Roost-User is ignored for user keys (no impersonation)
        r = bob.post("/v1/sessions", json={}, headers={"x-roost-user": "alice"})
        assert r.json()["user_id"] == "bob"


def test_admin_acts_for_a_user_with_x_roost_user(served):
    s = served(make_app())
    with s.client(headers={"x-roost-user": "carol"}) as admin_as_carol:
        sid = new_session(admin_as_carol)
        assert admin_as_carol.get(f"/v1/sessions/{sid}").json()["user_id"] == "carol"


def test_revoked_key_is_rejected(served):
    s = served(make_app())
    with s.client() as admin:
        made = admin.post("/v1/keys", json={"name": "temp"}).json()
        assert admin.delete(f"/v1/keys/{made['id']}").json()["revoked"] is True
    with s.client(key=made["key"]) as c:
        assert c.get("/v1/sessions").status_code == 401


def test_oversized_body_is_413_by_header_and_by_stream(served):
    s = served(make_app(max_body_bytes=1000))
    with s.client() as c:
        sid = new_session(c)
        big = {"input": "x" * 5000}
        r = c.post(f"/v1/sessions/{sid}/runs", json=big)
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"

        def chunks():  # no Content-Length: counted while streaming
            for _ in range(10):
                yield b"x" * 500

        r2 = c.post(f"/v1/sessions/{sid}/runs", content=chunks())
        assert r2.status_code == 413
        assert r2.json()["error"]["code"] == "payload_too_large"


def test_rate_limit_per_key_is_429_with_retry_after(served):
    s = served(make_app(rate_limit="3/minute"))
    with s.client() as c:
        codes = [c.get("/v1/sessions").status_code for _ in range(4)]
        last = c.get("/v1/sessions")
    assert codes == [200, 200, 200, 429]
    assert last.json()["error"]["code"] == "rate_limited"
    assert int(last.headers["retry-after"]) >= 1


def test_malformed_json_and_bad_fields_are_422_with_field_errors(served):
    s = served(make_app())
    with s.client() as c:
        sid = new_session(c)
        r = c.post(
            f"/v1/sessions/{sid}/runs",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 422
        assert r.json()["error"]["details"]["fields"][0]["type"] == "json_invalid"
        r = c.post(
            f"/v1/sessions/{sid}/runs",
            json={"input": {"role": "wizard", "content": "x"}, "stream": "maybe"},
        )
        body = r.json()["error"]
        assert r.status_code == 422 and body["code"] == "invalid_request"
        fields = {f["field"] for f in body["details"]["fields"]}
        assert "stream" in fields
        r = c.post(f"/v1/sessions/{sid}/runs", json={"input": {"role": "wizard", "content": "x"}})
        assert r.json()["error"]["details"]["fields"][0]["field"].startswith("input.role")
        r = c.post("/v1/sessions", json={"agent": "ghost"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "agent_not_found"


def test_unknown_session_is_404(served):
    s = served(make_app())
    with s.client() as c:
        for r in (
            c.get("/v1/sessions/ses_missing"),
            c.post("/v1/sessions/ses_missing/runs", json={"input": "x"}),
            c.get("/v1/sessions/ses_missing/messages"),
        ):
            assert r.status_code == 404 and r.json()["error"]["code"] == "session_not_found"
        r = c.get("/v1/runs/run_missing")
        assert r.status_code == 404 and r.json()["error"]["code"] == "run_not_found"


def test_cors_is_off_by_default_and_never_a_wildcard(served):
    s = served(make_app())
    with s.client() as c:
        r = c.options(
            "/v1/sessions",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
        assert "access-control-allow-origin" not in r.headers
    with pytest.raises(ConfigError):
        make_app(cors_origins=["*"])
    s2 = served(make_app(cors_origins=["https://app.example"]))
    with httpx.Client(base_url=s2.url) as c:
        ok = c.options(
            "/v1/sessions",
            headers={"origin": "https://app.example", "access-control-request-method": "POST"},
        )
        bad = c.options(
            "/v1/sessions",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
        # every header the API documents may be sent from the browser, X-API-Key too
        api_key = c.options(
            "/v1/sessions",
            headers={
                "origin": "https://app.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "x-api-key, content-type, last-event-id",
            },
        )
    assert api_key.status_code == 200, api_key.text
    assert ok.headers["access-control-allow-origin"] == "https://app.example"
    assert bad.headers.get("access-control-allow-origin") != "https://evil.example"


def test_failed_authentications_are_limited_per_address_with_retry_after(served):
    s = served(make_app(auth_failure_limit="5/minute"))
    with s.client() as admin:
        in_use = admin.post("/v1/keys", json={"name": "a", "user_id": "a"}).json()["key"]
        unused = admin.post("/v1/keys", json={"name": "b", "user_id": "b"}).json()["key"]
    with s.client(key=in_use) as c:
        assert c.get("/v1/sessions").status_code == 200
    with s.client(key="rk_" + "B" * 43) as wrong, s.client(key=None) as nokey:
        assert [wrong.get("/v1/sessions").status_code for _ in range(5)] == [401] * 5
        refused = wrong.get("/v1/sessions")
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        assert nokey.get("/v1/sessions").status_code == 401  # no key: nothing looked up
    with s.client(key=unused) as c:  # not looked up while the address is refused
        assert c.get("/v1/sessions").status_code == 429
    with s.client(key=in_use) as c:  # a key known to be valid keeps working
        assert c.get("/v1/sessions").status_code == 200


async def test_a_flood_of_invalid_keys_does_not_evict_the_valid_ones(roost_home):
    from roost.server.auth import Authenticator
    from roost.store import Store

    store = await Store.open(f"sqlite+aiosqlite:///{roost_home / 'keys.db'}")
    try:
        plaintext, record = await store.create_api_key("k", role="user", user_id="u")
        auth = Authenticator(store, cache_size=10)
        headers = {"authorization": f"Bearer {plaintext}"}
        assert (await auth.authenticate(headers)).user_id == "u"
        await store.revoke_api_key(record.id)  # only the cached verdict can accept it now
        for i in range(50):
            with pytest.raises(Unauthorized):
                await auth.authenticate({"authorization": f"Bearer rk_{i:043d}"})
        assert (await auth.authenticate(headers)).user_id == "u"
    finally:
        await store.close()
