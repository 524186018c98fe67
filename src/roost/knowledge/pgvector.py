"""PostgreSQL with the pgvector extension as the vector index.

One table per knowledge base (``roost_vectors_<kb id>``: ``key bigint`` primary key,
``embedding vector(n)``) with an HNSW index on cosine distance. Vectors travel as
pgvector's text form, so only asyncpg is needed. The extension must be installable on
the server (``CREATE EXTENSION vector``); where it is not, opening fails with a typed
error that says so.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from roost.core import secret_ref
from roost.knowledge.errors import KnowledgeBackendUnavailable
from roost.knowledge.vector_index import IndexState

if TYPE_CHECKING:
    from roost.knowledge.embedders import Vectors


def table_name(kb_id: str) -> str:
    return "roost_vectors_" + re.sub(r"[^a-z0-9_]", "_", kb_id.lower())


def _vector_text(v: Any) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in v) + "]"


class PgVectorIndex:
    name = "pgvector"

    def __init__(self, url: str, *, ef_search: int = 64) -> None:
        self.url = url.replace("postgresql+asyncpg://", "postgresql://")
        self.ef_search = ef_search
        self._pool: Any = None
        self._pool_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return "PgVectorIndex(url=***)"

    async def _conn_pool(self) -> Any:
        async with self._pool_lock:
            if self._pool is None:
                try:
                    import asyncpg
                except ImportError:
                    raise KnowledgeBackendUnavailable(
                        "the pgvector index needs asyncpg", hint="pip install 'roost[pgvector]'"
                    ) from None
                # ``secret://NAME``: the URL (with its password) read from the secret store now
                dsn = secret_ref.resolve(self.url).replace("postgresql+asyncpg://", "postgresql://")
                pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
                problem = None
                async with pool.acquire() as conn:
                    try:
                        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                    except asyncpg.PostgresError as exc:
                        problem = str(exc)
                if problem is not None:
                    await pool.close()
                    raise KnowledgeBackendUnavailable(
                        f"PostgreSQL has no pgvector extension ({problem})",
                        hint="install pgvector on the database server (e.g. the "
                        "postgresql-NN-pgvector package) or use the embedded index",
                    )
                self._pool = pool
            return self._pool

    async def open(self, kb_id: str, dimensions: int, state: IndexState) -> None:
        pool = await self._conn_pool()
        table = table_name(kb_id)
        async with pool.acquire() as conn:
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (key bigint PRIMARY KEY,"
                f" embedding vector({int(dimensions)}) NOT NULL)"
            )
            await conn.execute(
                f"CREATE INDEX IF NOT EXISTS {table}_hnsw ON {table}"
                " USING hnsw (embedding vector_cosine_ops)"
            )

    async def add(self, kb_id: str, keys: Sequence[int], vectors: Vectors) -> None:
        pool = await self._conn_pool()
        rows = [(int(k), _vector_text(v)) for k, v in zip(keys, vectors, strict=True)]
        async with pool.acquire() as conn:
            await conn.executemany(
                f"INSERT INTO {table_name(kb_id)} (key, embedding) VALUES ($1, $2::vector)"
                " ON CONFLICT (key) DO UPDATE SET embedding = excluded.embedding",
                rows,
            )

    async def remove(self, kb_id: str, keys: Sequence[int]) -> None:
        if keys:
            pool = await self._conn_pool()
            async with pool.acquire() as conn:
                await conn.execute(
                    f"DELETE FROM {table_name(kb_id)} WHERE key = ANY($1::bigint[])",
                    [int(k) for k in keys],
                )

    async def search(self, kb_id: str, vector: Vectors, k: int) -> list[tuple[int, float]]:
        pool = await self._conn_pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SET LOCAL hnsw.ef_search = {int(max(self.ef_search, k))}")
            rows = await conn.fetch(
                f"SELECT key, 1 - (embedding <=> $1::vector) AS sim FROM {table_name(kb_id)}"
                " ORDER BY embedding <=> $1::vector LIMIT $2",
                _vector_text(vector),
                k,
            )
        return [(int(r["key"]), float(r["sim"])) for r in rows]

    async def flush(self, kb_id: str, generation: int) -> None:
        return None  # every write is committed

    async def drop(self, kb_id: str) -> None:
        pool = await self._conn_pool()
        async with pool.acquire() as conn:
            await conn.execute(f"DROP TABLE IF EXISTS {table_name(kb_id)}")

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
