"""Knowledge bases on the embedded store: hybrid search, versions, no-op re-ingestion,
deletion from every index, filters, tenants, bad input per document, crash safety."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from roost.core import Conflict, InvalidRequest
from roost.knowledge import (
    DocumentInput,
    KnowledgeBaseNotFound,
    KnowledgeStore,
    OnnxEmbedder,
    OpenAIEmbedder,
)
from roost.knowledge.errors import DocumentNotFound

from ._files import make_docx, make_pdf
from .conftest import EmbeddingsServer

LEAVE = (
    "# Leave policy\n\nEmployees get 25 days of paid annual leave per calendar year. "
    "Requests go through the HR portal two weeks ahead.\n\n## Sick leave\n\n"
    "After three days of sick leave a doctor's note is required."
)
TRAVEL = (
    "# Travel\n\nTrains are booked for trips under four hours; flights need approval "
    "from a director. Hotel costs are reimbursed up to 120 EUR per night."
)
CHINESE = "# 报销制度\n\n差旅发票必须在出差结束后三十天内提交财务部。超过期限的发票不予报销。"


async def _kb(store: KnowledgeStore, embedder: OnnxEmbedder, name: str = "handbook"):  # type: ignore[no-untyped-def]
    kb = await store.create(name, embedder, chunker={"kind": "markdown", "max_tokens": 60})
    report = await kb.ingest(
        [
            DocumentInput("leave.md", LEAVE.encode(), metadata={"dept": "hr"}),
            DocumentInput("travel.md", TRAVEL.encode(), metadata={"dept": "finance"}),
            DocumentInput("报销.md", CHINESE.encode(), metadata={"dept": "finance"}),
        ]
    )
    assert report.ok, report.to_dict()
    return kb


async def test_hybrid_search_finds_english_and_chinese_answers(
    store: KnowledgeStore, embedder: OnnxEmbedder
) -> None:
    kb = await _kb(store, embedder)
    top = (await kb.search("how many vacation days do I get", k=3))[0]
    assert top.chunk.source == "leave.md" and "25 days" in top.chunk.text
    assert top.chunk.metadata["heading_path"] == "Leave policy"
    assert set(top.scores) <= {"bm25", "vector"} and top.scores
    zh = (await kb.search("发票多久内要交给财务？", k=3))[0]
    assert zh.chunk.source == "报销.md"
    for mode in ("bm25", "vector"):
        hits = await kb.search("doctor's note sick leave", k=2, mode=mode)  # type: ignore[arg-type]
        assert hits[0].chunk.metadata["heading_path"] == "Leave policy > Sick leave"
    citation = top.citation()
    assert citation["chunk_id"].startswith("chk_") and citation["document_id"].startswith("doc_")
    assert citation["version"] == 1 and citation["kb_id"] == kb.id


async def test_reingesting_an_unchanged_document_writes_nothing(
    store: KnowledgeStore, embedder: OnnxEmbedder
) -> None:
    kb = await _kb(store, embedder)
    generation = store.catalog.generation(kb.id)
    before = await kb.documents()
    result = await kb.ingest_bytes(LEAVE.encode(), "leave.md", {"dept": "hr"})
    assert result.status == "unchanged" and result.version == 1
    assert store.catalog.generation(kb.id) == generation
    assert await kb.documents() == before


async def test_changed_content_makes_a_new_version_and_retires_the_old_chunks(
    store: KnowledgeStore, embedder: OnnxEmbedder
) -> None:
    kb = await _kb(store, embedder)
    old_ids = {
        h.chunk.id
        for h in await kb.search("annual leave days", k=10)
        if h.chunk.source == "leave.md"
    }
    assert old_ids
    result = await kb.ingest_bytes(
        LEAVE.replace("25 days", "30 days").encode(), "leave.md", {"dept": "hr"}
    )
    assert (result.status, result.version) == ("updated", 2)
    for mode in ("bm25", "vector", "hybrid"):
        hits = await kb.search("paid annual leave days per year", k=10, mode=mode)  # type: ignore[arg-type]
        leave = [h for h in hits if h.chunk.source == "leave.md"]
        assert leave and all(h.chunk.version == 2 for h in leave)
        assert not {h.chunk.id for h in hits} & old_ids
        assert "30 days" in leave[0].chunk.text or mode == "vector"
    versions = await kb.versions("leave.md")
    assert [(v["version"], v["retired_at"] is None) for v in versions] == [(1, False), (2, True)]


async def test_deleting_a_document_removes_its_chunks_from_every_index(
    store: KnowledgeStore, embedder: OnnxEmbedder
) -> None:
    kb = await _kb(store, embedder)
    index_size = store.index.live_count(kb.id)  # type: ignore[attr-defined]
    removed = await kb.delete_document("travel.md")
    assert removed >= 1
    assert store.index.live_count(kb.id) == index_size - removed  # type: ignore[attr-defined]
    for mode in ("bm25", "vector", "hybrid"):
        hits = await kb.search("train flight hotel travel", k=10, mode=mode)  # type: ignore[arg-type]
        assert all(h.chunk.source != "travel.md" for h in hits)
    assert store.catalog.count_chunks(kb.id, {"source": "travel.md"}) == 0
    with pytest.raises(DocumentNotFound):
        await kb.delete_document("travel.md")


async def test_metadata_filters_apply_to_both_bm25_and_vectors(
    store: KnowledgeStore, embedder: OnnxEmbedder
) -> None:
    kb = await _kb(store, embedder)
    for mode in ("bm25", "vector", "hybrid"):
        hits = await kb.search(
            "leave days hotel invoice", k=10, mode=mode, filters={"dept": "finance"}
        )  # type: ignore[arg-type]
        assert hits and {h.chunk.source for h in hits} <= {"travel.md", "报销.md"}
    one = await kb.search("anything", k=10, mode="vector", filters={"source": ["leave.md"]})
    assert {h.chunk.source for h in one} == {"leave.md"}
    with pytest.raises(InvalidRequest):
        await kb.search("x", filters={"bad name')": 1})


async def test_knowledge_bases_are_scoped_to_their_tenant(
    store: KnowledgeStore, embedder: OnnxEmbedder
) -> None:
    kb = await store.create("shared-name", embedder, tenant_id="acme")
    await store.create("shared-name", embedder, tenant_id="globex")  # names are per tenant
    with pytest.raises(KnowledgeBaseNotFound):
        await store.open(kb.id, embedder, tenant_id="globex")
    with pytest.raises(KnowledgeBaseNotFound):
        await store.delete(kb.id, tenant_id="globex")
    assert [b.id for b in await store.list("acme")] == [kb.id]
    assert len(await store.list(None)) == 2  # the platform admin sees every tenant
    with pytest.raises(Conflict):
        await store.create("shared-name", embedder, tenant_id="acme")


async def test_bad_documents_get_typed_errors_and_the_rest_ingests(
    tmp_path: Path, store: KnowledgeStore, embedder: OnnxEmbedder
) -> None:
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as f:
        f.truncate(500 * 1024 * 1024)
    kb = await store.create("mixed", embedder, max_bytes=20 * 1024 * 1024)
    docs = [
        DocumentInput("good.pdf", make_pdf(["The warranty lasts two years"])),
        DocumentInput("broken.pdf", b"%PDF-1.4 garbage"),
        DocumentInput("locked.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512),
        DocumentInput("empty.txt", b""),
        DocumentInput.from_path(huge),
        DocumentInput("mystery.txt", bytes(range(256)) * 4),
        DocumentInput(
            "good.docx", make_docx([(1, "Returns")], {"Returns": ["Returns within 14 days."]})
        ),
    ]
    stages: list[str] = []
    report = await kb.ingest(docs, progress=lambda stage, done, total: stages.append(stage))
    assert sorted(r.source for r in report.ingested) == ["good.docx", "good.pdf"]
    assert {f.source: f.error.code for f in report.failed} == {
        "broken.pdf": "document_corrupt",
        "locked.docx": "document_encrypted",
        "empty.txt": "document_empty",
        "huge.txt": "document_too_large",
        "mystery.txt": "document_encoding_unknown",
    }
    assert stages.count("read") == len(docs)
    assert report.to_dict()["failed"][0]["message"]
    hit = (await kb.search("warranty", k=1))[0]
    assert hit.chunk.source == "good.pdf" and hit.chunk.metadata["page"] == 1


async def test_embedding_server_timing_out_mid_batch_fails_only_that_document(
    store: KnowledgeStore, embeddings_server: EmbeddingsServer
) -> None:
    client = OpenAIEmbedder("minilm", base_url=embeddings_server.url, timeout=1.0, batch_size=2)
    kb = await store.create("remote", client)
    embeddings_server.stall_on = "STALL"
    report = await kb.ingest(
        [
            DocumentInput("a.txt", b"Alpha servers run in rack one."),
            DocumentInput("b.txt", b"Beta servers run in rack two. STALL here."),
            DocumentInput("c.txt", b"Gamma servers run in rack three."),
        ]
    )
    await client.aclose()
    assert sorted(r.source for r in report.ingested) == ["a.txt", "c.txt"]
    assert [(f.source, f.error.code) for f in report.failed] == [("b.txt", "embedding_timeout")]
    embeddings_server.stall_on = None
    for mode in ("bm25", "vector"):
        hits = await kb.search("Beta servers rack two", k=5, mode=mode)  # type: ignore[arg-type]
        assert all(h.chunk.source != "b.txt" for h in hits)  # in no index at all
    assert [d.source for d in await kb.documents()] == ["a.txt", "c.txt"]


async def test_reranker_reorders_hits(
    store: KnowledgeStore, embedder: OnnxEmbedder, embeddings_server: EmbeddingsServer
) -> None:
    from roost.knowledge import HttpReranker

    kb = await _kb(store, embedder)
    reranker = HttpReranker("bge-reranker", base_url=embeddings_server.url)
    hits = await kb.search("hotel price per night", k=2, reranker=reranker)
    assert hits[0].chunk.source == "travel.md" and "rerank" in hits[0].scores
    assert embeddings_server.requests[-1]["top_n"] == 2


async def test_a_search_is_a_span_with_chunk_ids_and_scores(
    store: KnowledgeStore, embedder: OnnxEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    kb = await _kb(store, embedder)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.roost_capture_content = True  # type: ignore[attr-defined]  # as roost.observe sets it
    tracer = provider.get_tracer("test")
    monkeypatch.setattr("opentelemetry.trace.get_tracer", lambda *a, **k: tracer)
    monkeypatch.setattr("opentelemetry.trace.get_tracer_provider", lambda: provider)
    hits = await kb.search("annual leave", k=2)
    (span,) = exporter.get_finished_spans()
    assert span.name == "retrieve handbook"
    assert list(span.attributes["roost.knowledge.chunk_ids"]) == [h.chunk.id for h in hits]
    assert list(span.attributes["roost.knowledge.scores"]) == [h.score for h in hits]
    assert span.events[0].attributes["gen_ai.retrieval.query"] == "annual leave"


def test_an_acknowledged_document_survives_kill_9(tmp_path: Path, onnx_dir: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, os, sys, time
        from roost.knowledge import KnowledgeStore, OnnxEmbedder
        async def main():
            store = KnowledgeStore({str(tmp_path / "kb")!r})
            kb = await store.create("crash", OnnxEmbedder({str(onnx_dir)!r}))
            await kb.ingest_text("The vault code rotates every Monday.", "vault.txt")
            print("acked", flush=True)
            time.sleep(60)  # never closes: the index file is never saved
        asyncio.run(main())
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "acked"
    proc.kill()  # SIGKILL
    proc.wait()

    async def reopen() -> None:
        store = KnowledgeStore(tmp_path / "kb")
        kb = await store.open("crash", OnnxEmbedder(onnx_dir))
        for mode in ("bm25", "vector"):
            hits = await kb.search("when does the vault code change", k=1, mode=mode)  # type: ignore[arg-type]
            assert hits and hits[0].chunk.source == "vault.txt"
        await store.close()

    import asyncio

    asyncio.run(reopen())


async def test_a_flushed_index_is_loaded_not_rebuilt(
    tmp_path: Path, embedder: OnnxEmbedder
) -> None:
    store = KnowledgeStore(tmp_path / "kb")
    kb = await store.create("saved", embedder)
    await kb.ingest_text("Parking spaces are assigned by facilities.", "parking.txt")
    await store.close()
    assert (tmp_path / "kb" / "vectors" / f"{kb.id}.faiss").exists()
    store = KnowledgeStore(tmp_path / "kb")
    store.catalog.iter_vectors = None  # type: ignore[assignment,method-assign]  # a rebuild would fail
    kb = await store.open("saved", embedder)
    assert (await kb.search("who assigns parking", k=1, mode="vector"))[
        0
    ].chunk.source == "parking.txt"
