"""The embedded faiss index: exact while small, IVF once trained, deletions in both,
rebuilt from the catalog when its file is stale."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from roost.knowledge import FaissIndex, IndexState


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((20, 32)).astype(np.float32)
    x = centers[rng.integers(0, 20, n)] + 0.3 * rng.standard_normal((n, 32)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _state(keys: list[int], vectors: np.ndarray, generation: int = 0) -> IndexState:
    def batches() -> Iterator[tuple[list[int], np.ndarray]]:
        if keys:
            yield keys, vectors

    return IndexState(generation, batches)


def _committed(index: FaissIndex, kb: str, keys: list[int], vectors: np.ndarray) -> None:
    # what the catalog would show after these writes commit (retraining reads it)
    index._states[kb] = _state(keys, vectors)


async def test_small_index_is_exact_and_deletes(tmp_path: Path) -> None:
    index = FaissIndex(tmp_path, train_at=1000)
    data = _vectors(300)
    await index.open("kb", 32, _state([], data))
    await index.add("kb", list(range(1, 301)), data)
    assert index.kind("kb") == "flat"
    exact = np.argsort(-(data @ data[7]))[:5] + 1
    assert [k for k, _ in await index.search("kb", data[7], 5)] == list(exact)
    await index.remove("kb", [8, 9999])  # an unknown key is ignored
    found = [k for k, _ in await index.search("kb", data[7], 5)]
    assert 8 not in found and index.live_count("kb") == 299


async def test_index_trains_ivf_past_the_threshold_and_keeps_every_vector(tmp_path: Path) -> None:
    index = FaissIndex(tmp_path, train_at=2000, nprobe=8)
    data = _vectors(3000, seed=1)
    keys = list(range(10, 3010))
    await index.open("kb", 32, _state([], data))
    await index.add("kb", keys[:1500], data[:1500])
    _committed(index, "kb", keys[:1500], data[:1500])
    await index.add("kb", keys[1500:], data[1500:])  # crosses 2000: trained on all 3000
    assert index.kind("kb").startswith("ivf") and index.live_count("kb") == 3000
    recall = []
    for i in range(0, 3000, 100):
        exact = set((np.argsort(-(data @ data[i]))[:10] + 10).tolist())
        got = {k for k, _ in await index.search("kb", data[i], 10)}
        recall.append(len(exact & got) / 10)
    assert np.mean(recall) > 0.9
    await index.remove("kb", keys[:10])
    assert index.live_count("kb") == 2990
    assert keys[0] not in [k for k, _ in await index.search("kb", data[0], 10)]


async def test_a_saved_index_is_reused_only_at_the_same_generation(tmp_path: Path) -> None:
    data = _vectors(50, seed=2)
    keys = list(range(1, 51))
    index = FaissIndex(tmp_path)
    await index.open("kb", 32, _state(keys, data, generation=5))
    await index.flush("kb", 5)
    await index.close()

    def fail() -> Iterator[tuple[list[int], np.ndarray]]:
        raise AssertionError("rebuilt although the file is current")

    fresh = FaissIndex(tmp_path)
    await fresh.open("kb", 32, IndexState(5, fail))
    assert fresh.live_count("kb") == 50
    stale = FaissIndex(tmp_path)
    await stale.open("kb", 32, _state(keys[:20], data[:20], generation=6))
    assert stale.live_count("kb") == 20  # rebuilt from what the catalog holds
