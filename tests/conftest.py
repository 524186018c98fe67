"""Shared fixtures: an isolated ROOST_HOME per test, and the real PostgreSQL/Redis
servers named by ROOST_TEST_POSTGRES_URL / ROOST_TEST_REDIS_URL (.ci/run sets both)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def roost_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own ROOST_HOME so no test reads or writes ~/.roost."""
    home = tmp_path / "roost-home"
    home.mkdir()
    monkeypatch.setenv("ROOST_HOME", str(home))
    for var in ("ROOST_DATABASE_URL", "ROOST_REDIS_URL", "ROOST_ADMIN_KEY", "ROOST_MODEL"):
        monkeypatch.delenv(var, raising=False)
    # the suite's local model is the small one (speed over answers; decision 0150)
    monkeypatch.setenv("ROOST_LOCAL_MODEL_NAME", "qwen2.5-coder-0.5b")
    from roost.core.settings import get_settings

    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture
def postgres_url() -> str:
    """An asyncpg SQLAlchemy URL for the test PostgreSQL; skipped when not configured."""
    url = os.environ.get("ROOST_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("ROOST_TEST_POSTGRES_URL not set (.ci/run sets it)")
    return url


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("ROOST_TEST_REDIS_URL")
    if not url:
        pytest.skip("ROOST_TEST_REDIS_URL not set (.ci/run sets it)")
    return url


@pytest.fixture
def shared_model_home() -> Path:
    """Where the real local model is cached across test runs (installed by .ci/run)."""
    return Path(os.environ.get("ROOST_TEST_MODEL_HOME", str(Path.home() / ".roost")))


@pytest.fixture(scope="session")
def onnx_dir() -> Path:
    """The packaged all-MiniLM-L6-v2 weights converted to ONNX, cached with the local
    model (scripts/test.sh converts them ahead; here as a fallback, ~1 min once)."""
    from roost.knowledge.local_embedder import install_onnx

    home = Path(os.environ.get("ROOST_TEST_MODEL_HOME", str(Path.home() / ".roost")))
    target = home / "models" / "embedders" / "all-MiniLM-L6-v2-onnx"
    if not (target / "model.onnx").exists():
        install_onnx(target)
    return target


@pytest.fixture(scope="session")
def embedder(onnx_dir: Path) -> Any:
    """The real local embedder (``roost.knowledge.OnnxEmbedder``)."""
    from roost.knowledge import OnnxEmbedder

    return OnnxEmbedder(onnx_dir)
