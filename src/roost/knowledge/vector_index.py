"""Vector indexes behind one interface: the embedded default (faiss, one file
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


class FaissIndex:
    """The embedded vector index: faiss, held in memory, saved to ``<dir>/<kb>.faiss``.

    Exact (a flat inner-product index) up to ``train_at`` vectors; beyond that an IVF
    index trained on the vectors present (``nlist`` ≈ 2·√n lists, ``nprobe`` searched),
    retrained when the knowledge base has grown ``retrain_factor`` times since. Chosen
    over hnswlib, usearch, sqlite-vec and LanceDB by measurement (docs/decisions/0161):
    graph indexes insert too slowly on two shared cores, sqlite-vec scans everything,
    usearch crashes the process when onnxruntime is imported after it.

    The file is a cache of the catalog, saved with the catalog's write generation and
    rebuilt from the catalog's vectors when the generations differ (after a crash,
    writes that were never flushed). One lock per index: faiss does not allow a write
    during a search.
    """

    name = "faiss"

    def __init__(
        self,
        directory: str | Path,
        *,
        train_at: int = 50_000,
        nprobe: int = 16,
        retrain_factor: int = 32,
        threads: int = 0,
    ) -> None:
        self.directory = Path(directory)
        self.train_at = train_at
        self.nprobe = nprobe
        self.retrain_factor = retrain_factor
        self.threads = threads
        self._indexes: dict[str, Any] = {}
        self._trained: dict[str, int] = {}
        self._states: dict[str, IndexState] = {}
        self._locks: dict[str, threading.Lock] = {}

    def _faiss(self) -> Any:
        try:
            import faiss
        except ImportError:
            raise KnowledgeBackendUnavailable(
                "the embedded vector index needs faiss-cpu", hint="pip install 'roost[knowledge]'"
            ) from None
        if self.threads:
            faiss.omp_set_num_threads(self.threads)
        return faiss

    def _path(self, kb_id: str) -> Path:
        return self.directory / f"{kb_id}.faiss"

    def live_count(self, kb_id: str) -> int:
        index = self._indexes.get(kb_id)
        return int(index.ntotal) if index is not None else 0

    def kind(self, kb_id: str) -> str:
        """``flat`` or ``ivf<nlist>``: what the knowledge base's index is now."""
        index = self._indexes[kb_id]
        return f"ivf{index.nlist}" if hasattr(index, "nlist") else "flat"

    async def open(self, kb_id: str, dimensions: int, state: IndexState) -> None:
        if kb_id not in self._indexes:
            await asyncio.to_thread(self._open, kb_id, dimensions, state)

    def _open(self, kb_id: str, dimensions: int, state: IndexState) -> None:
        faiss = self._faiss()
        path = self._path(kb_id)
        meta: dict[str, Any] = {}
        if path.exists() and path.with_suffix(".json").exists():
            try:
                meta = json.loads(path.with_suffix(".json").read_text())
            except ValueError:
                meta = {}
        if meta.get("generation") == state.generation and meta.get("dims") == dimensions:
            index = faiss.read_index(str(path))
            if hasattr(index, "nprobe"):
                index.nprobe = self.nprobe
            trained = int(meta.get("trained", 0))
        else:
            index, trained = self._build(dimensions, state, [], None)
        self._indexes.setdefault(kb_id, index)
        self._trained.setdefault(kb_id, trained)
        self._states[kb_id] = state
        self._locks.setdefault(kb_id, threading.Lock())

    def _build(
        self, dimensions: int, state: IndexState, keys: Sequence[int], vectors: Vectors | None
    ) -> tuple[Any, int]:
        """A new index over the catalog's vectors plus ``vectors`` (a batch being
        written, not committed yet): flat while small, IVF trained on them beyond."""
        import numpy as np

        faiss = self._faiss()
        parts = list(state.vectors())
        if vectors is not None and len(keys):
            parts.append((list(keys), vectors))
        total = sum(len(k) for k, _ in parts)
        if total < self.train_at:
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimensions))
            for part_keys, part_vectors in parts:
                index.add_with_ids(part_vectors, _ids(part_keys))
            return index, 0
        nlist = max(64, min(4096, int(2 * total**0.5)))
        everything = np.vstack([v for _, v in parts])
        sample = everything[np.random.default_rng(0).permutation(total)[: nlist * 40]]
        index = faiss.IndexIVFFlat(
            faiss.IndexFlatIP(dimensions), dimensions, nlist, faiss.METRIC_INNER_PRODUCT
        )
        index.train(sample)
        index.add_with_ids(everything, _ids([k for part_keys, _ in parts for k in part_keys]))
        index.nprobe = self.nprobe
        return index, total

    def _index(self, kb_id: str) -> tuple[Any, threading.Lock]:
        try:
            return self._indexes[kb_id], self._locks[kb_id]
        except KeyError:
            raise RuntimeError(f"vector index of {kb_id} is not open") from None

    async def add(self, kb_id: str, keys: Sequence[int], vectors: Vectors) -> None:
        _, lock = self._index(kb_id)

        def add() -> None:
            with lock:
                current = self._indexes[kb_id]
                trained = self._trained[kb_id]
                total = int(current.ntotal) + len(keys)
                if (not trained and total >= self.train_at) or (
                    trained and total >= trained * self.retrain_factor
                ):
                    self._indexes[kb_id], self._trained[kb_id] = self._build(
                        current.d, self._states[kb_id], keys, vectors
                    )
                else:
                    current.add_with_ids(vectors, _ids(keys))

        await asyncio.to_thread(add)

    async def remove(self, kb_id: str, keys: Sequence[int]) -> None:
        if not keys:
            return
        _, lock = self._index(kb_id)

        def remove() -> None:
            with lock:
                self._indexes[kb_id].remove_ids(_ids(keys))

        await asyncio.to_thread(remove)

    async def search(self, kb_id: str, vector: Vectors, k: int) -> list[tuple[int, float]]:
        _, lock = self._index(kb_id)
        with lock:
            index = self._indexes[kb_id]
            if index.ntotal == 0:
                return []
            sims, ids = index.search(vector.reshape(1, -1), min(k, int(index.ntotal)))
        return [(int(i), float(s)) for i, s in zip(ids[0], sims[0], strict=True) if i >= 0]

    async def flush(self, kb_id: str, generation: int) -> None:
        if kb_id not in self._indexes:
            return
        _, lock = self._index(kb_id)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(kb_id)
        faiss = self._faiss()

        def save() -> None:
            with lock:
                index = self._indexes[kb_id]
                tmp = path.with_suffix(".faiss.tmp")
                faiss.write_index(index, str(tmp))
                tmp.replace(path)
                meta = {"generation": generation, "dims": index.d, "trained": self._trained[kb_id]}
                path.with_suffix(".json").write_text(json.dumps(meta))

        await asyncio.to_thread(save)

    async def drop(self, kb_id: str) -> None:
        self._indexes.pop(kb_id, None)
        self._trained.pop(kb_id, None)
        self._states.pop(kb_id, None)
        self._locks.pop(kb_id, None)
        for p in (self._path(kb_id), self._path(kb_id).with_suffix(".json")):
            p.unlink(missing_ok=True)

    async def close(self) -> None:
        self._indexes.clear()
        self._trained.clear()
        self._states.clear()
        self._locks.clear()


def _ids(keys: Sequence[int]) -> Any:
    import numpy as np

    return np.asarray(keys, dtype=np.int64)
