"""The console's routes over real HTTP: the page and its files are public and hold no
data; signing in keeps the key in an HttpOnly, SameSite=Strict cookie that authenticates
only with the X-Roost-Console header; the pages offered follow the key's permissions."""

from __future__ import annotations

import gzip

import httpx
from server_support import ADMIN_KEY, AUTH, Served

CONSOLE = {"x-roost-console": "1"}


def test_the_page_is_served_at_the_root_and_under_console_without_a_key(
    console: Served,
) -> None:
    with httpx.Client(base_url=console.url) as c:
        for path in ("/", "/console", "/console/chat", "/console/runs/run_x/trace"):
            r = c.get(path)
            assert r.status_code == 200, path
            assert r.headers["content-type"].startswith("text/html")
            assert '<script type="module" src="/console/assets/js/main.js">' in r.text
            csp = r.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert r.headers["cache-control"] == "no-cache"


def test_files_are_gzipped_cached_and_revalidated(console: Served) -> None:
    with httpx.Client(base_url=console.url) as c:
        r = c.get("/console/assets/js/main.js", headers={"accept-encoding": "gzip"})
        assert r.status_code == 200
        assert r.headers["content-encoding"] == "gzip"
        assert r.headers["content-type"].startswith("text/javascript")
        assert "export" not in r.text or "api" in r.text  # decoded by httpx
        etag = r.headers["etag"]
        again = c.get("/console/assets/js/main.js", headers={"if-none-match": etag})
        assert again.status_code == 304 and again.content == b""
        raw = c.get("/console/assets/vendor/uPlot.iife.min.js", headers={"accept-encoding": ""})
        assert "content-encoding" not in raw.headers and b"uPlot" in raw.content
        packed = gzip.compress(raw.content)
        assert len(packed) < len(raw.content) / 2


def test_only_packaged_files_are_served(console: Served) -> None:
    with httpx.Client(base_url=console.url) as c:
        for path in (
            "/console/assets/nope.js",
            "/console/assets/.hidden.js",
            "/console/assets/js/..%2f..%2fassets.py",
            "/console/assets/assets.py",
            "/console/assets/%00.js",
        ):
            r = c.get(path)
            assert r.status_code == 404, path
            assert r.json()["error"]["code"] == "not_found"


def test_signing_in_sets_an_httponly_samesite_strict_cookie(console: Served) -> None:
    with httpx.Client(base_url=console.url) as c:
        assert c.post("/v1/console/session").status_code == 401
        bad = c.post("/v1/console/session", headers={"authorization": "Bearer rk_nope"})
        assert bad.status_code == 401 and "set-cookie" not in bad.headers
        r = c.post("/v1/console/session", headers=AUTH)
        assert r.status_code == 201
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"roost_console={ADMIN_KEY};")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain HTTP here; set over TLS
        body = r.json()
        assert body["role"] == "admin" and "keys" in body["pages"] and "alerts" in body["pages"]
        assert body["agents"] == ["assistant", "guarded", "slow"]


def test_the_cookie_alone_authenticates_nothing(console: Served) -> None:
    """A cross-site request can carry neither the SameSite=Strict cookie nor, without a
    preflight the server refuses, the X-Roost-Console header: CSRF-safe."""
    with httpx.Client(base_url=console.url) as c:
        c.post("/v1/console/session", headers=AUTH)
        assert "roost_console" in c.cookies
        assert c.get("/v1/sessions").status_code == 401
        assert c.post("/v1/sessions", json={}).status_code == 401
        assert c.get("/v1/sessions", headers=CONSOLE).status_code == 200
        out = c.delete("/v1/console/session", headers=CONSOLE)
        assert out.status_code == 204
        assert (
            'roost_console=""' in out.headers["set-cookie"]
            or "Max-Age=0" in out.headers["set-cookie"]
        )
        assert "roost_console" not in c.cookies
        assert c.get("/v1/sessions", headers=CONSOLE).status_code == 401


def test_a_user_key_is_offered_only_the_pages_its_api_allows(console: Served) -> None:
    with console.client() as admin:
        key = admin.post("/v1/keys", json={"name": "u", "user_id": "u1", "tenant_id": "t9"})
        key = key.json()["key"]
    with httpx.Client(base_url=console.url, headers={"authorization": f"Bearer {key}"}) as c:
        me = c.get("/v1/console/session").json()
        assert me["role"] == "user" and me["user_id"] == "u1" and me["tenant_id"] == "t9"
        assert set(me["pages"]) == {"chat", "sessions", "runs", "usage", "knowledge"}
        assert c.get("/v1/alerts").status_code == 403
        assert c.get("/v1/keys").status_code == 403


def test_alerts_lists_rules_states_and_history_for_admins(console: Served) -> None:
    with console.client() as c:
        body = c.get("/v1/alerts").json()
    assert {"rules", "states", "history"} <= set(body)
    assert body["rules"] and all("name" in r and "threshold" in r for r in body["rules"])


def test_runs_are_listed_newest_first_by_status_and_only_the_callers(console: Served) -> None:
    with console.client() as admin:
        key = admin.post("/v1/keys", json={"name": "r", "user_id": "runner", "tenant_id": "tr"})
        key = key.json()["key"]
    with httpx.Client(base_url=console.url, headers={"authorization": f"Bearer {key}"}) as c:
        sid = c.post("/v1/sessions", json={"agent": "assistant"}).json()["id"]
        made = [
            c.post(f"/v1/sessions/{sid}/runs", json={"input": "x", "stream": False}).json()["id"]
            for _ in range(3)
        ]
        page = c.get("/v1/runs", params={"limit": 2}).json()
        assert [r["id"] for r in page["data"]] == made[::-1][:2]
        rest = c.get("/v1/runs", params={"limit": 2, "cursor": page["next_cursor"]}).json()
        assert [r["id"] for r in rest["data"]] == [made[0]] and rest["next_cursor"] is None
        assert c.get("/v1/runs", params={"status": "failed"}).json()["data"] == []
        done = c.get("/v1/runs", params={"status": "succeeded", "session_id": sid}).json()
        assert len(done["data"]) == 3
        bad = c.get("/v1/runs", params={"status": "nope"})
        assert (
            bad.status_code == 422
            and bad.json()["error"]["details"]["fields"][0]["field"] == "status"
        )
    with console.client() as admin:  # an admin sees them too; another user does not
        assert len(admin.get("/v1/runs", params={"session_id": sid}).json()["data"]) == 3
        other = {"x-roost-user": "someone-else"}
        theirs = admin.get("/v1/runs", params={"session_id": sid}, headers=other).json()
        assert theirs["data"] == []
