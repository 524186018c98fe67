"""The same knowledge base behaviour on the scale-out vector indexes: Milvus (the real
engine: milvus-lite 2.5, which embeds the Milvus C++ server behind the same pymilvus
client a cluster uses) and PostgreSQL with pgvector (skipped, saying so, where the
server has no pgvector extension)."""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from pathlib import Path

import pytest

from roost.knowledge import KnowledgeStore, OnnxEmbedder, VectorIndex

DOCS = {
    "vpn.md": "# VPN\n\nThe VPN client must be updated every quarter. Support hours are 8 to 18.",
    "printer.md": "# Printers\n\nPrinter toner is ordered through the facilities desk.",
    "食堂.md": "# 食堂\n\n员工食堂午餐时间为十一点半到一点半。",
}


async def _exercise(store: KnowledgeStore, embedder: OnnxEmbedder) -> None:
    kb = await store.create("backend", embedder)
    for name, text in DOCS.items():
        await kb.ingest_bytes(text.encode(), name)
    assert (await kb.search("how often to update the vpn", k=1, mode="vector"))[
        0
    ].chunk.source == "vpn.md"
    assert (await kb.search("食堂午餐几点", k=1))[0].chunk.source == "食堂.md"
    updated = await kb.ingest_bytes(b"# VPN\n\nThe VPN client is updated monthly now.", "vpn.md")
    assert updated.version == 2
    hits = await kb.search("vpn client update", k=5, mode="vector")
    assert [h.chunk.version for h in hits if h.chunk.source == "vpn.md"] == [2]
    await kb.delete_document("printer.md")
    assert all(h.chunk.source != "printer.md" for h in await kb.search("toner", k=5, mode="vector"))
    raw = await store.index.search(kb.id, (await embedder.embed(["toner facilities"]))[0], 10)
    assert len(raw) == 2  # the deleted and the retired vectors are gone from the engine too
    await kb.flush()
    await store.delete(kb.id)


async def test_milvus_engine(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    pytest.importorskip("milvus_lite", reason="milvus-lite (the local Milvus engine) not installed")
    from roost.knowledge.milvus import MilvusIndex

    assert version("milvus-lite").startswith("2.5"), "these tests claim the real 2.5 engine"
    index = MilvusIndex(str(tmp_path / "milvus.db"))
    assert isinstance(index, VectorIndex)
    store = KnowledgeStore(tmp_path / "kb", index=index)
    try:
        await _exercise(store, embedder)
    finally:
        await store.close()


async def test_pgvector(tmp_path: Path, embedder: OnnxEmbedder, postgres_url: str) -> None:
    from roost.knowledge import KnowledgeBackendUnavailable
    from roost.knowledge.pgvector import PgVectorIndex

    index = PgVectorIndex(postgres_url)
    try:
        await index._conn_pool()
    except KnowledgeBackendUnavailable as exc:
        pytest.skip(f"CREATE EXTENSION vector fails on this PostgreSQL: {exc.message}")
    store = KnowledgeStore(tmp_path / "kb", index=index)
    try:
        await _exercise(store, embedder)
    finally:
        await store.close()


async def test_pgvector_without_the_extension_is_a_typed_error(postgres_url: str) -> None:
    import asyncpg

    from roost.knowledge import KnowledgeBackendUnavailable
    from roost.knowledge.pgvector import PgVectorIndex

    conn = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg", "postgresql"))
    available = await conn.fetchval(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'"
    )
    await conn.close()
    if available:
        pytest.skip("pgvector is installed here; the refusal cannot be shown")
    with pytest.raises(KnowledgeBackendUnavailable) as info:
        await asyncio.wait_for(PgVectorIndex(postgres_url)._conn_pool(), 30)
    assert "pgvector" in info.value.message
