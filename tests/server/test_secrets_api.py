"""``/v1/secrets`` and ``/v1/data-protection``: admin only, values never returned whole;
a protected tenant's runs stream and read back while the database holds ciphertext; a
confidential tenant's prompt never reaches a public model and the run's events say so."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from server_support import ADMIN_KEY

from fake_providers import FakeOpenAIServer
from roost.agents import ReActAgent
from roost.core import Msg
from roost.govern.routing import PrivacyRouter
from roost.models.openai import OpenAIChatModel
from roost.server import AgentApp, AgentContext

SECRET_TEXT = "my card is 6222 0212 3456 7890 128 and the vault code is 7741"


def make_app(public_url: str) -> AgentApp:
    app = AgentApp("gov", admin_key=ADMIN_KEY, rate_limit=None, auth_failure_limit=None)

    @app.agent(name="echo")
    async def echo(msg: Msg, ctx: AgentContext) -> Any:
        yield f"echo {msg.text}"

    @app.agent(name="assistant")
    def assistant(ctx: AgentContext) -> ReActAgent:
        public = OpenAIChatModel("gpt-public", base_url=public_url, api_key="k")
        public.private = False  # type: ignore[attr-defined]  # stands for a public API
        return ReActAgent("assistant", PrivacyRouter(public))

    return app


def test_secret_routes_are_admin_only_and_never_return_the_value(served: Any) -> None:
    with FakeOpenAIServer() as fake:
        s = served(make_app(fake.url))
        with s.client() as admin:
            put = admin.put("/v1/secrets/openai-key", json={"value": "sk-live-abcdef0123456789"})
            assert put.status_code == 200, put.text
            assert put.json()["preview"] == "••••6789" and "abcdef" not in put.text
            got = admin.get("/v1/secrets/openai-key")
            assert got.json()["version"] == 1 and "sk-live" not in got.text
            assert [x["name"] for x in admin.get("/v1/secrets").json()["data"]] == [
                "dlp/hash-key",
                "openai-key",
            ]
            user = admin.post("/v1/keys", json={"name": "u", "tenant_id": "t1", "user_id": "u"})
            with s.client(user.json()["key"]) as c:
                assert c.get("/v1/secrets/openai-key").status_code == 403
                assert c.put("/v1/secrets/x", json={"value": "v"}).status_code == 403
            bad = admin.put("/v1/secrets/has space", json={"value": "v"})
            assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_secret_name"
            assert admin.delete("/v1/secrets/openai-key").status_code == 200
            missing = admin.get("/v1/secrets/openai-key")
            assert missing.status_code == 404
            assert missing.json()["error"]["code"] == "secret_not_found"


def test_protected_tenant_content_is_sealed_and_reads_back(served: Any, roost_home: Path) -> None:
    with FakeOpenAIServer() as fake:
        s = served(make_app(fake.url))
        with s.client() as admin:
            r = admin.put("/v1/data-protection/t1", json={"encrypt": True})
            assert r.status_code == 200 and r.json()["encrypt"] is True, r.text
            bad = admin.put(
                "/v1/data-protection/t1", json={"policy": {"actions": {"logs": "route"}}}
            )
            assert bad.status_code == 422
            rotated = admin.post("/v1/data-protection/t1/rotate-key")
            assert rotated.status_code == 200, rotated.text
            assert admin.post("/v1/data-protection/t9/rotate-key").status_code == 409
            key = admin.post("/v1/keys", json={"name": "u", "tenant_id": "t1", "user_id": "u"})
        with s.client(key.json()["key"]) as c:
            sid = c.post("/v1/sessions", json={"agent": "echo"}).json()["id"]
            run = c.post(f"/v1/sessions/{sid}/runs", json={"input": SECRET_TEXT, "stream": False})
            assert run.status_code == 200 and run.json()["status"] == "succeeded", run.text
            texts = [m["content"] for m in c.get(f"/v1/sessions/{sid}/messages").json()["data"]]
            assert SECRET_TEXT in str(texts)
            events = c.get(f"/v1/runs/{run.json()['id']}/events")
            assert "7741" in events.text
    db = sqlite3.connect(roost_home / "roost.db")
    try:
        stored = [r[0] for r in db.execute("SELECT content FROM messages")]
        stored += [r[0] for r in db.execute("SELECT payload FROM run_events")]
    finally:
        db.close()
    assert stored and not any("7741" in v for v in stored)


def test_confidential_tenant_prompt_is_refused_and_the_run_says_why(served: Any) -> None:
    with FakeOpenAIServer() as fake:
        s = served(make_app(fake.url))
        with s.client() as admin:
            admin.put("/v1/data-protection/t1", json={"confidential": True})
            key = admin.post("/v1/keys", json={"name": "u", "tenant_id": "t1", "user_id": "u"})
            other = admin.post("/v1/keys", json={"name": "o", "tenant_id": "t2", "user_id": "o"})
        with s.client(key.json()["key"]) as c:
            sid = c.post("/v1/sessions", json={"agent": "assistant"}).json()["id"]
            run = c.post(f"/v1/sessions/{sid}/runs", json={"input": "hello", "stream": False})
            assert run.status_code == 403, run.text
            error = run.json()["error"]
            assert error["code"] == "prompt_blocked_by_policy"
            run_id = error["details"]["run_id"]
            assert c.get(f"/v1/runs/{run_id}").json()["status"] == "failed"
            events = c.get(f"/v1/runs/{run_id}/events").text
            assert '"policy.applied"' in events and '"refused"' in events
        assert fake.requests == []
        with s.client(other.json()["key"]) as c:  # another tenant's clean prompt goes out
            sid = c.post("/v1/sessions", json={"agent": "assistant"}).json()["id"]
            run = c.post(f"/v1/sessions/{sid}/runs", json={"input": "hello", "stream": False})
            assert run.json()["status"] == "succeeded", run.text
        assert len(fake.requests) == 1
