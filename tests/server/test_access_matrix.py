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
from roost.govern.roles import Reach, reach
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
    "/a2a/echo@v2/.well-known/agent-card.json",  # a version of an agent is an agent
    "/.well-known/oauth-protected-resource/mcp/agents/echo@v2",
    "/",
    "/console",
    "/console/{page:path}",
    "/console/assets/{name:path}",
}
"""The console's page and files are public: they hold no data."""
RESOURCE_PARAMS = {
    "session_id",
    "run_id",
    "task_id",
    "memory_id",
    "dataset_id",
    "experiment_id",
    "key_id",
    "tenant_id",
    "message_id",
}
"""Path parameters that name someone's resource (a key or a tenant: the whole tenant's).
Who may call a route at all is the permission table's (``roost.govern.roles``)."""
ABSENT_PARAMS = {"kb_id", "document_id", "job_id", "memory_id", "hold_id"}
"""What ``_own`` names "absent" when it makes no knowledge base (the role matrix), and
the legal hold no test makes: 404 for whoever is let in."""
TENANT_PARAMS = {"key_id", "tenant_id"}
"""Parameters naming something of a whole tenant (within reach of ``tenant``, not ``own``)."""
TENANT = "t1"
"""The owner's tenant, whose knowledge base the test makes: shared by the tenant's users
for reading (decision 0162), written by admins only."""
KB_WRITES = {
    ("DELETE", "/v1/knowledge-bases/{kb_id}"),
    ("POST", "/v1/knowledge-bases/{kb_id}/documents"),
    ("DELETE", "/v1/knowledge-bases/{kb_id}/documents/{document_id}"),
    ("POST", "/v1/knowledge-bases/{kb_id}/ingest"),
}
NO_KEY = ("none", "wrong", "basic")


def make_app() -> AgentApp:
    app = AgentApp("matrix", admin_key=ADMIN_KEY, rate_limit=None, auth_failure_limit=None)

    @app.agent(name="echo")
    async def echo(msg: Msg, ctx: AgentContext) -> Any:
        yield f"echo {msg.text}"

    @app.agent(name="echo@v2")
    async def echo_v2(msg: Msg, ctx: AgentContext) -> Any:
        yield f"echo v2 {msg.text}"

    from roost.evals import enable_evals

    enable_evals(app, guard_interval=0)

    @app.task("/v1/jobs/echo")
    async def echo_job(body: Any) -> Any:
        return body

    @app.endpoint("/v1/whoami", methods=["GET"])
    def whoami(principal: Any) -> dict[str, Any]:
        return {"user_id": principal.user_id, "tenant_id": principal.tenant_id}

    @app.endpoint("/v1/remember", methods=["GET"])
    async def remember(principal: Any) -> dict[str, Any]:
        """A long-term memory of the caller's own (the built-in assistant's memory tool
        makes them; this app has no model)."""
        from roost.server.routes.knowledge import memory_for

        memory = memory_for(app.services, principal.tenant_id or "default")
        made = await memory.remember(principal.user_id or principal.key_id, "likes green tea")
        return {"id": made.id}

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
    """One caller's session, finished run, task and memory; the tenant's knowledge base
    with a document and its ingestion job; a file on the server to ingest."""

    session: str
    run: str
    task: str
    memory: str
    kb: str
    document: str
    job: str
    file: str
    dataset: str = "-"
    experiment: str = "-"
    case: str = "-"
    tenant: str = "t1"
    user: str = "alice"
    message: str = "-"


def permission(route: Route, method: str) -> str:
    """The permission the route is served under (from its ``Doc``, as the router does)."""
    del method  # one Doc per Route: a method of its own is a Route of its own
    return str(route.roost_doc.needs)  # type: ignore[attr-defined]


def granted(role: str, perm: str, tenant: str | None) -> Reach | None:
    return reach(role, perm, tenant)


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


@dataclass
class Knowledge:
    kb: str
    document: str
    job: str
    file: str


def _knowledge(admin: httpx.Client, tmp_path: Any) -> Knowledge:
    """A knowledge base of the owner's tenant, made by an admin, with one document."""
    made = admin.post("/v1/knowledge-bases", json={"name": "handbook", "tenant_id": TENANT})
    assert made.status_code == 201, made.text
    kb = made.json()["id"]
    up = admin.post(
        f"/v1/knowledge-bases/{kb}/documents",
        params={"name": "tea.txt"},
        content=b"Green tea is served at ten.",
    )
    assert up.status_code == 202, up.text
    job = up.json()["id"]
    wait_until(
        lambda: admin.get(f"/v1/knowledge-bases/{kb}/jobs/{job}").json()["status"] == "succeeded"
    )
    docs = admin.get(f"/v1/knowledge-bases/{kb}/documents").json()["data"]
    file = tmp_path / "coffee.txt"
    file.write_text("Coffee is served at three.")
    return Knowledge(kb, docs[0]["id"], job, str(file))


def _own(c: httpx.Client, marker: str, kb: Knowledge | None = None, evals: bool = True) -> Owned:
    r = c.post("/v1/sessions", json={"metadata": {"marker": marker}})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    run = c.post(f"/v1/sessions/{sid}/runs", json={"input": marker, "stream": False})
    assert run.status_code == 200 and run.json()["status"] == "succeeded", run.text
    task = c.post("/v1/jobs/echo", json={"marker": marker})
    assert task.status_code == 202, task.text
    task_id = task.json()["id"]
    wait_until(lambda: c.get(f"/v1/tasks/{task_id}").json()["status"] == "completed")
    evaluated: dict[str, str] = {}
    if evals:  # an experiment's cases are sessions and runs of their own
        ds = c.post("/v1/evals/datasets", json={"name": marker, "cases": [{"input": marker}]})
        assert ds.status_code == 201, ds.text
        exp = c.post("/v1/evals/experiments", json={"dataset": ds.json()["id"], "agent": "echo"})
        assert exp.status_code == 202, exp.text
        exp_id = exp.json()["id"]
        wait_until(lambda: c.get(f"/v1/evals/experiments/{exp_id}").json()["status"] == "succeeded")
        case = c.get(f"/v1/evals/datasets/{ds.json()['id']}").json()["data"][0]["id"]
        evaluated = {"dataset": ds.json()["id"], "experiment": exp_id, "case": case}
    if kb is None:  # no knowledge routes called
        return Owned(
            sid,
            run.json()["id"],
            task_id,
            *(["absent"] * 4),
            "/absent",
            **evaluated,
            message=run.json()["output"]["id"],
        )
    memory = c.get("/v1/remember")
    assert memory.status_code == 200, memory.text
    return Owned(
        sid,
        run.json()["id"],
        task_id,
        memory.json()["id"],
        kb.kb,
        kb.document,
        kb.job,
        kb.file,
        **evaluated,
        message=run.json()["output"]["id"],
    )


def _routes(s: Served) -> list[tuple[str, str]]:
    return [(m, t) for m, t, _ in _route_perms(s)]


def _route_perms(s: Served) -> list[tuple[str, str, str]]:
    """``(method, path template, permission)`` of every route the running app's router
    serves, deletions last (so that they do not take the resources away from other
    cells), the longer paths first among them (a document before its knowledge base)."""
    out = []
    for route in s.app.router.routes:
        assert isinstance(route, Route), f"teach this test about {route!r}"
        out += [(m, route.path, permission(route, m)) for m in sorted(route.methods or ())]
    return sorted(out, key=lambda mp: (mp[0] == "DELETE", mp[0] == "DELETE" and -len(mp[1])))


def _request(
    c: httpx.Client, method: str, template: str, res: Owned, key_id: str
) -> httpx.Response:
    values = {
        "session_id": res.session,
        "run_id": res.run,
        "task_id": res.task,
        "call_id": "call_1",
        "key_id": key_id,
        "memory_id": res.memory,
        "kb_id": res.kb,
        "document_id": res.document,
        "job_id": res.job,
        "page:path": "sessions",
        "name:path": "app.css",
        "dataset_id": res.dataset,
        "experiment_id": res.experiment,
        "case_id": res.case,
        "agent": "echo",
        "tenant_id": res.tenant,
        "user_id": res.user,
        "message_id": res.message,
        "hold_id": "hold_matrix",  # none such: 404 for an admin too, 403 for the others
        "name": "matrix-secret",
    }
    path = template
    for name in (seg[1:-1] for seg in template.split("/") if seg.startswith("{")):
        if name not in values:
            pytest.fail(f"{method} {template}: teach this test what {{{name}}} names")
        path = path.replace("{" + name + "}", values[name])
    headers = {}
    body: Any = None
    if (method, template) == ("POST", "/v1/knowledge-bases/{kb_id}/documents"):
        return c.post(path, params={"name": "more.txt"}, content=b"Water is free.")
    if template == "/v1/evals/experiments/{experiment_id}/compare":
        path += f"?baseline={res.experiment}"
    if (method, template) == ("PUT", "/v1/releases/{agent}"):
        body = {"stable": "v2"}
    if (method, template) == ("POST", "/v1/runs"):
        headers["x-session-id"] = res.session
    if (method, template) == ("POST", "/v1/chat/completions"):
        headers["x-session-id"] = res.session
        body = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
    elif template.startswith("/mcp/agents/"):
        headers["accept"] = "application/json, text/event-stream"
        body = {"jsonrpc": "2.0", "id": 1, "method": "resources/list"}
    elif method == "POST" and template.startswith("/a2a/"):
        body = {"jsonrpc": "2.0", "id": 1, "method": "ListTasks", "params": {}}
    elif method == "POST" and template.startswith("/ag-ui/"):
        body = {"threadId": "t", "messages": [{"role": "user", "content": "hi"}]}
    elif method == "POST":
        body = {
            "/v1/sessions/{session_id}/runs": {"input": "hi", "stream": False},
            "/v1/runs": {"input": "hi", "stream": False},
            "/v1/runs/{run_id}/approvals/{call_id}": {"approve": True},
            "/v1/keys": {"name": "made-in-matrix"},
            "/v1/knowledge-bases": {"name": "kb-" + uuid.uuid4().hex, "tenant_id": TENANT},
            "/v1/knowledge-bases/{kb_id}/ingest": {"paths": [res.file]},
            "/v1/knowledge-bases/{kb_id}/search": {"query": "tea", "mode": "bm25"},
            "/v1/tenants": {"id": "made-in-matrix"},
            "/v1/evals/datasets": {"name": "made-in-matrix"},
            "/v1/evals/datasets/{dataset_id}/cases": {"cases": [{"input": "hi"}]},
            "/v1/evals/datasets/{dataset_id}/cases/from-run": {"run_id": res.run},
            "/v1/evals/experiments": {"dataset": res.dataset, "agent": "echo"},
            "/v1/releases/{agent}/weights": {"weights": {"v2": 100}},
            "/v1/releases/{agent}/promote": {"version": "v2"},
            "/v1/audit/holds": {"user_id": "nobody", "reason": "matrix"},
            "/v1/responses": {"model": "echo", "input": "hi"},
        }.get(template, {})
    elif method == "PUT" and body is None:
        body = {"/v1/secrets/{name}": {"value": "matrix-secret-value"}}.get(template, {})
    return c.request(method, path, json=body, headers=headers)


def _names_a_resource(method: str, template: str) -> bool:
    params = {seg[1:-1] for seg in template.split("/") if seg.startswith("{")}
    named_in_body = {("POST", "/v1/runs"), ("POST", "/v1/evals/experiments")}
    return bool(params & RESOURCE_PARAMS) or (method, template) in named_in_body


def _same_tenant(caller: str) -> bool:
    return caller in ("owner", "user")


def test_every_route_refuses_every_caller_but_the_owner(served, tmp_path, roost_home, onnx_dir):
    # the knowledge routes embed with the local embedder, installed as `roost kb
    # install-embedder` does
    embedders = roost_home / "models" / "embedders"
    embedders.mkdir(parents=True)
    (embedders / onnx_dir.name).symlink_to(onnx_dir)
    s = served(make_app())
    with s.client() as admin:
        callers = _callers(admin)
        spare_key = _key(admin, user_id="spare")["id"]  # a key of no tenant
        assert admin.post("/v1/tenants", json={"id": "t9"}).status_code == 201
        kb = _knowledge(admin, tmp_path)
    clients = {
        name: httpx.Client(base_url=s.url, headers=c.headers, timeout=30)
        for name, c in callers.items()
    }
    try:
        owned = _own(clients["owner"], MARKER, kb)
        routes = _route_perms(s)
        assert ("GET", "/v1/runs/{run_id}/trace", "traces.read") in routes  # other layers' too
        for name in callers:
            if name in ("owner", "admin"):
                continue
            c = clients[name]
            for method, template, perm in routes:
                r = _request(c, method, template, owned, spare_key)
                where = f"{name}: {method} {template} -> {r.status_code} {r.text[:200]}"
                assert MARKER not in r.text, where
                if name in NO_KEY:
                    assert r.status_code == (200 if template in PUBLIC else 401), where
                elif template not in PUBLIC and granted("user", perm, None) is None:
                    assert r.status_code == 403, where
                elif (method, template) in KB_WRITES:
                    assert r.status_code in (403, 404), where
                elif "{kb_id}" in template:
                    assert r.status_code == (200 if _same_tenant(name) else 404), where
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

        # the owner, then an admin (with resources of its own), reach every route they
        # are granted (a user: nothing of a whole tenant, not even its own tenant's)
        admin_owned = _own(clients["admin"], "admin's", kb)
        admin_owned.tenant = "t9"
        for name, res in (("owner", owned), ("admin", admin_owned)):
            for method, template, perm in routes:
                r = _request(clients[name], method, template, res, spare_key)
                where = f"{name}: {method} {template} -> {r.status_code} {r.text[:200]}"
                params = {seg[1:-1] for seg in template.split("/") if seg.startswith("{")}
                if name == "owner" and template not in PUBLIC and not granted("user", perm, "t1"):
                    assert r.status_code == 403, where
                elif name == "owner" and params & TENANT_PARAMS:
                    assert r.status_code == 404, where
                elif template == "/v1/audit/holds/{hold_id}":
                    assert r.status_code == 404, where  # no such hold
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
        owned = {name: _own(client, f"{name}'s", evals=False) for name, client in clients.items()}
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
