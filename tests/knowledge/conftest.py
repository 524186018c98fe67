"""Fixtures of the knowledge tests: an embedded store per test and a real HTTP server
on loopback that speaks the OpenAI embeddings and the /rerank protocols (backed by the
real local model; ``embedder`` and ``onnx_dir`` come from tests/conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fake_providers import AppServer
from roost.knowledge import KnowledgeStore, OnnxEmbedder


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[KnowledgeStore]:
    s = KnowledgeStore(tmp_path / "knowledge")
    yield s
    await s.close()


@dataclass
class EmbeddingsServer:
    """Loopback server of ``POST /v1/embeddings`` and ``POST /v1/rerank``."""

    embedder: OnnxEmbedder
    stall_on: str | None = None
    """Inputs containing this text make the server hang (a timeout mid-batch)."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    server: AppServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.base + "/v1"

    async def _embeddings(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.requests.append(body)
        texts = body["input"]
        if self.stall_on and any(self.stall_on in t for t in texts):
            await asyncio.sleep(30)
        vectors = self.embedder.embed_sync(texts)
        data = [
            {"object": "embedding", "index": i, "embedding": v.tolist()}
            for i, v in enumerate(vectors)
        ]
        return JSONResponse(
            {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 1}}
        )

    async def _rerank(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.requests.append(body)
        query = self.embedder.embed_sync([body["query"]])[0]
        docs = self.embedder.embed_sync(body["documents"])
        scores = docs @ query
        results = [{"index": i, "relevance_score": float(s)} for i, s in enumerate(scores)]
        results.sort(key=lambda r: -r["relevance_score"])
        return JSONResponse({"results": results[: body.get("top_n", len(results))]})


@pytest.fixture
def embeddings_server(embedder: OnnxEmbedder) -> Iterator[EmbeddingsServer]:
    fake = EmbeddingsServer(embedder)
    app = Starlette(
        routes=[
            Route("/v1/embeddings", fake._embeddings, methods=["POST"]),
            Route("/v1/rerank", fake._rerank, methods=["POST"]),
        ]
    )
    with AppServer(app) as server:
        fake.server = server
        yield fake
