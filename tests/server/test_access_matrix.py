"""Every route the router serves, called by every kind of caller: nobody reaches what is
not theirs (issue 15, HIGH 1; decisions 0067 and 0130).

The routes come from the running app's router, so a route added later is checked too; a
route with a path parameter this file does not know fails until it is taught here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from server_support import ADMIN_KEY, Served, wait_until
from starlette.routing import Route

from roost.core import Msg
from roost.server import AgentApp, AgentContext

MARKER = "secret-" + uuid.uuid4().hex
"""Planted in everything the owner has: no other caller may ever read it."""
PUBLIC = {
    "/healthz",
    "/readyz",
    "/v1/public",
    "/.well-known/agent-card.json",  # A2A cards say how to authenticate
    "/a2a/echo/.well-known/agent-card.json",
    "/.well-known/oauth-protected-resource/mcp/agents/echo",  # how MCP clients authenticate
}
ADMIN_ONLY = {"/v1/keys", "/v1/keys/{key_id}", "/metrics"}
RESOURCE_PARAMS = {"session_id", "run_id", "task_id"}
"""Path parameters that name someone's resource (``key_id`` names an admin's)."""
NO_KEY = ("none", "wrong", "basic")


def make_app() -> AgentApp:
    app = AgentApp("matrix", admin_key=ADMIN_KEY, rate_limit=None, auth_failure_limit=None)

    @app.agent(name="echo")
    async def echo(msg: Msg, ctx: AgentContext) -> Any:
        yield f"echo {msg.text}"

    @app.task("/v1/jobs/echo")
    async def echo_job(body: Any) -> Any:
        return body

    @app.endpoint("/v1/whoami", methods=["GET"])
    def whoami(principal: Any) -> dict[str, Any]:
        return {"user_id": principal.user_id, "tenant_id": principal.tenant_id}

    @app.endpoint("/v1/public", methods=["GET"], public=True)
    def public() -> dict[str, str]:
        return {"ok": "yes"}

    return app


@dataclass
class Caller:
    name: str
    headers: dict[str, str]
    user_id: str | None = None
    tenant_id: str | None = None


@dataclass
class Owned:
    """One caller's session, finished run and task."""

    session: str
    run: str
    task: str


def _key(admin: httpx.Client, **body: Any) -> dict[str, Any]:
    made = admin.post("/v1/keys", json={"name": "k", **body})
    assert made.status_code == 201, made.text
    return dict(made.json())


def _bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def _callers(admin: httpx.Client) -> dict[str, Caller]:
    owner = _key(admin, user_id="alice", tenant_id="t1")
    bob = _key(admin, user_id="bob", tenant_id="t1")
    keyless = _key(admin)
    other_tenant = _key(admin, user_id="alice", tenant_id="t2")
    assert keyless["user_id"] == keyless["id"]  # a key without a user is its own user
    return {
        "none": Caller("none", {}),
        "wrong": Caller("wrong", _bearer("rk_" + "B" * 43)),
        "basic": Caller("basic", {"authorization": "Basic YWxpY2U6cHc="}),
        "owner": Caller("owner", _bearer(owner["key"]), "alice", "t1"),
        "user": Caller("user", _bearer(bob["key"]), "bob", "t1"),
        "user-without-id": Caller("user-without-id", _bearer(keyless["key"]), keyless["id"]),
        "other-tenant": Caller("other-tenant", _bearer(other_tenant["key"]), "alice", "t2"),
        "admin-as-user": Caller(
            "admin-as-user", {**_bearer(ADMIN_KEY), "x-roost-user": "alice"}, "alice"
        ),
        "admin": Caller("admin", _bearer(ADMIN_KEY)),
    }


def _own(c: httpx.Client, marker: str) -> Owned:
    r = c.post("/v1/sessions", json={"metadata": {"marker": marker}})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    run = c.post(f"/v1/sessions/{sid}/runs", json={"input": marker, "stream": False})
    assert run.status_code == 200 and run.json()["status"] == "succeeded", run.text
    task = c.post("/v1/jobs/echo", json={"marker": marker})
    assert task.status_code == 202, task.text
    task_id = task.json()["id"]
    wait_until(lambda: c.get(f"/v1/tasks/{task_id}").json()["status"] == "completed")
    return Owned(sid, run.json()["id"], task_id)


def _routes(s: Served) -> list[tuple[str, str]]:
    """``(method, path template)`` of every route the running app's router serves,
    deletions last (so that they do not take the resources away from other cells)."""
    out = []
    for route in s.app.router.routes:
        assert isinstance(route, Route), f"teach this test about {route!r}"
        out += [(m, route.path) for m in sorted(route.methods or ())]
    return sorted(out, key=lambda mp: mp[0] == "DELETE")


def _request(
    c: httpx.Client, method: str, template: str, res: Owned, key_id: str
) -> httpx.Response:
    values = {
        "session_id": res.session,
        "run_id": res.run,
        "task_id": res.task,
        "call_id": "call_1",
        "key_id": key_id,
    }
    path = template
    for name in (seg[1:-1] for seg in template.split("/") if seg.startswith("{")):
        if name not in values:
            pytest.fail(f"{method} {template}: teach this test what {{{name}}} names")
        path = path.replace("{" + name + "}", values[name])
    headers = {}
    body: Any = None
    if (method, template) == ("POST", "/v1/runs"):
        headers["x-session-id"] = res.session
    if (method, template) == ("POST", "/v1/chat/completions"):
        headers["x-session-id"] = res.session
        body = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
    elif template.startswith("/mcp/agents/"):
        headers["accept"] = "application/json, text/event-stream"
        body = {"jsonrpc": "2.0", "id": 1, "method": "resources/list"}
    elif method == "POST":
        body = {
            "/v1/sessions/{session_id}/runs": {"input": "hi", "stream": False},
            "/v1/runs": {"input": "hi", "stream": False},
            "/v1/runs/{run_id}/approvals/{call_id}": {"approve": True},
            "/v1/keys": {"name": "made-in-matrix"},
            "/v1/responses": {"model": "echo", "input": "hi"},
            "/ag-ui/echo": {"threadId": "t", "messages": [{"role": "user", "content": "hi"}]},
        }.get(template, {})
    return c.request(method, path, json=body, headers=headers)


def _names_a_resource(method: str, template: str) -> bool:
    params = {seg[1:-1] for seg in template.split("/") if seg.startswith("{")}
    return bool(params & RESOURCE_PARAMS) or (method, template) == ("POST", "/v1/runs")


def test_every_route_refuses_every_caller_but_the_owner(served):
    s = served(make_app())
    with s.client() as admin:
        callers = _callers(admin)
        spare_key = _key(admin, user_id="spare")["id"]
    clients = {
        name: httpx.Client(base_url=s.url, headers=c.headers, timeout=30)
        for name, c in callers.items()
    }
    try:
        owned = _own(clients["owner"], MARKER)
        routes = _routes(s)
        assert ("GET", "/v1/runs/{run_id}/trace") in routes  # other layers' routes too
        for name in callers:
            if name in ("owner", "admin"):
                continue
            c = clients[name]
            for method, template in routes:
                r = _request(c, method, template, owned, spare_key)
                where = f"{name}: {method} {template} -> {r.status_code} {r.text[:200]}"
                assert MARKER not in r.text, where
                if name in NO_KEY:
                    assert r.status_code == (200 if template in PUBLIC else 401), where
                elif template in ADMIN_ONLY:
                    assert r.status_code == 403, where
                elif _names_a_resource(method, template):
                    assert r.status_code == 404, where
                else:
                    assert r.status_code < 300, where
                    if template == "/v1/chat/completions":  # the id names its own session
                        assert r.headers["x-session-id"] != owned.session, where
        # nothing the others tried changed what the owner has
        owner = clients["owner"]
        session = owner.get(f"/v1/sessions/{owned.session}").json()
        assert session["metadata"] == {"marker": MARKER}
        assert owner.get(f"/v1/runs/{owned.run}").json()["status"] == "succeeded"
        messages = owner.get(f"/v1/sessions/{owned.session}/messages").json()["data"]
        assert len(messages) == 2

        # the owner, then an admin (with resources of its own), reach every route
        admin_owned = _own(clients["admin"], "admin's")
        for name, res in (("owner", owned), ("admin", admin_owned)):
            for method, template in routes:
                r = _request(clients[name], method, template, res, spare_key)
                where = f"{name}: {method} {template} -> {r.status_code} {r.text[:200]}"
                if name == "owner" and template in ADMIN_ONLY:
                    assert r.status_code == 403, where
                else:  # found (409: a finished run cannot be canceled or approved)
                    assert r.status_code < 300 or r.status_code == 409, where
    finally:
        for client in clients.values():
            client.close()


def test_listings_hold_only_the_callers_own_data(served):
    s = served(make_app())
    with s.client() as admin:
        callers = _callers(admin)
    scoped = [c for c in callers.values() if c.user_id is not None]
    clients = {c.name: httpx.Client(base_url=s.url, headers=c.headers, timeout=30) for c in scoped}
    try:
        owned = {name: _own(client, f"{name}'s") for name, client in clients.items()}
        extra = clients["owner"].post(
            f"/v1/sessions/{owned['owner'].session}/runs", json={"input": "2", "stream": False}
        )
        assert extra.status_code == 200
        for caller in scoped:
            c = clients[caller.name]
            sessions = c.get("/v1/sessions").json()
            assert [x["id"] for x in sessions["data"]] == [owned[caller.name].session]
            assert sessions["next_cursor"] is None
            mine = {"user_id": caller.user_id, "tenant_id": caller.tenant_id}
            assert {k: sessions["data"][0].get(k) for k in mine} == mine
            for group_by in ("session", "user", "tenant", "model", "agent"):
                usage = c.get("/v1/usage", params={"group_by": group_by}).json()
                assert [row["user"] for row in usage["data"]] == [caller.user_id]
                runs = 2 if caller.name == "owner" else 1
                assert sum(row["runs"] for row in usage["data"]) == runs, caller.name
        everything = httpx.get(
            s.url + "/v1/sessions", headers={"authorization": f"Bearer {ADMIN_KEY}"}
        ).json()
        assert {x["id"] for x in everything["data"]} == {o.session for o in owned.values()}
    finally:
        for client in clients.values():
            client.close()


def test_an_admin_key_acts_for_a_tenant_only_with_a_user(served):
    s = served(make_app())
    with s.client(headers={"x-roost-tenant": "t1"}) as admin:
        r = admin.get("/v1/sessions")
    assert r.status_code == 422
    assert r.json()["error"]["details"]["fields"][0]["field"] == "X-Roost-User"
