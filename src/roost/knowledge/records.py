"""The records the knowledge layer passes around: sections a reader extracted, chunks,
search hits and ingestion reports. Ids are the lineage handles the audit trail keeps:
knowledge base ``kb_…``, document ``doc_…`` + version number, chunk ``chk_…``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from roost.core import RoostError


@dataclass(frozen=True)
class Section:
    """A piece of a document as its reader found it: text plus where it came from
    (``page`` for PDF, ``heading_path`` for Markdown/HTML/DOCX, ``row`` for CSV)."""

    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before it is stored: its text and the section's metadata."""

    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def indexed_text(self) -> str:
        """What BM25 and the embedder see: the heading path (or title) then the text,
        so a passage under "Leave > Annual leave" is found by those words too."""
        path = self.metadata.get("heading_path") or self.metadata.get("title")
        return f"{path}\n{self.text}" if path else self.text


@dataclass(frozen=True)
class KnowledgeBaseInfo:
    id: str
    name: str
    tenant_id: str
    embedder: str
    dimensions: int
    created_at: float
    documents: int = 0
    chunks: int = 0


@dataclass(frozen=True)
class DocumentInfo:
    id: str
    kb_id: str
    source: str
    version: int
    content_hash: str
    chunks: int
    metadata: dict[str, Any]
    created_at: float


@dataclass(frozen=True)
class Chunk:
    id: str
    kb_id: str
    document_id: str
    version: int
    ordinal: int
    source: str
    text: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk; ``score`` is the fused score, ``scores`` the per-method ones
    (``bm25`` rank score, ``vector`` cosine similarity, ``rerank``)."""

    chunk: Chunk
    score: float
    scores: dict[str, float] = field(default_factory=dict)

    def citation(self) -> dict[str, Any]:
        """The fields an answer cites: ids for lineage, source and location for people."""
        meta = self.chunk.metadata
        out: dict[str, Any] = {
            "chunk_id": self.chunk.id,
            "document_id": self.chunk.document_id,
            "version": self.chunk.version,
            "kb_id": self.chunk.kb_id,
            "source": self.chunk.source,
            "score": round(self.score, 6),
        }
        for key in ("page", "heading_path", "row"):
            if key in meta:
                out[key] = meta[key]
        return out


IngestStatus = Literal["added", "updated", "unchanged"]


@dataclass(frozen=True)
class IngestResult:
    source: str
    status: IngestStatus
    document_id: str
    version: int
    chunks: int


@dataclass(frozen=True)
class IngestFailure:
    source: str
    error: RoostError

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, **self.error.to_dict()}


@dataclass
class IngestReport:
    """What a batch did: per document, its result or its typed error."""

    ingested: list[IngestResult] = field(default_factory=list)
    failed: list[IngestFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "ingested": [r.__dict__ for r in self.ingested],
            "failed": [f.to_dict() for f in self.failed],
        }
