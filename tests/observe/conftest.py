"""Fixtures: a real SQLite store (migrated), tracing into it, a fresh metrics registry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from roost.observe import RoostMetrics, shutdown_tracing
from roost.observe.redaction import reset_redactors
from roost.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'roost.db'}")
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def metrics() -> RoostMetrics:
    return RoostMetrics()


@pytest.fixture(autouse=True)
def _clean_tracing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in (
        "ROOST_TRACE_CONTENT",
        "ROOST_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
    ):
        monkeypatch.delenv(var, raising=False)
    yield
    shutdown_tracing()
    reset_redactors()
