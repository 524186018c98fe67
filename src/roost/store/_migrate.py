"""Bring the schema to the packaged head, on any backend, under a cross-process lock.

Two server processes starting at once must not both create tables: PostgreSQL takes a
transaction-scoped advisory lock (DDL is transactional there, so each step is one
transaction); SQLite takes an exclusive ``flock`` on a file next to the database.

An empty database skips Alembic: :func:`create_if_empty` runs the DDL of
:data:`roost.store.schema.HEAD_TABLES` and stamps the head revision, in one transaction
(decision 0096). Anything older goes through :func:`migrate` (Alembic). SQLAlchemy's
schema module and Alembic are imported only on these paths: a restart on a current
database needs neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from roost.core.errors import RoostError
from roost.store.backend import StoreBackend, Tx, in_list
from roost.store.errors import MigrationError, StoreUnavailable

if TYPE_CHECKING:  # imported where used: Alembic costs ~0.3 s and 15 MB at start-up
    import sqlalchemy as sa
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"
_HINT = "check ROOST_DATABASE_URL and that the database user may create tables"

# Only tables the unqualified names resolve to count (PostgreSQL: the search_path, as in
# Alembic's own check).
_FOUND_SQL = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN {names}",
    "postgresql": (
        "SELECT c.relname AS name FROM pg_catalog.pg_class c"
        " WHERE c.relname IN {names} AND pg_catalog.pg_table_is_visible(c.oid)"
    ),
}


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


def tables_found(tx: Tx, names: list[str]) -> set[str]:
    params: dict[str, object] = {}
    sql = _FOUND_SQL[tx.dialect].format(names=in_list("n", names, params))
    return {row["name"] for row in tx.rows(sql, params)}


def current_revisions(tx: Tx) -> set[str]:
    """The revisions the database is stamped with (none: not created yet)."""
    if not tables_found(tx, [VERSION_TABLE]):
        return set()
    return {row["version_num"] for row in tx.rows("SELECT version_num FROM alembic_version")}


def lock_key(schema: str | None) -> int:
    digest = hashlib.sha256(f"roost.migrate:{schema or ''}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def postgres_lock(tx: Tx, schema: str | None) -> None:
    """Serialise schema changes across processes (released at commit); create ``schema``."""
    tx.rows("SELECT pg_advisory_xact_lock(:k)", {"k": lock_key(schema)})
    if schema is not None:
        tx.run(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')  # a checked name (check_schema_name)


@contextlib.asynccontextmanager
async def file_lock(path: Path) -> AsyncIterator[None]:
    """An exclusive ``flock`` on ``<db>.migrate.lock`` (never on the database file: 0095)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX: single process assumed
        yield
        return
    fd = os.open(path.with_name(path.name + ".migrate.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@functools.cache
def head_ddl(dialect: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(table names, DDL statements)`` of a fresh database at head: every table of
    ``HEAD_TABLES`` and ``alembic_version`` (built the way Alembic builds it), compiled
    by SQLAlchemy exactly as ``Table.create`` would."""
    import sqlalchemy as sa
    from sqlalchemy.engine import Dialect as SaDialect
    from sqlalchemy.schema import CreateIndex, CreateTable

    from roost.store.schema import HEAD_TABLES

    version = sa.Table(
        VERSION_TABLE,
        sa.MetaData(),
        sa.Column("version_num", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
    )
    compiler: SaDialect
    if dialect == "sqlite":  # only the dialect at hand: PostgreSQL's costs 3.5 MB
        from sqlalchemy.dialects.sqlite.base import SQLiteDialect

        compiler = SQLiteDialect()
    else:
        from sqlalchemy.dialects.postgresql.base import PGDialect

        compiler = PGDialect()  # type: ignore[no-untyped-call]
    ddl: list[str] = []
    for table in (*HEAD_TABLES, version):
        ddl.append(str(CreateTable(table).compile(dialect=compiler)))
        for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
            ddl.append(str(CreateIndex(index).compile(dialect=compiler)))
    return tuple(t.name for t in (*HEAD_TABLES, version)), tuple(ddl)


async def create_if_empty(backend: StoreBackend, head: str, *, schema: str | None) -> bool:
    """Create the head schema if the database holds no Roost table yet, without Alembic.

    True when the database is at ``head`` afterwards (created here, or by another
    process that held the lock first); False when it holds an older schema, which
    :func:`migrate` must upgrade. Emptiness is checked again under the lock.
    """
    try:
        async with backend.migration_lock():
            return await backend.write(lambda tx: _create_if_empty(tx, head, schema))
    except RoostError:
        raise
    except Exception as exc:
        raise MigrationError(f"creating the database schema failed: {exc}", hint=_HINT) from exc


def _create_if_empty(tx: Tx, head: str, schema: str | None) -> bool:
    if tx.dialect == "postgresql":
        postgres_lock(tx, schema)
    names, ddl = head_ddl(tx.dialect)
    found = tables_found(tx, list(names))
    if found:
        return VERSION_TABLE in found and current_revisions(tx) == {head}
    try:
        for statement in ddl:
            tx.run(statement)
        tx.run("INSERT INTO alembic_version (version_num) VALUES (:v)", {"v": head})
    except StoreUnavailable as exc:  # SQLite reports a clash as an "operational" error
        raise MigrationError(
            f"creating the database schema failed: {exc.message}", hint=_HINT
        ) from exc
    return True


async def migrate(backend: StoreBackend, target: str = "heads") -> None:
    """Bring the database to ``target`` (all heads by default) with Alembic."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    current = await backend.read(current_revisions)  # no lock: a read-only look first
    if target == "heads" and current == set(script.get_heads()):
        return
    unknown = {rev for rev in current if _lookup(script, rev) is None}
    if unknown:
        raise MigrationError(
            f"the database is at revision {sorted(unknown)}, which this Roost does not know",
            hint="the database was migrated by a newer Roost; upgrade Roost to use it",
        )
    try:
        async with backend.migration_lock():
            await backend.upgrade(target)
    except Exception as exc:
        raise MigrationError(f"database migration to {target} failed: {exc}", hint=_HINT) from exc


def alembic_upgrade(conn: sa.Connection, target: str) -> None:
    """Run Alembic's ``upgrade`` on an open connection (its transaction is the caller's)."""
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, target)


def _lookup(script: ScriptDirectory, rev: str) -> object | None:
    try:
        return script.get_revision(rev)
    except Exception:
        return None
