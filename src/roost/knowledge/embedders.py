"""Embedders: texts → unit-length float32 vectors.

Two kinds: any OpenAI-compatible ``/embeddings`` endpoint (vLLM, TEI, Ollama, a bge-m3
served on premise — the production path, and the one for Chinese), and the local
offline model in :mod:`roost.knowledge.local_embedder`. :class:`CachedEmbedder` keeps
vectors by content hash, so re-embedding an unchanged chunk costs nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from roost.knowledge.errors import (
    EmbeddingDimensionMismatch,
    EmbeddingError,
    EmbeddingTimeout,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """``name`` identifies the model (cache keys and knowledge bases record it);
    ``dimensions`` is 0 until known (an endpoint tells it with its first answer)."""

    name: str
    dimensions: int

    async def embed(self, texts: Sequence[str]) -> Vectors: ...


def normalize(vectors: Any) -> Vectors:
    """Rows scaled to length 1 (cosine similarity becomes a dot product)."""
    import numpy as np

    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim != 2:
        raise EmbeddingError(f"expected a 2-D array of vectors, got shape {arr.shape}")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    result: Vectors = arr / norms
    return result


async def probe_dimensions(embedder: Embedder) -> int:
    if not embedder.dimensions:
        await embedder.embed(["dimension probe"])
    return embedder.dimensions


class OpenAIEmbedder:
    """``POST {base_url}/embeddings`` in batches of ``batch_size`` inputs.

    A timeout or an error fails the whole call with a typed error (callers decide per
    document); the API key never reaches an error message.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str | None = None,
        dimensions: int = 0,
        batch_size: int = 64,
        timeout: float = 30.0,
        max_concurrency: int = 4,
    ) -> None:
        self.model = model
        self.name = f"openai:{model}"
        self.base_url = base_url.rstrip("/")
        self.__api_key = api_key
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.timeout = timeout
        self._limit = max_concurrency
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(model={self.model!r}, base_url={self.base_url!r})"

    def _http(self) -> Any:
        import httpx

        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            headers = {"Authorization": f"Bearer {self.__api_key}"} if self.__api_key else {}
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                headers=headers,
            )
            self._client_loop = loop
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def embed(self, texts: Sequence[str]) -> Vectors:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        gate = asyncio.Semaphore(self._limit)

        async def one(batch: Sequence[str]) -> Vectors:
            async with gate:
                return await self._batch(batch)

        parts = await asyncio.gather(
            *(one(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size))
        )
        return np.vstack(parts)

    async def _batch(self, texts: Sequence[str]) -> Vectors:
        import httpx

        url = f"{self.base_url}/embeddings"
        body = {"model": self.model, "input": list(texts), "encoding_format": "float"}
        try:
            response = await self._http().post(url, json=body)
        except httpx.TimeoutException:
            raise EmbeddingTimeout(
                f"the embeddings endpoint {self.base_url} did not answer within {self.timeout}s",
                hint="check the embedding server's load or raise the embedder timeout",
            ) from None
        except httpx.HTTPError as exc:
            raise EmbeddingError(
                f"the embeddings endpoint {self.base_url} failed ({type(exc).__name__})",
                hint="check that the server is running and the base URL ends in /v1",
            ) from None
        if response.status_code >= 400:
            raise EmbeddingError(
                f"the embeddings endpoint answered HTTP {response.status_code}: "
                f"{self._redact(response.text[:300])}",
                hint="check the model name and the API key",
            )
        try:
            data = sorted(response.json()["data"], key=lambda d: d["index"])
            vectors = normalize([d["embedding"] for d in data])
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingError(
                f"the embeddings endpoint sent an unusable answer ({type(exc).__name__})",
                hint="is the base URL an OpenAI-compatible API?",
            ) from None
        if len(vectors) != len(texts):
            raise EmbeddingError(
                f"asked for {len(texts)} embeddings, the endpoint returned {len(vectors)}"
            )
        check_dimensions(self, vectors.shape[1])
        return vectors

    def _redact(self, text: str) -> str:
        key = self.__api_key
        return text.replace(key, "***") if key and len(key) >= 4 else text


def check_dimensions(embedder: Embedder, dims: int) -> None:
    if not embedder.dimensions:
        embedder.dimensions = dims
    elif embedder.dimensions != dims:
        raise EmbeddingDimensionMismatch(
            f"{embedder.name} returned {dims}-dimensional vectors, expected {embedder.dimensions}"
        )


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CachedEmbedder:
    """Wraps an embedder with a SQLite cache keyed by (model name, SHA-256 of the text)."""

    def __init__(self, inner: Embedder, path: str | Path) -> None:
        self.inner = inner
        self.name = inner.name
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS embedding_cache (model TEXT NOT NULL, hash TEXT NOT NULL,"
            " vector BLOB NOT NULL, PRIMARY KEY (model, hash)) WITHOUT ROWID"
        )
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    @dimensions.setter
    def dimensions(self, value: int) -> None:
        self.inner.dimensions = value

    async def embed(self, texts: Sequence[str]) -> Vectors:
        import numpy as np

        hashes = [content_hash(t) for t in texts]
        found = await asyncio.to_thread(self._get, hashes)
        first: dict[str, int] = {}
        for i, h in enumerate(hashes):
            if h not in found:
                first.setdefault(h, i)
        missing = list(first.values())
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        if missing:
            fresh = await self.inner.embed([texts[i] for i in missing])
            new = {hashes[i]: fresh[j] for j, i in enumerate(missing)}
            await asyncio.to_thread(self._put, new)
            found.update(new)
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.vstack([found[h] for h in hashes]).astype(np.float32, copy=False)

    def _get(self, hashes: list[str]) -> dict[str, Any]:
        import numpy as np

        out: dict[str, Any] = {}
        unique = list(dict.fromkeys(hashes))
        with self._lock:
            for i in range(0, len(unique), 500):
                part = unique[i : i + 500]
                marks = ",".join("?" * len(part))
                rows = self._db.execute(
                    f"SELECT hash, vector FROM embedding_cache WHERE model = ? AND hash IN ({marks})",
                    [self.name, *part],
                ).fetchall()
                for h, blob in rows:
                    out[h] = np.frombuffer(blob, dtype=np.float32)
        return out

    def _put(self, vectors: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO embedding_cache VALUES (?, ?, ?)",
                [(self.name, h, v.astype("float32").tobytes()) for h, v in vectors.items()],
            )
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()
