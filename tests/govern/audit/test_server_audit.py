"""The audit trail of a real server: a run with a tool call leaves its records and
lineage, admin actions and refused requests are on record, deleting the session keeps
them, and only admins read the trail."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parents[2] / "server"))

from server_support import ADMIN_KEY, new_session, read_sse, served

from roost.agents import ReActAgent
from roost.core import Usage
from roost.models import ScriptedModel, ScriptedReply
from roost.server import AgentApp, AgentContext
from roost.tools import Toolkit

__all__ = ["served"]


def lookup(city: str) -> str:
    """Look up the weather of a city."""
    return f"{city}: sunny, 21 C"


def make_app() -> AgentApp:
    app = AgentApp("audited", admin_key=ADMIN_KEY, rate_limit=None, auth_failure_limit=None)

    @app.agent(name="weather")
    def weather(ctx: AgentContext) -> ReActAgent:
        model = ScriptedModel(
            [
                ScriptedModel.tool_call("lookup", {"city": "Paris"}),
                ScriptedReply(
                    text="Sunny in Paris.", usage=Usage(input_tokens=30, output_tokens=4)
                ),
            ],
            model_name="scripted-weather",
        )
        return ReActAgent("weather", model, toolkit=Toolkit([lookup]))

    return app


def _records(admin: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    r = admin.get("/v1/audit", params={"limit": 1000, **params})
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


def test_a_run_leaves_its_records_and_lineage_beyond_the_session(served: Any) -> None:
    s = served(make_app())
    with s.client() as admin:
        key = admin.post("/v1/keys", json={"name": "alice", "user_id": "alice", "tenant_id": "t1"})
        alice_key = key.json()["key"]
        with s.client(
            alice_key, headers={"traceparent": "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"}
        ) as alice:
            sid = new_session(alice)
            with alice.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": "weather?"}) as r:
                events = read_sse(r)
            done = events.events[-1]
            assert done["type"] == "run.completed"
            answer_id = done["output"]["id"]
            run_id = done["run_id"]

            records = _records(admin, run_id=run_id)
            actions = [r["action"] for r in reversed(records)]
            assert actions == [
                "run.started",
                "model.call",
                "tool.call",
                "model.call",
                "run.finished",
            ]
            for rec in records:
                assert (rec["user_id"], rec["tenant_id"]) == ("alice", "t1")
                assert rec["key_id"] == key.json()["id"] and rec["client"] == "127.0.0.1"
                assert rec["trace_id"] == "ab" * 16
            tool = next(r for r in records if r["action"] == "tool.call")
            assert tool["detail"]["args_digest"].startswith("sha256:")
            assert "Paris" not in json.dumps(tool)  # digests, not content, by default

            lineage = alice.get(f"/v1/messages/{answer_id}/lineage")
            assert lineage.status_code == 200, lineage.text
            tree = lineage.json()
            assert tree["run"]["id"] == run_id and tree["run"]["user_id"] == "alice"
            assert [c["model"] for c in tree["model_calls"]] == ["scripted-weather"] * 2
            assert tree["model_calls"][1]["usage"]["input_tokens"] == 30
            assert (
                tree["model_calls"][0]["prompt_digest"] != tree["model_calls"][1]["prompt_digest"]
            )
            assert [t["name"] for t in tree["tool_calls"]] == ["lookup"]

            # another user does not see it; the owner deletes the session; the trail stays
            with s.client(
                admin.post("/v1/keys", json={"name": "bob", "user_id": "bob"}).json()["key"]
            ) as bob:
                assert bob.get(f"/v1/messages/{answer_id}/lineage").status_code == 404
                assert bob.get("/v1/audit").status_code == 403
            assert alice.delete(f"/v1/sessions/{sid}").status_code == 204
            assert alice.get(f"/v1/messages/{answer_id}/lineage").json() == tree
        assert len(_records(admin, run_id=run_id)) == 5
        deleted = _records(admin, action="session.*")
        assert deleted[0]["resource_id"] == sid and deleted[0]["key_id"] == key.json()["id"]
        assert _records(admin, action="key.created")[0]["detail"]["for_user"] == "bob"
        checked = admin.get("/v1/audit/verify")
        assert checked.status_code == 200 and checked.json()["ok"], checked.text


def test_refused_requests_are_on_record(served: Any) -> None:
    s = served(make_app())
    with s.client("rk_" + "B" * 43) as wrong:
        assert wrong.get("/v1/sessions").status_code == 401
    with s.client() as admin:
        user = admin.post("/v1/keys", json={"name": "u", "user_id": "carol"}).json()
        with s.client(user["key"]) as carol:
            assert carol.get("/v1/keys").status_code == 403
        failed = _records(admin, action="auth.failed")
        assert failed[0]["resource_id"] == "GET /v1/sessions" and failed[0]["outcome"] == "denied"
        denied = _records(admin, action="authz.denied")
        assert (denied[0]["user_id"], denied[0]["key_id"]) == ("carol", user["id"])


def test_export_filters_by_user_and_time_as_jsonl_and_csv(served: Any) -> None:
    s = served(make_app())
    with s.client() as admin:
        for name in ("dave", "erin"):
            k = admin.post("/v1/keys", json={"name": name, "user_id": name}).json()["key"]
            with s.client(k) as c:
                sid = new_session(c)
                r = c.post(f"/v1/sessions/{sid}/runs", json={"input": "hi", "stream": False})
                assert r.status_code == 200
        lines = admin.get(
            "/v1/audit", params={"user_id": "dave", "format": "jsonl"}
        ).text.splitlines()
        rows = [json.loads(line) for line in lines]
        assert rows and {r["user_id"] for r in rows} == {"dave"}
        assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)
        csv_text = admin.get("/v1/audit", params={"user_id": "erin", "format": "csv"}).text
        assert csv_text.splitlines()[0].startswith("seq,at,")
        assert len(csv_text.splitlines()) == 1 + len(_records(admin, user_id="erin"))
        assert _records(admin, user_id="dave", until="2000-01-01T00:00:00Z") == []
        page = admin.get("/v1/audit", params={"limit": 2}).json()
        more = admin.get("/v1/audit", params={"limit": 2, "before": page["next_before"]}).json()
        assert page["data"][-1]["seq"] > more["data"][0]["seq"]
        bad = admin.get("/v1/audit", params={"since": "yesterday"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"


AUDIT_ROUTES = [
    ("GET", "/v1/audit", None),
    ("GET", "/v1/audit/verify", None),
    ("GET", "/v1/audit/holds", None),
    ("POST", "/v1/audit/holds", {"user_id": "frank", "reason": "case 9"}),
    ("POST", "/v1/audit/archive", {}),
    ("DELETE", "/v1/audit/holds/hold_none", None),
]


def test_only_admins_reach_the_audit_routes(served: Any) -> None:
    s = served(make_app())
    with s.client() as admin:
        user_key = admin.post("/v1/keys", json={"name": "u", "user_id": "gus"}).json()["key"]
        with s.client(None) as nobody, s.client(user_key) as user:
            for method, path, body in AUDIT_ROUTES:
                assert nobody.request(method, path, json=body).status_code == 401, path
                assert user.request(method, path, json=body).status_code == 403, path
                got = admin.request(method, path, json=body)
                expected = (
                    404
                    if path.endswith("hold_none")
                    else (201 if method == "POST" and "holds" in path else 200)
                )
                assert got.status_code == expected, (path, got.text)
        held = admin.get("/v1/audit/holds").json()["data"]
        assert [h["user_id"] for h in held] == ["frank"]
        released = admin.delete(f"/v1/audit/holds/{held[0]['id']}")
        assert released.status_code == 200 and released.json()["released_at_us"]
        short = admin.post("/v1/audit/archive", json={"days": 3})
        assert (
            short.status_code == 409
            and short.json()["error"]["code"] == "audit_retention_too_short"
        )
        refused = _records(admin, action="authz.denied")
        assert len(refused) == len(AUDIT_ROUTES)


def test_lineage_names_the_knowledge_chunks_an_answer_came_from(served: Any) -> None:
    from roost.core import KnowledgeRetrieved, Msg

    app = AgentApp("kb-audited", admin_key=ADMIN_KEY, rate_limit=None)
    cite = {
        "chunk_id": "chk_1",
        "document_id": "doc_7",
        "version": 3,
        "kb_id": "kb_hr",
        "source": "handbook.pdf",
        "score": 0.91,
        "page": 4,
    }

    @app.agent(name="rag")
    async def rag(msg: Msg, ctx: AgentContext) -> Any:
        yield KnowledgeRetrieved(query=msg.text, citations=[cite], mode="auto")
        yield "Twenty-five days of leave."

    s = served(app)
    with s.client() as admin:
        sid = new_session(admin)
        run = admin.post(f"/v1/sessions/{sid}/runs", json={"input": "leave?", "stream": False})
        answer = run.json()["output"]["id"]
        tree = admin.get(f"/v1/messages/{answer}/lineage").json()
        assert tree["knowledge"][0]["chunks"] == [
            {
                "knowledge_base": "kb_hr",
                "document": "doc_7",
                "version": 3,
                "chunk": "chk_1",
                "source": "handbook.pdf",
                "score": 0.91,
            }
        ]
        access = _records(admin, action="knowledge.access")
        assert access[0]["resource_id"] == "kb_hr" and "leave" not in json.dumps(access)


def test_a_tenant_admin_reads_only_its_tenant(served: Any) -> None:
    s = served(make_app())
    with s.client() as admin:
        for tenant in ("t1", "t2"):
            k = admin.post(
                "/v1/keys", json={"name": tenant, "user_id": f"u-{tenant}", "tenant_id": tenant}
            )
            with s.client(k.json()["key"]) as c:
                new_session(c)  # nothing audited yet: a key and a session
                assert c.get("/v1/keys").status_code == 403  # denied: on record, in its tenant
        t1_admin = admin.post("/v1/keys", json={"name": "a1", "role": "admin", "tenant_id": "t1"})
        with s.client(t1_admin.json()["key"]) as a1:
            seen = a1.get("/v1/audit").json()["data"]
            assert seen and {r["tenant_id"] for r in seen} == {"t1"}
            other = a1.get("/v1/audit", params={"tenant_id": "t2"})
            assert other.status_code == 422


def test_content_is_kept_redacted_for_the_tenants_that_ask(served: Any, monkeypatch: Any) -> None:
    from roost.core.settings import get_settings

    monkeypatch.setenv("ROOST_AUDIT_CONTENT_TENANTS", "t1")
    get_settings.cache_clear()
    s = served(make_app())
    with s.client() as admin:
        for tenant in ("t1", "t2"):
            key = admin.post("/v1/keys", json={"name": tenant, "user_id": "u", "tenant_id": tenant})
            with s.client(key.json()["key"]) as c:
                sid = new_session(c)
                body = {"input": "weather? mail me at ann@example.com", "stream": False}
                assert c.post(f"/v1/sessions/{sid}/runs", json=body).status_code == 200
        kept = _records(admin, tenant_id="t1", action="run.started")[0]["detail"]
        assert "[EMAIL]" in json.dumps(kept["input"]) and "ann@example.com" not in json.dumps(kept)
        tool = _records(admin, tenant_id="t1", action="tool.call")[0]["detail"]
        assert tool["arguments"] == {"city": "Paris"} and "Paris" in tool["result"][0]["text"]
        other = _records(admin, tenant_id="t2", action="run.started")[0]["detail"]
        assert "input" not in other


def test_governance_actions_are_on_record(served: Any) -> None:
    """Tenants, quotas, secrets (even a read of the masked value) and data protection:
    every change an administrator makes is recorded with who made it."""
    s = served(make_app())
    with s.client() as admin:
        assert admin.post("/v1/tenants", json={"id": "acme"}).status_code == 201
        r = admin.put("/v1/tenants/acme/quotas", json={"runs_per_minute": 5})
        assert r.status_code == 200, r.text
        assert admin.post("/v1/tenants/acme/disable").status_code == 200
        assert (
            admin.put("/v1/secrets/smtp", json={"value": "hunter2-long-value"}).status_code == 200
        )
        assert admin.get("/v1/secrets/smtp").status_code == 200
        assert admin.delete("/v1/secrets/smtp").status_code == 200
        r = admin.put("/v1/data-protection/acme", json={"encrypt": True})
        assert r.status_code == 200, r.text
        records = _records(admin)
    done = [(r["action"], r["resource_id"]) for r in records]
    for expected in (
        ("tenant.created", "acme"),
        ("quota.set", "acme"),
        ("tenant.disabled", "acme"),
        ("secret.set", "smtp"),
        ("secret.read", "smtp"),
        ("secret.deleted", "smtp"),
        ("data_protection.set", "acme"),
    ):
        assert expected in done, (expected, done)
    assert all(r["key_id"] == "admin-env" for r in records if r["action"].startswith("secret."))
    assert "hunter2" not in json.dumps(records)
