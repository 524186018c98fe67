"""Knowledge benchmarks: retrieval quality on the labelled set, insert rate and search
latency of the embedded store at scale, end-to-end ingestion with the local embedder.

    nice python -m bench.knowledge quality              # recall@5 / MRR: bm25, vector, hybrid
    nice python -m bench.knowledge insert --n 1000000   # precomputed 384-d vectors, then search p99
    nice python -m bench.knowledge ingest --copies 10   # documents → chunks/s, local embedder
    nice python -m bench.knowledge embedders            # ONNX Runtime vs PyTorch, same weights

The labelled set is tests/data/knowledge (27 documents written for the project, 6 of
them Chinese; 91 questions, 17 in Chinese, each labelled with the one document that
answers it). A hit is relevant when it comes from that document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from roost.knowledge import DocumentInput, KnowledgeStore, OnnxEmbedder
from roost.knowledge.local_embedder import default_onnx_dir

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "knowledge"


def _embedder() -> OnnxEmbedder:
    home = os.environ.get("ROOST_TEST_MODEL_HOME")
    path = (
        Path(home) / "models" / "embedders" / "all-MiniLM-L6-v2-onnx"
        if home
        else default_onnx_dir()
    )
    return OnnxEmbedder(path)


def _load() -> tuple[list[DocumentInput], list[dict[str, str]]]:
    docs = [DocumentInput.from_path(p) for p in sorted((DATA / "docs").iterdir())]
    questions = [json.loads(line) for line in (DATA / "questions.jsonl").read_text().splitlines()]
    return docs, questions


def _cjk(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


async def quality(args: argparse.Namespace) -> dict[str, Any]:
    docs, questions = _load()
    with tempfile.TemporaryDirectory() as tmp:
        store = KnowledgeStore(tmp)
        kb = await store.create(
            "bench", _embedder(), chunker={"kind": args.chunker, "max_tokens": args.max_tokens}
        )
        report = await kb.ingest(docs)
        assert report.ok, report.to_dict()
        results: dict[str, dict[str, list[float]]] = {}
        for mode in ("bm25", "vector", "hybrid"):
            per: dict[str, list[float]] = {
                "recall": [],
                "rr": [],
                "recall_zh": [],
                "rr_zh": [],
                "top1": [],
            }
            for q in questions:
                hits = await kb.search(q["question"], k=args.k, mode=mode)
                rank = next(
                    (i for i, h in enumerate(hits, 1) if h.chunk.source == q["document"]), None
                )
                recall = 1.0 if rank else 0.0
                rr = 1.0 / rank if rank else 0.0
                per["recall"].append(recall)
                per["rr"].append(rr)
                per["top1"].append(1.0 if rank == 1 else 0.0)
                if _cjk(q["question"]):
                    per["recall_zh"].append(recall)
                    per["rr_zh"].append(rr)
            results[mode] = per
        chunks = sum(r.chunks for r in report.ingested)
        await store.close()
    table = {
        mode: {
            f"recall@{args.k}": round(statistics.mean(v["recall"]), 3),
            "mrr": round(statistics.mean(v["rr"]), 3),
            "recall@1": round(statistics.mean(v["top1"]), 3),
            f"recall@{args.k} zh": round(statistics.mean(v["recall_zh"]), 3),
            "mrr zh": round(statistics.mean(v["rr_zh"]), 3),
        }
        for mode, v in results.items()
    }
    return {
        "documents": len(docs),
        "questions": len(questions),
        "questions_zh": sum(_cjk(q["question"]) for q in questions),
        "chunks": chunks,
        "results": table,
    }


def _vectors(n: int, start: int, dims: int = 384) -> Any:
    """Clustered unit vectors (topics + noise), closer to embeddings than pure noise."""
    import numpy as np

    centers = np.random.default_rng(7).standard_normal((2000, dims)).astype(np.float32)
    rng = np.random.default_rng(start)
    x = centers[rng.integers(0, 2000, n)] + 0.6 * rng.standard_normal((n, dims)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


async def insert(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from roost.knowledge import FaissIndex

    class Precomputed:  # the store needs an embedder only for dimensions at creation
        name = "precomputed"
        dimensions = 384

        async def embed(self, texts: Any) -> Any:
            raise RuntimeError("not used: vectors are precomputed")

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        store = KnowledgeStore(tmp, index=FaissIndex(Path(tmp) / "vectors", nprobe=args.nprobe))
        kb = await store.create("bench", Precomputed())  # type: ignore[arg-type]
        words = [
            "alpha",
            "beta",
            "gamma",
            "delta",
            "robot",
            "leave",
            "invoice",
            "travel",
            "policy",
            "laptop",
        ]
        inserted = 0
        elapsed = 0.0  # inside ingest_vectors only: generating the vectors is not timed
        cpu = 0.0  # CPU seconds of the process (every thread) meanwhile
        per_batch = []
        while inserted < args.n:
            size = min(args.batch, args.n - inserted)
            vectors = _vectors(size, inserted)
            texts = [f"chunk {inserted + i} {words[(inserted + i) % 10]}" for i in range(size)]
            t, cpu0 = time.perf_counter(), time.process_time()
            await kb.ingest_vectors(f"doc-{inserted}", texts, vectors)
            took = time.perf_counter() - t
            cpu += time.process_time() - cpu0
            elapsed += took
            per_batch.append(size / took)
            inserted += size
            print(f"\r{inserted:,} vectors, {inserted / elapsed:,.0f}/s", end="", file=sys.stderr)
        print(file=sys.stderr)
        queries = _vectors(args.queries, 10**9)
        for q in queries[:20]:  # warm-up
            await kb.search_vector(q, k=10)
        latencies = []
        cpu_ms = []  # this thread's CPU time per search: the work, without waiting for a core
        for q in queries:
            t, c = time.perf_counter(), time.thread_time()
            await kb.search_vector(q, k=10)
            latencies.append((time.perf_counter() - t) * 1000)
            cpu_ms.append((time.thread_time() - c) * 1000)
        kind = store.index.kind(kb.id)  # type: ignore[attr-defined]
        await store.close()
    latencies.sort()
    cpu_ms.sort()
    return {
        "vectors": args.n,
        "dims": 384,
        "index": kind,
        "nprobe": args.nprobe,
        "insert_per_s": round(args.n / elapsed),
        "insert_per_s_median_batch": round(statistics.median(per_batch)),
        "insert_per_cpu_s": round(args.n / cpu),
        "search_p50_ms": round(latencies[len(latencies) // 2], 2),
        "search_p99_ms": round(latencies[int(len(latencies) * 0.99)], 2),
        "search_cpu_p50_ms": round(cpu_ms[len(cpu_ms) // 2], 2),
        "search_cpu_p99_ms": round(cpu_ms[int(len(cpu_ms) * 0.99)], 2),
        "search_mean_ms": round(float(np.mean(latencies)), 2),
        "queries": len(latencies),
    }


async def ingest(args: argparse.Namespace) -> dict[str, Any]:
    docs, _ = _load()
    copies = [
        DocumentInput(f"{i}-{d.source}", d.path.read_bytes() if d.path else b"")
        for i in range(args.copies)
        for d in docs
    ]
    with tempfile.TemporaryDirectory() as tmp:
        store = KnowledgeStore(tmp)
        embedder = _embedder()
        await embedder.embed(["warm-up"])
        kb = await store.create("bench", embedder)
        started = time.perf_counter()
        report = await kb.ingest(copies)
        elapsed = time.perf_counter() - started
        await store.close()
    chunks = sum(r.chunks for r in report.ingested)
    return {
        "documents": len(copies),
        "chunks": chunks,
        "seconds": round(elapsed, 2),
        "chunks_per_s": round(chunks / elapsed, 1),
        "documents_per_s": round(len(copies) / elapsed, 1),
    }


async def embedders(args: argparse.Namespace) -> dict[str, Any]:
    """ONNX Runtime vs PyTorch on the same packaged weights (decision 0160)."""
    import numpy as np

    from roost.knowledge import TorchEmbedder

    texts = [
        f"Employees accrue {i % 30} days of leave; requests go through the HR portal "
        f"{i % 7} days ahead. Sentence {i} is about policy {i * 7 % 13}."
        for i in range(args.texts)
    ]
    out: dict[str, Any] = {}
    vectors = {}
    for name, make in (("onnx", _embedder), ("torch", TorchEmbedder)):
        t = time.perf_counter()
        model = make()
        model.embed_sync(texts[:1])
        loaded = time.perf_counter() - t
        t = time.perf_counter()
        vectors[name] = model.embed_sync(texts)
        took = time.perf_counter() - t
        out[name] = {"load_s": round(loaded, 2), "texts_per_s": round(len(texts) / took, 1)}
    out["max_abs_difference"] = float(np.max(np.abs(vectors["onnx"] - vectors["torch"])))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--k", type=int, default=5)
    q.add_argument("--chunker", default="sentences")
    q.add_argument("--max-tokens", type=int, default=200)
    i = sub.add_parser("insert")
    i.add_argument("--n", type=int, default=1_000_000)
    i.add_argument("--batch", type=int, default=10_000)
    i.add_argument("--queries", type=int, default=1000)
    i.add_argument("--nprobe", type=int, default=16)
    i.add_argument("--dir", default=None, help="where the temporary store goes")
    e = sub.add_parser("ingest")
    e.add_argument("--copies", type=int, default=10)
    m = sub.add_parser("embedders")
    m.add_argument("--texts", type=int, default=512)
    args = parser.parse_args()
    load = os.getloadavg()
    result = asyncio.run(
        {"quality": quality, "insert": insert, "ingest": ingest, "embedders": embedders}[
            args.command
        ](args)
    )
    result["load_average_at_start"] = [round(x, 2) for x in load]
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
