"""``KnowledgeStore`` (the catalog + a vector index) and ``KnowledgeBase`` (ingest,
search, delete within one knowledge base of one tenant).

Ingestion of a batch: read and chunk each document (a typed error per bad document),
embed the chunks of several documents together (when that fails, each document again
alone, so the error lands on the right one), then write each document: vectors into
the index under freshly reserved keys, then one catalog transaction that makes the new
version visible and the old one invisible. A document whose content, chunker and
embedder are unchanged is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roost.core import InvalidRequest, RoostError
from roost.knowledge import text as _text
from roost.knowledge.catalog import Catalog, Filters, NewVersion
from roost.knowledge.chunkers import Chunker, MarkdownChunker, SentenceChunker, TokenChunker
from roost.knowledge.embedders import Embedder, probe_dimensions
from roost.knowledge.errors import (
    DocumentEmpty,
    EmbeddingDimensionMismatch,
    KnowledgeError,
)
from roost.knowledge.readers import DEFAULT_MAX_BYTES, load_bytes, read_document
from roost.knowledge.records import (
    ChunkDraft,
    DocumentInfo,
    Hit,
    IngestFailure,
    IngestReport,
    IngestResult,
    IngestStatus,
    KnowledgeBaseInfo,
)
from roost.knowledge.retrieval import Reranker, SearchMode, reciprocal_rank_fusion
from roost.knowledge.vector_index import FaissIndex, IndexState, VectorIndex

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from roost.knowledge.embedders import Vectors

EXACT_SEARCH_LIMIT = 20_000
"""A filtered vector search over at most this many chunks is exact (numpy over the
catalog's vectors) instead of an over-fetching ANN search."""
DEFAULT_TENANT = "default"
Progress = Callable[[str, int, int], None]
"""``(stage, done, total)``: ``read``, ``embed`` and ``write`` counts of a batch."""


@dataclass(frozen=True)
class DocumentInput:
    """A document to ingest: bytes and a name, or a path (read within the size limit)."""

    source: str
    data: bytes | None = None
    path: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_path(cls, path: str | Path, metadata: dict[str, Any] | None = None) -> DocumentInput:
        p = Path(path)
        return cls(source=p.name, path=p, metadata=dict(metadata or {}))


@dataclass
class _Prepared:
    doc: DocumentInput
    content_hash: str
    drafts: list[ChunkDraft]
    vectors: Vectors | None = None


def chunker_from_settings(settings: Mapping[str, Any]) -> Chunker:
    kind = settings.get("kind", "sentences")
    size = int(settings.get("max_tokens", 200))
    overlap = int(settings.get("overlap_tokens", 30))
    if kind == "tokens":
        return TokenChunker(size, overlap)
    if kind == "markdown":
        return MarkdownChunker(size, overlap)
    if kind == "sentences":
        return SentenceChunker(size, overlap)
    raise InvalidRequest(f"unknown chunker {kind!r}", hint="use tokens, sentences or markdown")


class KnowledgeStore:
    """Knowledge bases of every tenant in one directory: ``knowledge.db`` (the catalog)
    and the vector index (``vectors/`` for the embedded one)."""

    def __init__(self, directory: str | Path, *, index: VectorIndex | None = None) -> None:
        self.directory = Path(directory)
        self.catalog = Catalog(self.directory / "knowledge.db")
        self.index: VectorIndex = index or FaissIndex(self.directory / "vectors")
        self._open: dict[str, KnowledgeBase] = {}

    @classmethod
    def default(cls) -> KnowledgeStore:
        """The embedded store under ``ROOST_HOME/knowledge``."""
        from roost.core import get_settings

        return cls(get_settings().home / "knowledge")

    async def create(
        self,
        name: str,
        embedder: Embedder,
        *,
        tenant_id: str = DEFAULT_TENANT,
        chunker: Mapping[str, Any] | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> KnowledgeBase:
        if not name.strip() or len(name) > 200:
            raise InvalidRequest("a knowledge base needs a name of 1 to 200 characters")
        chunking = dict(chunker or {"kind": "sentences", "max_tokens": 200, "overlap_tokens": 30})
        chunker_from_settings(chunking)  # refuse a bad configuration before creating
        dims = await probe_dimensions(embedder)
        settings: dict[str, Any] = {
            "chunker": chunking,
            "max_bytes": max_bytes,
            "index": self.index.name,
        }
        base_url = getattr(embedder, "base_url", None)
        if isinstance(base_url, str):  # an endpoint: where to reach it again (never a key)
            settings["embedder_base_url"] = base_url
        info = await asyncio.to_thread(
            self.catalog.create_kb, tenant_id, name, embedder.name, dims, settings
        )
        return await self.open(info.id, embedder, tenant_id=tenant_id)

    async def open(
        self, kb: str, embedder: Embedder, *, tenant_id: str | None = DEFAULT_TENANT
    ) -> KnowledgeBase:
        """Open by id or name; ``tenant_id=None`` (platform admin) sees every tenant."""
        info, settings = await asyncio.to_thread(self.catalog.get_kb, kb, tenant_id)
        cached = self._open.get(info.id)
        if cached is not None and cached.embedder is embedder:
            return cached
        if info.embedder != embedder.name:
            raise EmbeddingDimensionMismatch(
                f"{info.name} was built with {info.embedder}, not {embedder.name}",
                hint="open it with the same embedder, or create a new knowledge base",
            )
        state = IndexState(
            generation=await asyncio.to_thread(self.catalog.generation, info.id),
            vectors=lambda: self.catalog.iter_vectors(info.id),
        )
        await self.index.open(info.id, info.dimensions, state)
        base = KnowledgeBase(self, info, settings, embedder)
        self._open[info.id] = base
        return base

    async def open_recorded(
        self, kb: str, *, tenant_id: str | None = DEFAULT_TENANT, api_key: str | None = None
    ) -> KnowledgeBase:
        """Open with the embedder the knowledge base was created with (``local`` or the
        endpoint recorded at creation; the API key is never recorded, pass it)."""
        from roost.knowledge.resolve import resolve_embedder

        info, settings = await asyncio.to_thread(self.catalog.get_kb, kb, tenant_id)
        cached = self._open.get(info.id)
        if cached is not None:
            return cached
        embedder = resolve_embedder(
            info.embedder, base_url=settings.get("embedder_base_url"), api_key=api_key
        )
        return await self.open(info.id, embedder, tenant_id=tenant_id)

    async def list(self, tenant_id: str | None = DEFAULT_TENANT) -> list[KnowledgeBaseInfo]:
        return await asyncio.to_thread(self.catalog.list_kbs, tenant_id)

    async def delete(self, kb: str, *, tenant_id: str | None = DEFAULT_TENANT) -> None:
        info, _ = await asyncio.to_thread(self.catalog.get_kb, kb, tenant_id)
        await asyncio.to_thread(self.catalog.delete_kb, info.id)
        self._open.pop(info.id, None)
        await self.index.drop(info.id)

    async def close(self) -> None:
        """Save embedded indexes (a crash before this only costs a rebuild at open)."""
        for base in list(self._open.values()):
            await base.flush()
        self._open.clear()
        await self.index.close()
        self.catalog.close()


class KnowledgeBase:
    def __init__(
        self,
        store: KnowledgeStore,
        info: KnowledgeBaseInfo,
        settings: dict[str, Any],
        embedder: Embedder,
    ) -> None:
        self.store = store
        self.catalog = store.catalog
        self.index = store.index
        self.info = info
        self.id = info.id
        self.embedder = embedder
        self.chunker = chunker_from_settings(settings.get("chunker", {}))
        self.max_bytes = int(settings.get("max_bytes", DEFAULT_MAX_BYTES))
        self._write_lock = asyncio.Lock()

    # -- ingestion ------------------------------------------------------------------------
    async def ingest_bytes(
        self, data: bytes, source: str, metadata: dict[str, Any] | None = None
    ) -> IngestResult:
        """Ingest one document; raises its typed error instead of reporting it."""
        report = await self.ingest([DocumentInput(source, data=data, metadata=metadata or {})])
        if report.failed:
            raise report.failed[0].error
        return report.ingested[0]

    async def ingest_text(
        self, text: str, source: str, metadata: dict[str, Any] | None = None
    ) -> IngestResult:
        name = source if "." in Path(source).name else f"{source}.txt"
        return await self.ingest_bytes(text.encode("utf-8"), name, metadata)

    async def ingest_paths(
        self, paths: Iterable[str | Path], progress: Progress | None = None
    ) -> IngestReport:
        return await self.ingest([DocumentInput.from_path(p) for p in paths], progress)

    async def ingest(
        self,
        docs: Sequence[DocumentInput],
        progress: Progress | None = None,
        *,
        batch_chunks: int = 256,
    ) -> IngestReport:
        report = IngestReport()
        pending: list[_Prepared] = []
        for done, doc in enumerate(docs, start=1):
            try:
                prepared = await asyncio.to_thread(self._prepare, doc)
            except RoostError as exc:
                report.failed.append(IngestFailure(doc.source, exc))
                prepared = None
            if progress:
                progress("read", done, len(docs))
            if isinstance(prepared, IngestResult):
                report.ingested.append(prepared)
            elif prepared is not None:
                pending.append(prepared)
                if sum(len(p.drafts) for p in pending) >= batch_chunks:
                    await self._embed_and_write(pending, report, progress)
                    pending = []
        if pending:
            await self._embed_and_write(pending, report, progress)
        return report

    async def ingest_vectors(
        self,
        source: str,
        texts: Sequence[str],
        vectors: Vectors,
        metadata: dict[str, Any] | None = None,
    ) -> IngestResult:
        """Store chunks whose vectors were computed elsewhere (a migration, a client that
        embeds itself): no reader, no chunker, no embedder; versioned like any document."""
        if len(texts) != len(vectors) or not texts:
            raise InvalidRequest("ingest_vectors needs one vector per text, and some texts")
        digest = hashlib.sha256()
        for t in texts:
            digest.update(t.encode() + b"\0")
        digest.update(vectors.tobytes())
        doc = DocumentInput(source, metadata=dict(metadata or {}))
        current = await asyncio.to_thread(self.catalog.get_document, self.id, source)
        if current is not None and current.content_hash == digest.hexdigest():
            return IngestResult(source, "unchanged", current.id, current.version, current.chunks)
        drafts = [ChunkDraft(t) for t in texts]
        return await self._write(_Prepared(doc, digest.hexdigest(), drafts, vectors))

    def _prepare(self, doc: DocumentInput) -> _Prepared | IngestResult:
        if doc.data is not None:
            raw = doc.data
        elif doc.path is not None:
            raw = load_bytes(doc.path, max_bytes=self.max_bytes)
        else:
            raise InvalidRequest(f"{doc.source}: give the document's bytes or its path")
        digest = hashlib.sha256(raw)
        digest.update(f"\0{self.chunker.signature}\0{self.embedder.name}".encode())
        for key in sorted(doc.metadata):
            digest.update(f"\0{key}={doc.metadata[key]!r}".encode())
        content_hash = digest.hexdigest()
        current = self.catalog.get_document(self.id, doc.source)
        if current is not None and current.content_hash == content_hash:
            return IngestResult(
                doc.source, "unchanged", current.id, current.version, current.chunks
            )
        sections = read_document(raw, doc.source, max_bytes=self.max_bytes)
        drafts = self.chunker.chunk(sections)
        if not drafts:
            raise DocumentEmpty(f"{doc.source} has no text to index")
        return _Prepared(doc, content_hash, drafts)

    async def _embed_and_write(
        self, batch: list[_Prepared], report: IngestReport, progress: Progress | None
    ) -> None:
        texts = [d.indexed_text for p in batch for d in p.drafts]
        try:
            vectors = await self.embedder.embed(texts)
            offset = 0
            for p in batch:
                p.vectors = vectors[offset : offset + len(p.drafts)]
                offset += len(p.drafts)
        except KnowledgeError:
            for p in batch:  # once more alone: the error goes to the document that has it
                try:
                    p.vectors = await self.embedder.embed([d.indexed_text for d in p.drafts])
                except KnowledgeError as exc:
                    report.failed.append(IngestFailure(p.doc.source, exc))
        if progress:
            progress("embed", len(texts), len(texts))
        for p in batch:
            if p.vectors is None:
                continue
            try:
                report.ingested.append(await self._write(p))
            except RoostError as exc:
                report.failed.append(IngestFailure(p.doc.source, exc))

    async def _write(self, p: _Prepared) -> IngestResult:
        assert p.vectors is not None
        if p.vectors.shape[1] != self.info.dimensions:
            raise EmbeddingDimensionMismatch(
                f"{self.embedder.name} gave {p.vectors.shape[1]} dimensions;"
                f" {self.info.name} holds {self.info.dimensions}"
            )
        n = len(p.drafts)
        async with self._write_lock:
            start = await asyncio.to_thread(self.catalog.reserve_keys, n)
            keys = list(range(start, start + n))
            terms = asyncio.ensure_future(asyncio.to_thread(_terms, p.drafts))
            try:
                await self.index.add(self.id, keys, p.vectors)  # meanwhile: the BM25 terms
                new = NewVersion(
                    kb_id=self.id,
                    source=p.doc.source,
                    content_hash=p.content_hash,
                    metadata=dict(p.doc.metadata),
                    drafts=p.drafts,
                    terms=await terms,
                    keys=keys,
                    vectors=p.vectors,
                )
                written = await asyncio.to_thread(self.catalog.write_version, new)
            except BaseException:
                # never visible (the catalog did not commit); the vectors go too
                await asyncio.shield(self._forget(keys))
                raise
            await self._forget(written.retired_keys)
        doc = written.document
        status: IngestStatus = "added" if doc.version == 1 else "updated"
        return IngestResult(doc.source, status, doc.id, doc.version, doc.chunks)

    async def _forget(self, keys: Sequence[int]) -> None:
        """Remove vectors the catalog no longer shows; a failure only leaves invisible
        orphans (the next rebuild drops them)."""
        with contextlib.suppress(Exception):
            await self.index.remove(self.id, keys)

    # -- documents ------------------------------------------------------------------------
    async def documents(self) -> list[DocumentInfo]:
        return await asyncio.to_thread(self.catalog.list_documents, self.id)

    async def versions(self, document: str) -> list[dict[str, Any]]:
        doc = await asyncio.to_thread(self.catalog.get_document, self.id, document)
        if doc is None:
            from roost.knowledge.errors import DocumentNotFound

            raise DocumentNotFound(f"no document {document!r} in {self.info.name}")
        return await asyncio.to_thread(self.catalog.versions, doc.id)

    async def delete_document(self, document: str) -> int:
        """Delete by id or source; returns how many chunks went (from every index)."""
        async with self._write_lock:
            keys = await asyncio.to_thread(self.catalog.delete_document, self.id, document)
            await self._forget(keys)
        return len(keys)

    async def flush(self) -> None:
        async with self._write_lock:
            generation = await asyncio.to_thread(self.catalog.generation, self.id)
            await self.index.flush(self.id, generation)

    # -- search ---------------------------------------------------------------------------
    async def search(
        self,
        query: str,
        *,
        k: int = 5,
        mode: SearchMode = "hybrid",
        filters: Filters | None = None,
        reranker: Reranker | None = None,
    ) -> list[Hit]:
        """The ``k`` best chunks for ``query``; a traced ``retrieve`` span records the
        chunk ids and scores (the query itself only where content is captured)."""
        if not 1 <= k <= 100:
            raise InvalidRequest("k must be between 1 and 100")
        if mode not in ("bm25", "vector", "hybrid"):
            raise InvalidRequest(f"unknown search mode {mode!r}", hint="bm25, vector or hybrid")
        async with _span(self, query, mode) as span:
            hits = await self._search(query, k, mode, filters, reranker)
            if span is not None:
                span.set_attribute("roost.knowledge.chunk_ids", [h.chunk.id for h in hits])
                span.set_attribute("roost.knowledge.scores", [h.score for h in hits])
                span.set_attribute(
                    "roost.knowledge.document_ids", [h.chunk.document_id for h in hits]
                )
        return hits

    async def _search(
        self,
        query: str,
        k: int,
        mode: SearchMode,
        filters: Filters | None,
        reranker: Reranker | None,
    ) -> list[Hit]:
        want = max(k * 4, 20) if (mode == "hybrid" or reranker) else k
        rankings: list[list[int]] = []
        per: dict[str, dict[int, float]] = {}
        if mode in ("bm25", "hybrid"):
            terms = _text.search_terms(query)
            found = await asyncio.to_thread(
                self.catalog.search_terms, self.id, terms, want, filters
            )
            per["bm25"] = dict(found)
            rankings.append([key for key, _ in found])
        if mode in ("vector", "hybrid"):
            vector = (await self.embedder.embed([query]))[0]
            found = await self._vector_candidates(vector, want, filters)
            per["vector"] = dict(found)
            rankings.append([key for key, _ in found])
        fused = (
            reciprocal_rank_fusion(rankings)
            if mode == "hybrid"
            else [
                (key, score) for key, score in (per.get("bm25") or per.get("vector") or {}).items()
            ]
        )
        keys = [key for key, _ in fused[:want]]
        chunks = await asyncio.to_thread(self.catalog.chunks, keys, self.id, filters)
        hits = [
            Hit(chunks[key], score, {m: s[key] for m, s in per.items() if key in s})
            for key, score in fused
            if key in chunks
        ]
        if reranker is not None:
            return await reranker.rerank(query, hits, k)
        return hits[:k]

    async def search_vector(
        self, vector: Vectors, *, k: int = 5, filters: Filters | None = None
    ) -> list[Hit]:
        """Nearest chunks to a query vector computed by the caller."""
        found = await self._vector_candidates(vector, k, filters)
        chunks = await asyncio.to_thread(
            self.catalog.chunks, [key for key, _ in found], self.id, filters
        )
        return [Hit(chunks[key], s, {"vector": s}) for key, s in found if key in chunks][:k]

    async def _vector_candidates(
        self, vector: Vectors, want: int, filters: Filters | None
    ) -> list[tuple[int, float]]:
        if filters:
            count = await asyncio.to_thread(self.catalog.count_chunks, self.id, filters)
            if count <= EXACT_SEARCH_LIMIT:
                return await asyncio.to_thread(self._exact, vector, want, filters)
            found = await self.index.search(self.id, vector, want * 10)
            allowed = await asyncio.to_thread(
                self.catalog.chunks, [key for key, _ in found], self.id, filters
            )
            return [(key, s) for key, s in found if key in allowed][:want]
        return await self.index.search(self.id, vector, want)

    def _exact(self, vector: Vectors, want: int, filters: Filters) -> list[tuple[int, float]]:
        import numpy as np

        best: list[tuple[int, float]] = []
        for keys, vectors in self.catalog.iter_vectors(self.id, filters):
            sims = vectors @ vector
            top = np.argsort(-sims)[:want]
            best.extend((keys[i], float(sims[i])) for i in top)
        best.sort(key=lambda item: -item[1])
        return best[:want]


def _terms(drafts: Sequence[ChunkDraft]) -> list[str]:
    return [" ".join(_text.search_terms(d.indexed_text)) for d in drafts]


@asynccontextmanager
async def _span(base: KnowledgeBase, query: str, mode: str) -> AsyncIterator[Span | None]:
    """A ``retrieve`` span through the OTel API (a no-op without a provider)."""

    from opentelemetry import trace

    attrs = {
        "gen_ai.operation.name": "retrieve",
        "roost.knowledge.kb_id": base.id,
        "roost.knowledge.mode": mode,
        "roost.knowledge.query_sha256": hashlib.sha256(query.encode()).hexdigest(),
    }
    tracer = trace.get_tracer("roost")
    started = time.perf_counter()
    with tracer.start_as_current_span(f"retrieve {base.info.name}", attributes=attrs) as span:
        # content only where the installed provider says a destination keeps it (as
        # roost.agents does for prompts)
        if span.is_recording() and getattr(
            trace.get_tracer_provider(), "roost_capture_content", False
        ):
            span.add_event("gen_ai.retrieval.query", {"gen_ai.retrieval.query": query})
        yield span if span.is_recording() else None
        span.set_attribute("roost.knowledge.duration_ms", (time.perf_counter() - started) * 1000)
