"""The catalog: knowledge bases, documents, versions and chunks in one SQLite file,
with an FTS5 index over the chunks' search terms for BM25.

It is the source of truth and the visibility gate. A document's chunks, their BM25
terms and its new version are committed in one transaction; a vector index returns
chunk keys that count only when they join a committed chunk row here. So a document is
searchable in every index or in none, and vectors left by a crash are never returned.
Vectors are kept here too (float32 blobs): an embedded index is rebuilt from them and
filtered searches over few chunks are exact.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roost.core import InvalidRequest, new_id
from roost.knowledge.errors import DocumentNotFound, KnowledgeBaseNotFound
from roost.knowledge.records import Chunk, ChunkDraft, DocumentInfo, KnowledgeBaseInfo

if TYPE_CHECKING:
    from roost.knowledge.embedders import Vectors

Filters = Mapping[str, Any]
"""``{field: value}`` or ``{field: [values…]}``, all must match; fields are ``source``,
``document_id`` or keys of the chunk metadata (document metadata included)."""

_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS knowledge_bases (
  id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, name TEXT NOT NULL, embedder TEXT NOT NULL,
  dimensions INTEGER NOT NULL, settings TEXT NOT NULL, created_at REAL NOT NULL,
  generation INTEGER NOT NULL DEFAULT 0, UNIQUE (tenant_id, name));
CREATE TABLE IF NOT EXISTS documents (
  id TEXT PRIMARY KEY, kb_id TEXT NOT NULL, source TEXT NOT NULL, version INTEGER NOT NULL,
  content_hash TEXT NOT NULL, chunks INTEGER NOT NULL, metadata TEXT NOT NULL,
  created_at REAL NOT NULL, UNIQUE (kb_id, source));
CREATE TABLE IF NOT EXISTS document_versions (
  document_id TEXT NOT NULL, kb_id TEXT NOT NULL, source TEXT NOT NULL, version INTEGER NOT NULL,
  content_hash TEXT NOT NULL, chunks INTEGER NOT NULL, created_at REAL NOT NULL,
  retired_at REAL, PRIMARY KEY (document_id, version));
CREATE TABLE IF NOT EXISTS chunks (
  key INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, kb_id TEXT NOT NULL,
  document_id TEXT NOT NULL, version INTEGER NOT NULL, ordinal INTEGER NOT NULL,
  source TEXT NOT NULL, text TEXT NOT NULL, metadata TEXT NOT NULL, vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks (document_id);
CREATE INDEX IF NOT EXISTS chunks_kb ON chunks (kb_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
  terms, kb, tokenize = 'unicode61 remove_diacritics 2');
CREATE TABLE IF NOT EXISTS key_allocator (id INTEGER PRIMARY KEY CHECK (id = 1), next INTEGER NOT NULL);
INSERT OR IGNORE INTO key_allocator VALUES (1, 1);
"""


@dataclass(frozen=True)
class NewVersion:
    """What :meth:`Catalog.write_version` stores for one document."""

    kb_id: str
    source: str
    content_hash: str
    metadata: dict[str, Any]
    drafts: Sequence[ChunkDraft]
    terms: Sequence[str]
    """Space-joined BM25 terms, one string per draft."""
    keys: Sequence[int]
    vectors: Vectors


@dataclass(frozen=True)
class WrittenVersion:
    document: DocumentInfo
    retired_keys: list[int]
    """Keys of the previous version's chunks, now gone from the catalog."""


def _kb_token(kb_id: str) -> str:
    return "kb" + re.sub(r"[^A-Za-z0-9]", "", kb_id)


def fts_query(terms: Sequence[str]) -> str:
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in dict.fromkeys(terms))


class Catalog:
    """Thread-safe (one connection behind a lock); callers in async code use
    ``asyncio.to_thread``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute("PRAGMA secure_delete=ON")  # deleted text is overwritten on disk
        self._lock = threading.RLock()
        with self._lock:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- knowledge bases ------------------------------------------------------------------
    def create_kb(
        self, tenant_id: str, name: str, embedder: str, dimensions: int, settings: dict[str, Any]
    ) -> KnowledgeBaseInfo:
        kb_id = new_id("kb")
        now = time.time()
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO knowledge_bases (id, tenant_id, name, embedder, dimensions,"
                    " settings, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (kb_id, tenant_id, name, embedder, dimensions, json.dumps(settings), now),
                )
            except sqlite3.IntegrityError:
                from roost.core import Conflict

                raise Conflict(
                    f"a knowledge base named {name!r} already exists",
                    hint="choose another name or use the existing one",
                ) from None
        return KnowledgeBaseInfo(kb_id, name, tenant_id, embedder, dimensions, now)

    def get_kb(self, kb_id: str, tenant_id: str | None) -> tuple[KnowledgeBaseInfo, dict[str, Any]]:
        """The knowledge base and its settings; another tenant's is "not found"."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, name, tenant_id, embedder, dimensions, created_at, settings"
                " FROM knowledge_bases WHERE id = ? OR (name = ? AND (? IS NULL OR tenant_id = ?))"
                " ORDER BY id = ? DESC",
                (kb_id, kb_id, tenant_id, tenant_id, kb_id),
            ).fetchall()
        row = rows[0] if rows else None
        if row is None or (tenant_id is not None and row[2] != tenant_id):
            raise KnowledgeBaseNotFound(f"no knowledge base {kb_id!r}")
        if row[0] != kb_id and len(rows) > 1:
            from roost.core import Conflict

            raise Conflict(
                f"several tenants have a knowledge base named {kb_id!r}", hint="use its id"
            )
        return _kb_info(row, *self._counts(row[0])), json.loads(row[6])

    def list_kbs(self, tenant_id: str | None) -> list[KnowledgeBaseInfo]:
        sql = "SELECT id, name, tenant_id, embedder, dimensions, created_at FROM knowledge_bases"
        args: tuple[Any, ...] = ()
        if tenant_id is not None:
            sql, args = sql + " WHERE tenant_id = ?", (tenant_id,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [_kb_info(r, *self._counts(r[0])) for r in rows]

    def _counts(self, kb_id: str) -> tuple[int, int]:
        with self._lock:
            row = self._db.execute(
                "SELECT count(*), coalesce(sum(chunks), 0) FROM documents WHERE kb_id = ?",
                (kb_id,),
            ).fetchone()
        return int(row[0]), int(row[1])

    def delete_kb(self, kb_id: str) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "DELETE FROM chunks_fts WHERE rowid IN (SELECT key FROM chunks WHERE kb_id = ?)",
                    (kb_id,),
                )
                for table in ("chunks", "documents", "document_versions"):
                    self._db.execute(f"DELETE FROM {table} WHERE kb_id = ?", (kb_id,))
                self._db.execute("DELETE FROM knowledge_bases WHERE id = ?", (kb_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def generation(self, kb_id: str) -> int:
        """Bumped by every write; an embedded index saved at another generation is stale."""
        with self._lock:
            row = self._db.execute(
                "SELECT generation FROM knowledge_bases WHERE id = ?", (kb_id,)
            ).fetchone()
        return int(row[0]) if row else 0

    # -- documents ------------------------------------------------------------------------
    def get_document(self, kb_id: str, source: str) -> DocumentInfo | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, kb_id, source, version, content_hash, chunks, metadata, created_at"
                " FROM documents WHERE kb_id = ? AND (source = ? OR id = ?)",
                (kb_id, source, source),
            ).fetchone()
        return _document(row) if row else None

    def list_documents(self, kb_id: str) -> list[DocumentInfo]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, kb_id, source, version, content_hash, chunks, metadata, created_at"
                " FROM documents WHERE kb_id = ? ORDER BY source",
                (kb_id,),
            ).fetchall()
        return [_document(r) for r in rows]

    def versions(self, document_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT version, content_hash, chunks, created_at, retired_at"
                " FROM document_versions WHERE document_id = ? ORDER BY version",
                (document_id,),
            ).fetchall()
        names = ("version", "content_hash", "chunks", "created_at", "retired_at")
        return [dict(zip(names, r, strict=True)) for r in rows]

    def reserve_keys(self, count: int) -> int:
        """Reserve ``count`` chunk keys (committed at once: a key is never handed out
        twice, so a vector orphaned by a failed write never collides with a new chunk)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            start = int(self._db.execute("SELECT next FROM key_allocator").fetchone()[0])
            self._db.execute("UPDATE key_allocator SET next = ?", (start + count,))
            self._db.execute("COMMIT")
        return start

    def write_version(self, new: NewVersion) -> WrittenVersion:
        """Replace a document's chunks by a new version in one transaction."""
        now = time.time()
        kb_token = _kb_token(new.kb_id)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT id, version FROM documents WHERE kb_id = ? AND source = ?",
                    (new.kb_id, new.source),
                ).fetchone()
                doc_id, version = (row[0], row[1] + 1) if row else (new_id("doc"), 1)
                retired = self._drop_chunks(doc_id, now) if row else []
                self._db.execute(
                    "INSERT INTO documents (id, kb_id, source, version, content_hash, chunks,"
                    " metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id)"
                    " DO UPDATE SET version = excluded.version, content_hash ="
                    " excluded.content_hash, chunks = excluded.chunks, metadata ="
                    " excluded.metadata, created_at = excluded.created_at",
                    (
                        doc_id,
                        new.kb_id,
                        new.source,
                        version,
                        new.content_hash,
                        len(new.drafts),
                        json.dumps(new.metadata, ensure_ascii=False),
                        now,
                    ),
                )
                self._db.execute(
                    "INSERT INTO document_versions VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                    (
                        doc_id,
                        new.kb_id,
                        new.source,
                        version,
                        new.content_hash,
                        len(new.drafts),
                        now,
                    ),
                )
                doc_meta = json.dumps(new.metadata, ensure_ascii=False)
                raw = new.vectors.astype("float32", copy=False).tobytes()
                step = len(raw) // max(len(new.drafts), 1)
                rows = [
                    (
                        key,
                        new_id("chk"),
                        new.kb_id,
                        doc_id,
                        version,
                        i,
                        new.source,
                        draft.text,
                        json.dumps({**new.metadata, **draft.metadata}, ensure_ascii=False)
                        if draft.metadata
                        else doc_meta,
                        raw[i * step : (i + 1) * step],
                    )
                    for i, (draft, key) in enumerate(zip(new.drafts, new.keys, strict=True))
                ]
                self._db.executemany("INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
                self._db.executemany(
                    "INSERT INTO chunks_fts (rowid, terms, kb) VALUES (?, ?, ?)",
                    [(k, t, kb_token) for k, t in zip(new.keys, new.terms, strict=True)],
                )
                self._bump(new.kb_id)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        info = DocumentInfo(
            doc_id, new.kb_id, new.source, version, new.content_hash, len(new.drafts),
            new.metadata, now,
        )  # fmt: skip
        return WrittenVersion(info, retired)

    def delete_document(self, kb_id: str, document: str) -> list[int]:
        """Remove a document (by id or source) and its chunks; returns their keys."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT id FROM documents WHERE kb_id = ? AND (id = ? OR source = ?)",
                    (kb_id, document, document),
                ).fetchone()
                if row is None:
                    raise DocumentNotFound(f"no document {document!r} in {kb_id}")
                keys = self._drop_chunks(row[0], now)
                self._db.execute("DELETE FROM documents WHERE id = ?", (row[0],))
                self._bump(kb_id)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return keys

    def _drop_chunks(self, document_id: str, now: float) -> list[int]:
        keys = [
            int(r[0])
            for r in self._db.execute(
                "SELECT key FROM chunks WHERE document_id = ?", (document_id,)
            )
        ]
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            marks = ",".join("?" * len(part))
            self._db.execute(f"DELETE FROM chunks_fts WHERE rowid IN ({marks})", part)
            self._db.execute(f"DELETE FROM chunks WHERE key IN ({marks})", part)
        self._db.execute(
            "UPDATE document_versions SET retired_at = ? WHERE document_id = ? AND retired_at IS NULL",
            (now, document_id),
        )
        return keys

    def purge(self) -> None:
        """Make deleted text unrecoverable from the files: FTS5 keeps deleted terms in
        its segments until they merge (``optimize`` merges them now), and the WAL keeps
        old pages until a checkpoint. Costs a pass over the FTS index."""
        with self._lock:
            self._db.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('optimize')")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _bump(self, kb_id: str) -> None:
        self._db.execute(
            "UPDATE knowledge_bases SET generation = generation + 1 WHERE id = ?", (kb_id,)
        )

    # -- reads ----------------------------------------------------------------------------
    def search_terms(
        self, kb_id: str, terms: Sequence[str], k: int, filters: Filters | None = None
    ) -> list[tuple[int, float]]:
        """BM25 over the chunks' terms: ``(key, score)``, best first (score > 0)."""
        if not terms:
            return []
        where, args = _filter_sql(filters)
        query = f'kb:"{_kb_token(kb_id)}" AND ({fts_query(terms)})'
        sql = (
            "SELECT f.rowid, bm25(chunks_fts, 1.0, 0.0) AS s FROM chunks_fts f"
            + (" JOIN chunks c ON c.key = f.rowid" if where else "")
            + " WHERE chunks_fts MATCH ?"
            + where
            + " ORDER BY s LIMIT ?"
        )
        with self._lock:
            rows = self._db.execute(sql, (query, *args, k)).fetchall()
        return [(int(key), -float(score)) for key, score in rows]

    def chunks(
        self, keys: Sequence[int], kb_id: str, filters: Filters | None = None
    ) -> dict[int, Chunk]:
        """The committed chunks among ``keys`` in ``kb_id`` that pass ``filters``."""
        out: dict[int, Chunk] = {}
        where, args = _filter_sql(filters)
        for i in range(0, len(keys), 500):
            part = list(keys[i : i + 500])
            marks = ",".join("?" * len(part))
            with self._lock:
                rows = self._db.execute(
                    "SELECT c.key, c.id, c.kb_id, c.document_id, c.version, c.ordinal, c.source,"
                    f" c.text, c.metadata FROM chunks c WHERE c.kb_id = ? AND c.key IN ({marks})"
                    + where,
                    (kb_id, *part, *args),
                ).fetchall()
            for r in rows:
                out[int(r[0])] = Chunk(
                    id=r[1],
                    kb_id=r[2],
                    document_id=r[3],
                    version=r[4],
                    ordinal=r[5],
                    source=r[6],
                    text=r[7],
                    metadata=json.loads(r[8]),
                )
        return out

    def count_chunks(self, kb_id: str, filters: Filters | None = None) -> int:
        where, args = _filter_sql(filters)
        with self._lock:
            row = self._db.execute(
                "SELECT count(*) FROM chunks c WHERE c.kb_id = ?" + where, (kb_id, *args)
            ).fetchone()
        return int(row[0])

    def iter_vectors(
        self, kb_id: str, filters: Filters | None = None, batch: int = 50_000
    ) -> Iterator[tuple[list[int], Vectors]]:
        """All committed vectors of a knowledge base, in batches of keys and rows."""
        import numpy as np

        where, args = _filter_sql(filters)
        last = 0
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT c.key, c.vector FROM chunks c WHERE c.kb_id = ? AND c.key > ?"
                    + where
                    + " ORDER BY c.key LIMIT ?",
                    (kb_id, last, *args, batch),
                ).fetchall()
            if not rows:
                return
            keys = [int(r[0]) for r in rows]
            vectors = np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
            yield keys, vectors
            last = keys[-1]


def _document(row: Sequence[Any]) -> DocumentInfo:
    return DocumentInfo(
        id=row[0],
        kb_id=row[1],
        source=row[2],
        version=row[3],
        content_hash=row[4],
        chunks=row[5],
        metadata=json.loads(row[6]),
        created_at=row[7],
    )


def _kb_info(row: Sequence[Any], documents: int, chunks: int) -> KnowledgeBaseInfo:
    return KnowledgeBaseInfo(
        id=row[0],
        name=row[1],
        tenant_id=row[2],
        embedder=row[3],
        dimensions=row[4],
        created_at=row[5],
        documents=documents,
        chunks=chunks,
    )


def _filter_sql(filters: Filters | None) -> tuple[str, list[Any]]:
    if not filters:
        return "", []
    parts: list[str] = []
    args: list[Any] = []
    for name, value in filters.items():
        if not _FIELD.match(name):
            raise InvalidRequest(
                f"filter field {name!r} is not a valid name",
                hint="use letters, digits, '_', '.' or '-'",
            )
        column = (
            f"c.{name}"
            if name in ("source", "document_id")
            else f"json_extract(c.metadata, '$.{name}')"
        )
        values = list(value) if isinstance(value, list | tuple | set) else [value]
        if not values or not all(isinstance(v, str | int | float | bool) for v in values):
            raise InvalidRequest(
                f"filter {name!r} needs a string, number or boolean, or a list of them"
            )
        parts.append(f"{column} IN ({','.join('?' * len(values))})")
        args.extend(values)
    return " AND " + " AND ".join(parts), args
