"""Bring the schema to the packaged head under a cross-process lock.

Two server processes starting at once must not both create tables: PostgreSQL takes a
transaction-scoped advisory lock (DDL is transactional there, so the whole upgrade is one
transaction); SQLite takes an exclusive ``flock`` on a file next to the database.

An empty database skips Alembic: :func:`create_if_empty` creates every table from
:data:`roost.store.schema.HEAD_TABLES` and stamps the head revision, in one transaction
(decision 0096). Anything else goes through :func:`migrate`. Alembic is imported only
there, so a fresh start never pays for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import URL

from roost.core.errors import RoostError
from roost.store._engine import WRITE_OPTION, sqlite_path
from roost.store.errors import MigrationError, StoreUnavailable
from roost.store.schema import HEAD_TABLES

if TYPE_CHECKING:  # imported where used: Alembic costs ~0.3 s and 15 MB at start-up
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_HINT = "check ROOST_DATABASE_URL and that the database user may create tables"


def alembic_config() -> Config:
    """An Alembic config pointing at the migrations shipped inside the package."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    return cfg


def head_revisions() -> set[str]:
    """The revisions the packaged migrations lead to."""
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def _current(conn: sa.Connection) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    return set(MigrationContext.configure(conn).get_current_heads())


def _upgrade(conn: sa.Connection, target: str) -> None:
    from alembic import command

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


VERSION_TABLE = sa.Table(
    "alembic_version",
    sa.MetaData(),
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)
"""The table Alembic keeps its revision in, built the way Alembic builds it."""

_ROOST_TABLES = [t.name for t in HEAD_TABLES] + [VERSION_TABLE.name]

# Only tables the unqualified names resolve to count (PostgreSQL: the search_path, as in
# Alembic's own check); any of them present and the database is not empty.
_FOUND_SQL = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN :names",
    "postgresql": (
        "SELECT c.relname FROM pg_catalog.pg_class c"
        " WHERE c.relname IN :names AND pg_catalog.pg_table_is_visible(c.oid)"
    ),
}

Transaction = Callable[[Callable[[sa.Connection], bool]], Awaitable[bool]]
"""Runs a sync body as one write transaction (``Store._tx(body, write=True)``)."""


async def create_if_empty(
    run_write: Transaction, url: URL, head: str, *, schema: str | None = None
) -> bool:
    """Create the head schema if the database holds no Roost table yet, without Alembic.

    True when the database is at ``head`` afterwards (created here, or by another
    process that held the lock first); False when it holds an older schema, which
    :func:`migrate` must upgrade. The same lock as :func:`migrate` is held, and emptiness
    is checked again under it.
    """
    try:
        async with _sqlite_lock(url):
            return await run_write(lambda conn: _create_if_empty(conn, head, schema))
    except RoostError:
        raise
    except Exception as exc:
        raise MigrationError(f"creating the database schema failed: {exc}", hint=_HINT) from exc


def _create_if_empty(conn: sa.Connection, head: str, schema: str | None) -> bool:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        _postgres_lock(conn, schema)
    found_sql = sa.text(_FOUND_SQL[dialect]).bindparams(sa.bindparam("names", expanding=True))
    found = set(conn.execute(found_sql, {"names": _ROOST_TABLES}).scalars())
    if found:
        if VERSION_TABLE.name not in found:
            return False
        return list(conn.execute(sa.select(VERSION_TABLE.c.version_num)).scalars()) == [head]
    try:
        for table in (*HEAD_TABLES, VERSION_TABLE):
            table.create(conn, checkfirst=False)
        conn.execute(VERSION_TABLE.insert().values(version_num=head))
    except sa.exc.DBAPIError as exc:
        # Raised here, not as a driver error: Store._tx would call a SQLite
        # OperationalError (read-only file, ...) "unavailable" and retryable.
        raise MigrationError(
            f"creating the database schema failed: {str(exc.orig).strip()}", hint=_HINT
        ) from exc
    return True


def _postgres_lock(conn: sa.Connection, schema: str | None) -> None:
    """Serialise schema changes across processes (released at commit); create ``schema``."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(schema)})
    if schema is not None:
        conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))


def _sqlite_lock(url: URL) -> contextlib.AbstractAsyncContextManager[None]:
    """The cross-process ``flock`` of a SQLite file (nothing for in-memory SQLite)."""
    path = sqlite_path(url)
    return _file_lock(path) if path is not None else contextlib.nullcontext()


async def migrate(
    engine: AsyncEngine, url: URL, *, schema: str | None = None, target: str = "heads"
) -> None:
    """Bring the database to ``target`` (all heads by default); a no-op when current."""
    from alembic.script import ScriptDirectory

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
                await conn.run_sync(_postgres_lock, schema)
                await conn.run_sync(_upgrade, target)
            return
        async with _sqlite_lock(url):
            write_engine = engine.execution_options(**{WRITE_OPTION: True})
            async with write_engine.begin() as conn:
                await conn.run_sync(_upgrade, target)
    except Exception as exc:
        raise MigrationError(f"database migration to {target} failed: {exc}", hint=_HINT) from exc


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
