"""Milvus as the vector index (the default of the platforms Roost replaces).

One collection per knowledge base (``roost_<kb id>``: an INT64 primary key = chunk key,
a FLOAT_VECTOR, COSINE metric). ``uri`` is a cluster (``http://milvus:19530``) or a
local file, which ``pymilvus`` serves with ``milvus-lite`` — the real Milvus engine in
a child process (tests use milvus-lite 2.5, see docs/knowledge.md). The catalog stays
the source of truth and the BM25 index; Milvus holds vectors only.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from roost.core import secret_ref
from roost.knowledge.errors import KnowledgeBackendUnavailable, KnowledgeError
from roost.knowledge.vector_index import IndexState

if TYPE_CHECKING:
    from roost.knowledge.embedders import Vectors


def collection_name(kb_id: str) -> str:
    return "roost_" + re.sub(r"[^A-Za-z0-9_]", "_", kb_id)


class MilvusIndex:
    name = "milvus"

    def __init__(self, uri: str, *, token: str | None = None, batch: int = 5000) -> None:
        self.uri = uri
        self.__token = token
        self.batch = batch
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MilvusIndex(uri={self.uri!r})"

    def _connect(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    from pymilvus import MilvusClient
                except ImportError:
                    raise KnowledgeBackendUnavailable(
                        "the Milvus index needs pymilvus (and milvus-lite for a local file)",
                        hint="pip install 'roost[milvus]'",
                    ) from None
                try:
                    self._client = MilvusClient(
                        uri=self.uri, token=secret_ref.resolve(self.__token or "")
                    )
                except Exception as exc:
                    raise KnowledgeBackendUnavailable(
                        f"cannot reach Milvus at {self.uri} ({type(exc).__name__})",
                        hint="check the Milvus URI and that the server is up",
                    ) from None
            return self._client

    async def _call(self, fn: str, *args: Any, **kwargs: Any) -> Any:
        client = await asyncio.to_thread(self._connect)
        try:
            return await asyncio.to_thread(getattr(client, fn), *args, **kwargs)
        except KnowledgeError:
            raise
        except Exception as exc:
            raise KnowledgeError(
                f"Milvus {fn} failed: {type(exc).__name__}: {str(exc)[:300]}"
            ) from None

    async def open(self, kb_id: str, dimensions: int, state: IndexState) -> None:
        name = collection_name(kb_id)
        if not await self._call("has_collection", name):
            await self._call(
                "create_collection",
                name,
                dimension=dimensions,
                primary_field_name="id",
                id_type="int",
                vector_field_name="vector",
                metric_type="COSINE",
                auto_id=False,
                consistency_level="Strong",
            )

    async def add(self, kb_id: str, keys: Sequence[int], vectors: Vectors) -> None:
        name = collection_name(kb_id)
        rows = [{"id": int(k), "vector": v.tolist()} for k, v in zip(keys, vectors, strict=True)]
        for i in range(0, len(rows), self.batch):
            await self._call("insert", name, rows[i : i + self.batch])

    async def remove(self, kb_id: str, keys: Sequence[int]) -> None:
        if keys:
            await self._call("delete", collection_name(kb_id), ids=[int(k) for k in keys])

    async def search(self, kb_id: str, vector: Vectors, k: int) -> list[tuple[int, float]]:
        found = await self._call(
            "search", collection_name(kb_id), data=[vector.tolist()], limit=k, output_fields=[]
        )
        return [(int(hit["id"]), float(hit["distance"])) for hit in found[0]]

    async def flush(self, kb_id: str, generation: int) -> None:
        await self._call("flush", collection_name(kb_id))

    async def drop(self, kb_id: str) -> None:
        await self._call("drop_collection", collection_name(kb_id))

    async def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(client.close)
