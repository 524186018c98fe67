"""Vector indexes behind one interface: the embedded default (hnswlib HNSW, one file
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


class HnswIndex:
    """HNSW from hnswlib, held in memory, saved to ``<dir>/<kb>.hnsw`` by ``flush``.

    Chosen among usearch, hnswlib, sqlite-vec and LanceDB by measurement
    (docs/decisions/0161). The file is a cache of the catalog: saved with the catalog's
    write generation, and rebuilt from the catalog's vectors when the generations differ
    (after a crash, writes that were never flushed). Deleted keys are marked and their
    slots reused by later inserts. One lock per index: hnswlib does not allow a resize
    or a delete during a search.
    """

    name = "hnswlib"

    def __init__(
        self,
        directory: str | Path,
        *,
        m: int = 16,
        ef_construction: int = 64,
        ef_search: int = 64,
        threads: int = -1,
    ) -> None:
        self.directory = Path(directory)
        self.m = m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.threads = threads
        self._indexes: dict[str, Any] = {}
        self._live: dict[str, int] = {}
        self._locks: dict[str, threading.Lock] = {}

    def _path(self, kb_id: str) -> Path:
        return self.directory / f"{kb_id}.hnsw"

    def _new(self, dimensions: int, capacity: int) -> Any:
        try:
            import hnswlib
        except ImportError:
            raise KnowledgeBackendUnavailable(
                "the embedded vector index needs hnswlib", hint="pip install 'roost[knowledge]'"
            ) from None
        index = hnswlib.Index(space="cosine", dim=dimensions)
        index.init_index(
            max_elements=max(capacity, 1024),
            ef_construction=self.ef_construction,
            M=self.m,
            allow_replace_deleted=True,
        )
        index.set_num_threads(self.threads)
        return index

    def live_count(self, kb_id: str) -> int:
        return self._live.get(kb_id, 0)

    async def open(self, kb_id: str, dimensions: int, state: IndexState) -> None:
        if kb_id not in self._indexes:
            await asyncio.to_thread(self._open, kb_id, dimensions, state)

    def _open(self, kb_id: str, dimensions: int, state: IndexState) -> None:
        import hnswlib

        path = self._path(kb_id)
        meta_path = path.with_suffix(".json")
        meta: dict[str, Any] = {}
        if path.exists() and meta_path.exists():
            try:
                meta = json.loads(meta_path.read_text())
            except ValueError:
                meta = {}
        if meta.get("generation") == state.generation and meta.get("dims") == dimensions:
            index = hnswlib.Index(space="cosine", dim=dimensions)
            index.load_index(str(path), allow_replace_deleted=True)
            index.set_num_threads(self.threads)
            live = int(meta["live"])
        else:
            index = self._new(dimensions, 1024)
            live = 0
            for keys, vectors in state.vectors():
                self._grow(index, live + len(keys))
                index.add_items(vectors, keys, replace_deleted=True)
                live += len(keys)
        self._indexes.setdefault(kb_id, index)
        self._live.setdefault(kb_id, live)
        self._locks.setdefault(kb_id, threading.Lock())

    @staticmethod
    def _grow(index: Any, needed: int) -> None:
        if needed > index.get_max_elements():
            index.resize_index(max(needed, index.get_max_elements() * 2))

    def _index(self, kb_id: str) -> tuple[Any, threading.Lock]:
        try:
            return self._indexes[kb_id], self._locks[kb_id]
        except KeyError:
            raise RuntimeError(f"vector index of {kb_id} is not open") from None

    async def add(self, kb_id: str, keys: Sequence[int], vectors: Vectors) -> None:
        index, lock = self._index(kb_id)

        def add() -> None:
            with lock:
                self._grow(index, index.get_current_count() + len(keys))
                index.add_items(vectors, list(keys), replace_deleted=True)
                self._live[kb_id] += len(keys)

        await asyncio.to_thread(add)

    async def remove(self, kb_id: str, keys: Sequence[int]) -> None:
        if not keys:
            return
        index, lock = self._index(kb_id)

        def remove() -> None:
            with lock:
                for key in keys:
                    try:
                        index.mark_deleted(int(key))
                    except RuntimeError:  # never added (a failed write) or already gone
                        continue
                    self._live[kb_id] -= 1

        await asyncio.to_thread(remove)

    async def search(self, kb_id: str, vector: Vectors, k: int) -> list[tuple[int, float]]:
        index, lock = self._index(kb_id)
        with lock:
            k = min(k, self._live[kb_id])
            if k <= 0:
                return []
            index.set_ef(max(self.ef_search, k))
            labels, distances = index.knn_query(vector, k=k)
        return [(int(key), 1.0 - float(d)) for key, d in zip(labels[0], distances[0], strict=True)]

    async def flush(self, kb_id: str, generation: int) -> None:
        if kb_id not in self._indexes:
            return
        index, lock = self._index(kb_id)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(kb_id)

        def save() -> None:
            with lock:
                tmp = path.with_suffix(".hnsw.tmp")
                index.save_index(str(tmp))
                tmp.replace(path)
                meta = {"generation": generation, "dims": index.dim, "live": self._live[kb_id]}
                path.with_suffix(".json").write_text(json.dumps(meta))

        await asyncio.to_thread(save)

    async def drop(self, kb_id: str) -> None:
        self._indexes.pop(kb_id, None)
        self._live.pop(kb_id, None)
        self._locks.pop(kb_id, None)
        for p in (self._path(kb_id), self._path(kb_id).with_suffix(".json")):
            p.unlink(missing_ok=True)

    async def close(self) -> None:
        self._indexes.clear()
        self._live.clear()
        self._locks.clear()
