"""Every role, of the owner's tenant and of another, on every route the router serves:
the answer is what the permission table (roost.govern.roles) says — 403 for a
permission the role lacks, 404 for what is beyond its reach (another tenant's, another
user's), success otherwise — and conversation content never reaches a role that may not
read it (issue 21; decision 0180). Routes added later join: the test reads the router
and each route's declared permission.
"""

from __future__ import annotations

import httpx
from server_support import Served
from test_access_matrix import (
    ABSENT_PARAMS,
    MARKER,
    PUBLIC,
    RESOURCE_PARAMS,
    _bearer,
    _key,
    _own,
    _request,
    _route_perms,
    make_app,
)

from roost.govern.roles import ROLES, reach

OWNER_TENANT = "t1"


def _params(template: str) -> set[str]:
    return {seg[1:-1] for seg in template.split("/") if seg.startswith("{")}


def _expected(role: str, tenant: str | None, method: str, template: str, perm: str) -> str:
    """``public``, ``forbidden``, ``hidden`` (404), ``absent`` (404/422) or ``ok``."""
    if template in PUBLIC:
        return "public"
    found = reach(role, perm, tenant)
    if found is None:
        return "forbidden"
    params = _params(template)
    if params & ABSENT_PARAMS:
        return "absent"
    named_in_body = {("POST", "/v1/runs"), ("POST", "/v1/evals/experiments")}
    names = bool(params & RESOURCE_PARAMS) or (method, template) in named_in_body
    if names and not (found == "all" or (found == "tenant" and tenant == OWNER_TENANT)):
        return "hidden"
    return "ok"


def _may_read_content(role: str, tenant: str | None) -> bool:
    """Whether the owner's (alice of t1) content may appear in this caller's answers."""
    found = reach(role, "content.read", tenant)
    return found == "all" or (found == "tenant" and tenant == OWNER_TENANT)


def _check(s: Served, role: str, tenant: str | None, admin: httpx.Client) -> int:
    owner = httpx.Client(base_url=s.url, headers=_bearer(_alice(admin)), timeout=30)
    key = _key(admin, role=role, tenant_id=tenant, user_id=f"{role}-{tenant}")
    spare = _key(admin, user_id="spare", tenant_id=OWNER_TENANT)["id"]
    caller = httpx.Client(base_url=s.url, headers=_bearer(key["key"]), timeout=30)
    checked = 0
    try:
        owned = _own(owner, MARKER)
        for method, template, perm in _route_perms(s):
            if (method, template) == ("POST", "/v1/tenants/{tenant_id}/disable"):
                owned.tenant = "t-spare"  # not the tenant every other key of the test is in
            r = _request(caller, method, template, owned, spare)
            owned.tenant = OWNER_TENANT
            want = _expected(role, tenant, method, template, perm)
            where = (
                f"{role}@{tenant}: {method} {template} ({perm}) -> {r.status_code} {r.text[:160]}"
            )
            if not _may_read_content(role, tenant):
                assert MARKER not in r.text, where
            if want == "public":
                assert r.status_code == 200, where
            elif want == "forbidden":
                assert r.status_code == 403, where
                if method != "HEAD":
                    assert r.json()["error"]["details"]["permission"] == perm, where
            elif want == "hidden":
                assert r.status_code == 404, where
            elif want == "absent":
                assert r.status_code in (404, 422), where
            elif template == "/v1/knowledge-bases" and method == "POST":
                # let in; the body names the owner's tenant, only someone of it (or of
                # every tenant) may make a base there
                mine = tenant in (None, OWNER_TENANT)
                assert r.status_code == (201 if mine else 403), where
            else:  # 409: a finished run cannot be canceled or approved
                assert r.status_code < 300 or r.status_code == 409, where
            checked += 1
    finally:
        owner.close()
        caller.close()
    return checked


_ALICE: dict[str, str] = {}


def _alice(admin: httpx.Client) -> str:
    if "key" not in _ALICE:
        _ALICE["key"] = _key(admin, user_id="alice", tenant_id=OWNER_TENANT)["key"]
    return _ALICE["key"]


def test_every_role_of_every_tenant_gets_what_the_permission_table_says(
    served, roost_home, onnx_dir
):
    # the app's /v1/remember makes memories with the local embedder
    embedders = roost_home / "models" / "embedders"
    embedders.mkdir(parents=True)
    (embedders / onnx_dir.name).symlink_to(onnx_dir)
    _ALICE.clear()
    s = served(make_app())
    with s.client() as admin:
        assert admin.post("/v1/tenants", json={"id": "t-spare"}).status_code == 201
        checked = 0
        for role in ROLES:
            tenants: tuple[str | None, ...] = (OWNER_TENANT, "t2")
            if role in ("admin", "metrics"):
                tenants = (None,)
            elif role == "operator":
                tenants = (OWNER_TENANT, "t2", None)  # None: a platform operator
            for tenant in tenants:
                checked += _check(s, role, tenant, admin)
    assert checked > 12 * 40


def test_a_tenant_role_needs_a_tenant_and_a_tenant_admin_gives_only_its_tenants_roles(served):
    s = served(make_app())
    with s.client() as admin:
        r = admin.post("/v1/keys", json={"name": "x", "role": "tenant_admin"})
        assert r.status_code == 422 and r.json()["error"]["details"]["fields"][0]["field"] == (
            "tenant_id"
        )
        boss = _key(admin, role="tenant_admin", tenant_id="acme", user_id="boss")
        other = _key(admin, role="user", tenant_id="beta", user_id="bob")
    with s.client(boss["key"]) as c:
        made = c.post("/v1/keys", json={"name": "dev", "role": "developer", "expires_in": 3600})
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["tenant_id"] == "acme" and body["key"].startswith("rk_")
        assert body["expires_at"] > body["created_at"]
        for role in ("admin", "metrics"):
            r = c.post("/v1/keys", json={"name": "x", "role": role})
            assert r.status_code == 403, r.text
        r = c.post("/v1/keys", json={"name": "x", "tenant_id": "beta"})
        assert r.status_code == 403
        listed = c.get("/v1/keys").json()["data"]
        assert {k["tenant_id"] for k in listed} == {"acme"}
        assert all("key" not in k for k in listed)  # shown once, at creation
        assert c.delete(f"/v1/keys/{other['id']}").status_code == 404
        users = c.get("/v1/tenants/acme/users").json()["data"]
        assert {u["user_id"] for u in users} == {"boss", body["user_id"]}
        assert c.delete(f"/v1/keys/{body['id']}").status_code == 200
    with s.client(body["key"]) as dev:
        assert dev.get("/v1/sessions").status_code == 401  # revoked


def test_a_disabled_tenant_is_locked_out_and_back_when_enabled(served):
    s = served(make_app())
    with s.client() as admin:
        user = _key(admin, tenant_id="acme", user_id="ann")
        with s.client(user["key"]) as c:
            assert c.get("/v1/sessions").status_code == 200
            assert admin.post("/v1/tenants/acme/disable").json()["disabled"] is True
            assert c.get("/v1/sessions").status_code == 401
            assert admin.post("/v1/tenants/acme/enable").json()["disabled"] is False
            assert c.get("/v1/sessions").status_code == 200


def test_metrics_public_opens_metrics_to_every_key_and_the_scraper_still_only_that(served):
    from server_support import ADMIN_KEY

    from roost.server import AgentApp

    app = AgentApp("m", admin_key=ADMIN_KEY, rate_limit=None, metrics_public=True)

    @app.agent(name="echo")
    async def echo(msg, ctx):
        yield "hi"

    s = served(app)
    with s.client() as admin:
        scraper = _key(admin, role="metrics")["key"]
        user = _key(admin, user_id="u")["key"]
    for key in (scraper, user):
        with s.client(key) as c:
            assert c.get("/metrics").status_code == 200
    with s.client(scraper) as c:
        assert c.get("/v1/sessions").status_code == 403
