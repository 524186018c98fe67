"""Store fixtures: every store test runs on a fresh SQLite file AND on the real PostgreSQL
(in a schema of its own, dropped afterwards; the shared ``test`` database is never dropped)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from roost.store import Store
from roost.store._engine import normalize_url


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


StoreFactory = Callable[[], Awaitable[Store]]


@pytest.fixture
async def open_store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[StoreFactory]:
    """Open (and re-open) a store on one fresh database of the parametrized backend."""
    opened: list[Store] = []
    schema: str | None = None
    url: str
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'roost.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        schema = f"t_{secrets.token_hex(6)}"

    async def factory() -> Store:
        store = await Store.open(url, schema=schema)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        await store.close()
    if schema is not None:
        await drop_schema(url, schema)


@pytest.fixture
async def store(open_store: StoreFactory) -> Store:
    return await open_store()


async def drop_schema(url: str, schema: str) -> None:
    engine = create_async_engine(normalize_url(url))
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()
