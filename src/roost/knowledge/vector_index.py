"""Vector indexes behind one interface: the embedded default (usearch HNSW, one file
per knowledge base), Milvus (:mod:`roost.knowledge.milvus`) and pgvector
(:mod:`roost.knowledge.pgvector`).

An index maps chunk keys (integers the catalog hands out) to vectors and finds the
nearest keys; it holds no text and decides no visibility (the catalog does).
Similarities are cosines in [-1, 1] on every backend.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from roost.knowledge.errors import KnowledgeBackendUnavailable

if TYPE_CHECKING:
    from roost.knowledge.embedders import Vectors


@dataclass(frozen=True)
class IndexState:
    """What the catalog tells an index when it opens a knowledge base: the write
    generation, and every committed vector (to rebuild a stale embedded index)."""

    generation: int
    vectors: Callable[[], Iterator[tuple[list[int], Vectors]]]


@runtime_checkable
class VectorIndex(Protocol):
    name: str

    async def open(self, kb_id: str, dimensions: int, state: IndexState) -> None: ...

    async def add(self, kb_id: str, keys: Sequence[int], vectors: Vectors) -> None: ...

    async def remove(self, kb_id: str, keys: Sequence[int]) -> None: ...

    async def search(self, kb_id: str, vector: Vectors, k: int) -> list[tuple[int, float]]:
        """``(key, cosine similarity)`` of the ``k`` nearest, best first."""
        ...

    async def flush(self, kb_id: str, generation: int) -> None: ...

    async def drop(self, kb_id: str) -> None: ...

    async def close(self) -> None: ...


class UsearchIndex:
    """HNSW from usearch, held in memory, saved to ``<dir>/<kb>.usearch`` by ``flush``.

    Chosen over hnswlib, sqlite-vec and LanceDB by measurement (docs/decisions/0161).
    The file is a cache of the catalog: saved with the catalog's write generation, and
    rebuilt from the catalog's vectors when the generations differ (after a crash, a
    write that never got flushed). ``dtype`` f16 halves the memory with no measurable
    loss of recall for 384-dimensional embeddings.
    """

    name = "usearch"

    def __init__(
        self,
        directory: str | Path,
        *,
        dtype: str = "f16",
        connectivity: int = 16,
        expansion_add: int = 64,
        expansion_search: int = 64,
        threads: int = 0,
    ) -> None:
        self.directory = Path(directory)
        self.dtype = dtype
        self.connectivity = connectivity
        self.expansion_add = expansion_add
        self.expansion_search = expansion_search
        self.threads = threads
        self._indexes: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _path(self, kb_id: str) -> Path:
        return self.directory / f"{kb_id}.usearch"

    def _new(self, dimensions: int) -> Any:
        try:
            from usearch.index import Index
        except ImportError:
            raise KnowledgeBackendUnavailable(
                "the embedded vector index needs usearch", hint="pip install 'roost[knowledge]'"
            ) from None
        return Index(
            ndim=dimensions,
            metric="cos",
            dtype=self.dtype,
            connectivity=self.connectivity,
            expansion_add=self.expansion_add,
            expansion_search=self.expansion_search,
        )

    async def open(self, kb_id: str, dimensions: int, state: IndexState) -> None:
        if kb_id not in self._indexes:
            await asyncio.to_thread(self._open, kb_id, dimensions, state)

    def _open(self, kb_id: str, dimensions: int, state: IndexState) -> None:
        path = self._path(kb_id)
        meta_path = path.with_suffix(".json")
        index = self._new(dimensions)
        fresh = False
        if path.exists() and meta_path.exists():
            try:
                meta = json.loads(meta_path.read_text())
                fresh = meta.get("generation") == state.generation and meta.get("dims") == dimensions
            except ValueError:
                fresh = False
        if fresh:
            index.load(str(path))
        else:
            for keys, vectors in state.vectors():
                index.add(keys, vectors, threads=self.threads)
        with self._lock:
            self._indexes.setdefault(kb_id, index)

    def _index(self, kb_id: str) -> Any:
        try:
            return self._indexes[kb_id]
        except KeyError:
            raise RuntimeError(f"vector index of {kb_id} is not open") from None

    async def add(self, kb_id: str, keys: Sequence[int], vectors: Vectors) -> None:
        import numpy as np

        index = self._index(kb_id)
        await asyncio.to_thread(
            index.add, np.asarray(keys, dtype=np.uint64), vectors, threads=self.threads
        )

    async def remove(self, kb_id: str, keys: Sequence[int]) -> None:
        if keys:
            import numpy as np

            index = self._index(kb_id)
            await asyncio.to_thread(index.remove, np.asarray(keys, dtype=np.uint64))

    async def search(self, kb_id: str, vector: Vectors, k: int) -> list[tuple[int, float]]:
        index = self._index(kb_id)
        if len(index) == 0:
            return []
        found = index.search(vector, min(k, len(index)))
        return [(int(key), 1.0 - float(d)) for key, d in zip(found.keys, found.distances, strict=True)]

    async def flush(self, kb_id: str, generation: int) -> None:
        index = self._indexes.get(kb_id)
        if index is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(kb_id)

        def save() -> None:
            tmp = path.with_suffix(".usearch.tmp")
            index.save(str(tmp))
            tmp.replace(path)
            meta = {"generation": generation, "dims": index.ndim}
            path.with_suffix(".json").write_text(json.dumps(meta))

        await asyncio.to_thread(save)

    async def drop(self, kb_id: str) -> None:
        self._indexes.pop(kb_id, None)
        for p in (self._path(kb_id), self._path(kb_id).with_suffix(".json")):
            p.unlink(missing_ok=True)

    async def close(self) -> None:
        self._indexes.clear()
