"""``/v1/knowledge-bases`` on a real server: create, upload and server-side ingestion as
jobs with progress and per-document errors, search with citations, deletion, tenants
and admin-only writes; the built-in assistant answering from an attached knowledge base
with the real local model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_support import ADMIN_KEY, new_session, read_sse

from roost.server import AgentApp

DATA = Path(__file__).resolve().parents[1] / "data" / "knowledge" / "docs"


@pytest.fixture
def home(roost_home: Path, onnx_dir: Path) -> Path:
    embedders = roost_home / "models" / "embedders"
    embedders.mkdir(parents=True)
    (embedders / onnx_dir.name).symlink_to(onnx_dir)
    return roost_home


def _job(
    client: httpx.Client, kb: str, job: dict[str, Any], timeout: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(f"/v1/knowledge-bases/{kb}/jobs/{job['id']}")
        if r.status_code == 429:  # a long job outlasts the key's rate limit: wait as told
            time.sleep(float(r.headers.get("retry-after", "1")))
            continue
        state = r.json()
        assert r.status_code == 200, state
        if state["status"] in ("succeeded", "failed"):
            return state
        time.sleep(0.5)
    raise AssertionError(f"job {job['id']} did not finish")


def _key(client: httpx.Client, tenant: str) -> str:
    r = client.post(
        "/v1/keys", json={"name": tenant, "role": "user", "tenant_id": tenant, "user_id": "u1"}
    )
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


def test_knowledge_base_lifecycle_over_http(served: Any, home: Path, tmp_path: Path) -> None:
    server = served(AgentApp("kbapp", admin_key=ADMIN_KEY))
    with server.client() as admin:
        r = admin.post(
            "/v1/knowledge-bases",
            json={"name": "handbook", "tenant_id": "acme", "chunker": "markdown"},
        )
        assert r.status_code == 201, r.text
        kb = r.json()["id"]
        assert r.json()["embedder"] == "local:all-MiniLM-L6-v2"

        upload = admin.post(
            f"/v1/knowledge-bases/{kb}/documents",
            params={"name": "faq.md"},
            content=b"# FAQ\n\nThe office closes at 18:00 on Fridays.",
            headers={"content-type": "text/markdown"},
        )
        assert upload.status_code == 202, upload.text
        done = _job(admin, kb, upload.json())
        assert done["status"] == "succeeded" and done["progress"]["read"] == 1
        assert done["report"]["ingested"][0]["status"] == "added"

        folder = tmp_path / "docs"
        folder.mkdir()
        (folder / "食堂.txt").write_text("员工食堂午餐时间为十一点半到一点半。", encoding="utf-8")
        (folder / "empty.txt").write_bytes(b"")
        started = admin.post(f"/v1/knowledge-bases/{kb}/ingest", json={"paths": [str(folder)]})
        assert started.status_code == 202, started.text
        report = _job(admin, kb, started.json())["report"]
        assert [d["source"] for d in report["ingested"]] == ["食堂.txt"]
        assert [(f["source"], f["code"]) for f in report["failed"]] == [
            ("empty.txt", "document_empty")
        ]

        hits = admin.post(
            f"/v1/knowledge-bases/{kb}/search",
            json={"query": "when does the office close on Friday"},
        )
        assert hits.status_code == 200, hits.text
        top = hits.json()["data"][0]
        assert (
            top["source"] == "faq.md"
            and top["chunk_id"].startswith("chk_")
            and "18:00" in top["text"]
        )
        zh = admin.post(
            f"/v1/knowledge-bases/{kb}/search", json={"query": "食堂午餐几点", "mode": "bm25"}
        )
        assert zh.json()["data"][0]["source"] == "食堂.txt"

        docs = admin.get(f"/v1/knowledge-bases/{kb}/documents").json()["data"]
        assert sorted(d["source"] for d in docs) == ["faq.md", "食堂.txt"]
        faq = next(d for d in docs if d["source"] == "faq.md")
        assert admin.delete(f"/v1/knowledge-bases/{kb}/documents/{faq['id']}").status_code == 204
        after = admin.post(
            f"/v1/knowledge-bases/{kb}/search", json={"query": "office closes Friday"}
        )
        assert all(h["source"] != "faq.md" for h in after.json()["data"])

        acme, globex = _key(admin, "acme"), _key(admin, "globex")
        bad = admin.post(f"/v1/knowledge-bases/{kb}/search", json={"query": ""})
        assert bad.status_code == 422
        missing = admin.get(f"/v1/knowledge-bases/{kb}/jobs/job_nope")
        assert (
            missing.status_code == 404
            and missing.json()["error"]["code"] == "knowledge_job_not_found"
        )

    with server.client(acme) as user:
        assert [b["id"] for b in user.get("/v1/knowledge-bases").json()["data"]] == [kb]
        assert (
            user.post(f"/v1/knowledge-bases/{kb}/search", json={"query": "lunch"}).status_code
            == 200
        )
        for method, path, body in [
            ("POST", "/v1/knowledge-bases", {"name": "mine"}),
            ("POST", f"/v1/knowledge-bases/{kb}/ingest", {"paths": [str(folder)]}),
            ("DELETE", f"/v1/knowledge-bases/{kb}", None),
        ]:
            r = user.request(method, path, json=body)
            assert r.status_code == 403, (method, path, r.text)
    with server.client(globex) as other:
        assert other.get("/v1/knowledge-bases").json()["data"] == []
        r = other.post(f"/v1/knowledge-bases/{kb}/search", json={"query": "lunch"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "knowledge_base_not_found"
    with server.client(None) as anonymous:
        assert anonymous.get("/v1/knowledge-bases").status_code == 401
    with server.client() as admin:
        assert admin.delete(f"/v1/knowledge-bases/{kb}").status_code == 204
        assert admin.get(f"/v1/knowledge-bases/{kb}").status_code == 404


@pytest.mark.slow
def test_builtin_assistant_answers_from_its_knowledge_base(
    served: Any, home: Path, shared_model_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: the labelled set ingested through the API, the built-in assistant on
    the real local model asked three questions answered only in those documents; each
    answer cites the right document in the run's output and in the stream.

    The answers' wording is checked in tests/agents/test_knowledge_agent.py (the same
    model and passages without the built-in tools): with the calculator and clock beside
    search_knowledge the 0.5B model often calls an unrelated tool first and then misreads
    the passage (1 to 3 right answers of 3 over six runs), so the text is not asserted here."""
    import asyncio

    from roost.core.settings import get_settings
    from roost.knowledge import KnowledgeStore
    from roost.models.install import install_model
    from roost.models.local import _stop_all
    from roost.server.builtin import create_app

    async def prepare() -> None:  # the store the server opens at start
        from roost.knowledge import OnnxEmbedder

        store = KnowledgeStore.default()
        await store.create("handbook", OnnxEmbedder())
        await store.close()

    asyncio.run(prepare())
    path = install_model("qwen2.5-coder-0.5b", home=shared_model_home, show_progress=False)
    monkeypatch.setenv("ROOST_LOCAL_MODEL", str(path))
    monkeypatch.delenv("ROOST_MODEL", raising=False)
    get_settings.cache_clear()
    server = served(create_app(None, sandbox=False, knowledge_base="handbook", admin_key=ADMIN_KEY))
    cases = [
        (
            "How many days of paid annual leave does a permanent employee get per year?",
            "27",
            "annual-leave.md",
        ),
        ("What is the maximum payload of the Heron X2 robot in kg?", "350", "heron-x2-specs.md"),
        (
            "How many EUR is the meal allowance per full day on a business trip?",
            "38",
            "expenses.md",
        ),
    ]
    try:
        with server.client() as client:
            client.timeout = httpx.Timeout(300)
            job = client.post("/v1/knowledge-bases/handbook/ingest", json={"paths": [str(DATA)]})
            assert job.status_code == 202, job.text
            report = _job(client, "handbook", job.json(), timeout=600)["report"]
            assert len(report["ingested"]) == 27 and not report["failed"]
            for question, answer, source in cases:
                session = new_session(client)
                with client.stream(
                    "POST", f"/v1/sessions/{session}/runs", json={"input": question, "stream": True}
                ) as response:
                    sse = read_sse(response)
                assert "knowledge.retrieved" in sse.types
                retrieved = next(e for e in sse.events if e["type"] == "knowledge.retrieved")
                assert retrieved["citations"][0]["source"] == source, (question, answer)
                final = next(e for e in sse.events if e["type"] == "run.completed")["output"]
                cited = final["metadata"]["citations"]
                assert cited[0]["source"] == source and cited[0]["chunk_id"].startswith("chk_")
                assert any(b.get("text") for b in final["content"])  # it answered
    finally:
        _stop_all()


def test_the_assistant_remembers_a_user_and_the_user_manages_the_memories(
    served: Any, home: Path
) -> None:
    import json as _json

    from fake_providers import FakeOpenAIServer, Reply
    from roost.server.builtin import create_app

    with FakeOpenAIServer() as model:
        fact = "The user's team is Payments."
        model.script(
            Reply(tool_calls=[("c1", "remember", _json.dumps({"fact": fact}))]),
            Reply(text="Noted."),
            Reply(text="You are in Payments."),
        )
        server = served(
            create_app(f"{model.url}#fake", sandbox=False, memory=True, admin_key=ADMIN_KEY)
        )
        with server.client() as admin:
            alice, bob = (
                admin.post(
                    "/v1/keys", json={"name": n, "role": "user", "tenant_id": "acme", "user_id": n}
                ).json()["key"]
                for n in ("alice", "bob")
            )
        with server.client(alice) as client:
            for text in ("I work in the Payments team.", "Which team am I in?"):
                session = new_session(client)  # a new session each time
                r = client.post(
                    f"/v1/sessions/{session}/runs", json={"input": text, "stream": False}
                )
                assert r.status_code == 200, r.text
            later_system = model.requests[-1].body["messages"][0]["content"]
            assert fact in later_system  # recalled in a later session
            mine = client.get("/v1/memories").json()["data"]
            assert [(m["user_id"], m["text"]) for m in mine] == [("alice", fact)]
            exported = client.get("/v1/memories", params={"format": "jsonl"})
            assert exported.headers["content-type"].startswith("application/x-ndjson")
            assert _json.loads(exported.text.splitlines()[0])["text"] == fact
        with server.client(bob) as other:
            assert other.get("/v1/memories").json()["data"] == []
            assert other.delete(f"/v1/memories/{mine[0]['id']}").status_code == 404
        with server.client() as admin:
            # an admin key without ?user_id= is its own user (decision 0130): none of alice's
            assert admin.get("/v1/memories").json()["data"] == []
            seen = admin.get("/v1/memories", params={"user_id": "alice", "tenant_id": "acme"})
            assert [m["id"] for m in seen.json()["data"]] == [mine[0]["id"]]
        with server.client(alice) as client:
            assert client.delete(f"/v1/memories/{mine[0]['id']}").status_code == 204
            assert client.get("/v1/memories").json()["data"] == []
