"""Fusion and reranking: how BM25 and vector results become one ranked list.

Reciprocal rank fusion (Cormack et al., 2009) adds ``1 / (k + rank)`` over the lists a
key appears in: it needs no score calibration between BM25 and cosine, which is why it
is the default of hybrid search here. Rerankers are optional; the one shipped speaks the
``/rerank`` protocol that TEI, vLLM, Jina and Xinference serve (a bge-reranker on
premise), because no reranker weights can be installed offline from PyPI.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from roost.knowledge.errors import EmbeddingError, EmbeddingTimeout
from roost.knowledge.records import Hit

SearchMode = Literal["bm25", "vector", "hybrid"]
RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], k: int = RRF_K
) -> list[tuple[int, float]]:
    """``(key, fused score)`` best first; ties keep the order of first appearance."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])


@runtime_checkable
class Reranker(Protocol):
    async def rerank(self, query: str, hits: Sequence[Hit], k: int) -> list[Hit]: ...


class HttpReranker:
    """``POST {base_url}/rerank`` with ``{model, query, documents, top_n}``; the answer's
    ``results[].index`` / ``relevance_score`` reorder the hits."""

    def __init__(
        self, model: str, *, base_url: str, api_key: str | None = None, timeout: float = 30.0
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.__api_key = api_key
        self.timeout = timeout

    async def rerank(self, query: str, hits: Sequence[Hit], k: int) -> list[Hit]:
        import httpx

        if not hits:
            return []
        body = {
            "model": self.model,
            "query": query,
            "documents": [h.chunk.text for h in hits],
            "top_n": k,
        }
        headers = {"Authorization": f"Bearer {self.__api_key}"} if self.__api_key else {}
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(f"{self.base_url}/rerank", json=body, headers=headers)
        except httpx.TimeoutException:
            raise EmbeddingTimeout(
                f"the reranker at {self.base_url} did not answer in time"
            ) from None
        except httpx.HTTPError as exc:
            raise EmbeddingError(
                f"the reranker at {self.base_url} failed ({type(exc).__name__})"
            ) from None
        if response.status_code >= 400:
            raise EmbeddingError(f"the reranker answered HTTP {response.status_code}")
        try:
            results: list[dict[str, Any]] = response.json()["results"]
            ranked = sorted(results, key=lambda r: -float(r["relevance_score"]))
            out = []
            for r in ranked[:k]:
                hit = hits[int(r["index"])]
                score = float(r["relevance_score"])
                out.append(
                    dataclasses.replace(hit, score=score, scores={**hit.scores, "rerank": score})
                )
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise EmbeddingError(
                f"the reranker sent an unusable answer ({type(exc).__name__})"
            ) from None
        return out
