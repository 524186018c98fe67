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
from roost.store.errors import MigrationError, StoreUnavailable

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    """An Alembic config pointing at the migrations shipped inside the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    return cfg


def head_revisions() -> set[str]:
    """The revisions the packaged migrations lead to."""
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
    script = ScriptDirectory.from_config(alembic_config())
    heads = set(script.get_heads())
    try:
        # Fast path: a read-only check that needs no lock.
        async with engine.connect() as conn:
            exists = schema is None or await _schema_exists(conn, schema)
            current = await conn.run_sync(_current) if exists else set()
    except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError) as exc:
        raise StoreUnavailable(
            f"cannot connect to the database: {str(exc).splitlines()[0] if str(exc) else exc!r}",
            hint="check that the database is running and ROOST_DATABASE_URL is right",
        ) from exc
    if target == "heads" and current == heads:
        return
    unknown = {rev for rev in current if _lookup(script, rev) is None}
    if unknown:
        raise MigrationError(
            f"the database is at revision {sorted(unknown)}, which this Roost does not know",
            hint="the database was migrated by a newer Roost; upgrade Roost to use it",
        )
    try:
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
    except Exception as exc:
        raise MigrationError(
            f"database migration to {target} failed: {exc}",
            hint="check ROOST_DATABASE_URL and that the database user may create tables",
        ) from exc


def _lookup(script: ScriptDirectory, rev: str) -> object | None:
    try:
        return script.get_revision(rev)
    except Exception:
        return None


async def _schema_exists(conn: AsyncConnection, schema: str) -> bool:
    row = await conn.execute(
        sa.text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"),
        {"s": schema},
    )
    return row.first() is not None
