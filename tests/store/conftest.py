"""Store fixtures: the store suite is the contract every backend passes. Each store test
runs on a fresh SQLite file through the ``sqlite3`` backend, on the same through the
SQLAlchemy backend, and on the real PostgreSQL (in a schema of its own, dropped
afterwards; the shared ``test`` database is never dropped)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from roost.store import Store
from roost.store.backends.sqlalchemy import parse_url
from roost.store.store import BackendChoice

BACKENDS = ["sqlite3", "sqlalchemy-sqlite", "postgresql"]


@dataclass(frozen=True)
class Target:
    """One database of a backend: how to open a Store on it."""

    url: str
    schema: str | None = None
    backend: BackendChoice = "auto"

    async def open(self, **options: object) -> Store:
        return await Store.open(self.url, schema=self.schema, backend=self.backend, **options)  # type: ignore[arg-type]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def targets(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[[], Target]]:
    """Hand out empty databases of the parametrized backend (a file or a schema each)."""
    made: list[Target] = []

    def new() -> Target:
        name = tmp_path / f"db{len(made)}.db"
        if backend == "sqlite3":
            target = Target(f"sqlite:///{name}")
        elif backend == "sqlalchemy-sqlite":
            target = Target(f"sqlite:///{name}", backend="sqlalchemy")
        else:
            target = Target(request.getfixturevalue("postgres_url"), f"t_{secrets.token_hex(6)}")
        made.append(target)
        return target

    yield new
    for target in made:
        if target.schema is not None:
            await drop_schema(target.url, target.schema)


StoreFactory = Callable[[], Awaitable[Store]]


@pytest.fixture
async def open_store(targets: Callable[[], Target]) -> AsyncIterator[StoreFactory]:
    """Open (and re-open) a store on one fresh database of the parametrized backend."""
    target = targets()
    opened: list[Store] = []

    async def factory() -> Store:
        store = await target.open()
        opened.append(store)
        return store

    yield factory
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: StoreFactory) -> Store:
    return await open_store()


async def drop_schema(url: str, schema: str) -> None:
    engine = create_async_engine(parse_url(url))
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()
