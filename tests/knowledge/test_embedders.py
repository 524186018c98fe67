"""Embedders: the OpenAI-compatible client against a real loopback server, the cache by
content hash, and the local model (offline, the same vectors on ONNX as on PyTorch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from roost.knowledge import (
    CachedEmbedder,
    EmbeddingDimensionMismatch,
    EmbeddingError,
    EmbeddingTimeout,
    OnnxEmbedder,
    OpenAIEmbedder,
)

from .conftest import EmbeddingsServer


async def test_openai_embedder_batches_and_returns_unit_vectors(
    embeddings_server: EmbeddingsServer, embedder: OnnxEmbedder
) -> None:
    client = OpenAIEmbedder("minilm", base_url=embeddings_server.url, batch_size=4)
    texts = [f"sentence number {i}" for i in range(10)]
    vectors = await client.embed(texts)
    await client.aclose()
    assert vectors.shape == (10, 384) and client.dimensions == 384
    # the batches go out concurrently: their order on the wire is not fixed
    assert sorted(len(r["input"]) for r in embeddings_server.requests) == [2, 4, 4]
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors, embedder.embed_sync(texts), atol=1e-5)  # order kept


async def test_openai_embedder_timeout_is_typed(embeddings_server: EmbeddingsServer) -> None:
    embeddings_server.stall_on = "slow"
    client = OpenAIEmbedder("minilm", base_url=embeddings_server.url, timeout=0.5)
    with pytest.raises(EmbeddingTimeout) as info:
        await client.embed(["fast", "slow one"])
    await client.aclose()
    assert info.value.code == "embedding_timeout" and info.value.retryable


async def test_openai_embedder_http_error_hides_the_key(
    embeddings_server: EmbeddingsServer,
) -> None:
    client = OpenAIEmbedder(
        "minilm", base_url=embeddings_server.url + "/missing", api_key="sk-secret-123"
    )
    with pytest.raises(EmbeddingError) as info:
        await client.embed(["x"])
    await client.aclose()
    assert "404" in info.value.message
    assert "sk-secret-123" not in str(info.value) and "sk-secret-123" not in repr(client)


async def test_openai_embedder_refuses_vectors_of_another_size(
    embeddings_server: EmbeddingsServer,
) -> None:
    client = OpenAIEmbedder("minilm", base_url=embeddings_server.url, dimensions=768)
    with pytest.raises(EmbeddingDimensionMismatch):
        await client.embed(["x"])
    await client.aclose()


async def test_cache_embeds_each_content_once(
    tmp_path: Path, embeddings_server: EmbeddingsServer
) -> None:
    inner = OpenAIEmbedder("minilm", base_url=embeddings_server.url)
    cached = CachedEmbedder(inner, tmp_path / "cache.db")
    first = await cached.embed(["alpha", "beta", "alpha"])
    second = await cached.embed(["beta", "gamma"])
    assert [r["input"] for r in embeddings_server.requests] == [["alpha", "beta"], ["gamma"]]
    assert np.array_equal(first[1], second[0]) and np.array_equal(first[0], first[2])
    assert (cached.hits, cached.misses) == (2, 3)
    cached.close()
    reopened = CachedEmbedder(inner, tmp_path / "cache.db")  # survives a restart
    await reopened.embed(["gamma"])
    assert len(embeddings_server.requests) == 2
    reopened.close()
    await inner.aclose()


async def test_local_embedder_ranks_a_paraphrase_above_an_unrelated_text(
    embedder: OnnxEmbedder,
) -> None:
    q, para, other = await embedder.embed(
        [
            "How many days of holiday do employees get?",
            "Staff are entitled to 25 days of paid annual leave.",
            "The server room is cooled to 18 degrees.",
        ]
    )
    assert q @ para > q @ other + 0.2


def test_onnx_model_gives_the_same_vectors_as_pytorch(embedder: OnnxEmbedder) -> None:
    pytest.importorskip("sentence_transformers", reason="the PyTorch reference needs it")
    from roost.knowledge import TorchEmbedder

    texts = ["Annual leave is 25 days.", "年假有十五天", "x" * 3000]  # the last one is truncated
    reference = TorchEmbedder().embed_sync(texts)
    assert np.max(np.abs(reference - embedder.embed_sync(texts))) < 1e-4
