"""Run the packaged Alembic migrations under a cross-process lock.

Two server processes starting at once must not both create tables: PostgreSQL takes a
transaction-scoped advisory lock (DDL is transactional there, so the whole upgrade is one
transaction); SQLite takes an exclusive ``flock`` on a file next to the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from roost.store._engine import WRITE_OPTION, sqlite_path
from roost.store.errors import MigrationError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    """An Alembic config pointing at the migrations shipped inside the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    return cfg


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def _current(conn: sa.Connection) -> set[str]:
    return set(MigrationContext.configure(conn).get_current_heads())


def _upgrade(conn: sa.Connection, target: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, target)


def _lock_key(schema: str | None) -> int:
    digest = hashlib.sha256(f"roost.migrate:{schema or ''}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.asynccontextmanager
async def _file_lock(path: Path) -> AsyncIterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX: single process assumed
        yield
        return
    lock_path = path.with_name(path.name + ".migrate.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


async def migrate(
    engine: AsyncEngine, url: URL, *, schema: str | None = None, target: str = "heads"
) -> None:
    """Bring the database to ``target`` (all heads by default); a no-op when current."""
    heads = head_revisions()
    try:
        # Fast path: a read-only check that needs no lock.
        async with engine.connect() as conn:
            exists = schema is None or await _schema_exists(conn, schema)
            if exists and target == "heads" and await conn.run_sync(_current) == heads:
                return
        if engine.dialect.name == "postgresql":
            async with engine.begin() as conn:
                await conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(schema)}
                )
                if schema is not None:
                    await conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                await conn.run_sync(_upgrade, target)
            return
        path = sqlite_path(url)
        lock = _file_lock(path) if path is not None else contextlib.nullcontext()
        async with lock:
            write_engine = engine.execution_options(**{WRITE_OPTION: True})
            async with write_engine.begin() as conn:
                await conn.run_sync(_upgrade, target)
    except MigrationError:
        raise
    except Exception as exc:
        raise MigrationError(
            f"database migration to {target} failed: {exc}",
            hint="check ROOST_DATABASE_URL and that the database user may create tables",
        ) from exc


async def _schema_exists(conn: AsyncConnection, schema: str) -> bool:
    row = await conn.execute(
        sa.text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"),
        {"s": schema},
    )
    return row.first() is not None
