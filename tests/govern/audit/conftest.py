"""Audit fixtures: a store on a fresh SQLite file, or in a schema of its own on the real
PostgreSQL, and an audit log on it with a fresh signing key."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from roost.govern.audit import AuditLog, ChainPolicy, Signer
from roost.store import Store


@pytest.fixture(params=["sqlite3", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite3":
        opened = await Store.open(f"sqlite:///{tmp_path / 'audit.db'}")
        yield opened
        await opened.close()
        return
    url = request.getfixturevalue("postgres_url")
    schema = f"t_{secrets.token_hex(6)}"
    opened = await Store.open(url, schema=schema)
    try:
        yield opened
    finally:
        await opened.close()
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await engine.dispose()


@pytest.fixture
def signer() -> Signer:
    return Signer.generate()


@pytest.fixture
def audit(store: Store, signer: Signer) -> AuditLog:
    return AuditLog(store, ChainPolicy(signer=signer, checkpoint_every=10))
