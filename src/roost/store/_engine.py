"""Build the async engine: URL normalisation, SQLite pragmas, PostgreSQL search_path."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from roost.core import jsontext
from roost.core.errors import ConfigError

if TYPE_CHECKING:  # imported lazily: a SQLite-file store may never need the async engine
    from sqlalchemy.ext.asyncio import AsyncEngine

SQLITE_BUSY_TIMEOUT_MS = 10_000
_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

WRITE_OPTION = "roost_write"
"""Execution option marking a transaction that writes (SQLite: ``BEGIN IMMEDIATE``)."""


def normalize_url(raw: str) -> URL:
    """Accept the URLs users type and pick the async driver Roost ships with."""
    try:
        url = make_url(raw)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(
            f"cannot parse database URL {raw!r}",
            hint="use sqlite+aiosqlite:///path/to/roost.db or postgresql://user@host/db",
        ) from exc
    backend = url.drivername.partition("+")[0]
    if backend in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+asyncpg")
    elif backend == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    else:
        raise ConfigError(
            f"unsupported database {backend!r} in ROOST_DATABASE_URL",
            hint="Roost supports SQLite (default) and PostgreSQL",
        )
    return url


def is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def sqlite_path(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or is_memory_sqlite(url):
        return None
    return Path(url.database or "")


def check_schema_name(schema: str) -> str:
    if not _SCHEMA_RE.match(schema):
        raise ConfigError(
            f"invalid PostgreSQL schema name {schema!r}",
            hint="use lowercase letters, digits and underscores, starting with a letter",
        )
    return schema


def create_engine(url: URL, *, schema: str | None = None, echo: bool = False) -> AsyncEngine:
    """An engine with Roost's connection settings for the URL's dialect."""
    from sqlalchemy.ext.asyncio import create_async_engine

    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo)
    connect_args: dict[str, Any] = {}
    if schema:
        connect_args["server_settings"] = {"search_path": check_schema_name(schema)}
    # No pre-ping (a round trip per transaction): after a database restart the first
    # failing call invalidates the whole pool, so one request gets StoreUnavailable
    # (503, retryable) and the next ones reconnect. See docs/decisions/0053.
    return create_async_engine(
        url,
        echo=echo,
        json_serializer=jsontext.encode,
        pool_pre_ping=False,
        pool_reset_on_return=None,
        pool_size=10,
        max_overflow=20,
        pool_recycle=1800,
        connect_args=connect_args,
    )


def _create_private_file(path: Path) -> None:
    """Create a missing database file owner-only; never open an existing one.

    The database holds prompts and replies, so it is ``0600`` from the start (SQLite gives
    its -wal/-shm files the same mode; an empty file is a valid new database). An existing
    file must not be opened here: closing *any* descriptor of a file drops every POSIX
    lock this process holds on it, including the locks of SQLite connections already open
    on it, and another process could then write at the same time and lose commits
    (docs/decisions/0095).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _sqlite_engine(url: URL, *, echo: bool) -> AsyncEngine:
    from sqlalchemy.ext.asyncio import create_async_engine

    memory = is_memory_sqlite(url)
    path = sqlite_path(url)
    if path is not None:
        _create_private_file(path)
    # Every use ends its own transaction (engine.begin(), or Connection.close() rolls
    # back), so skip the pool's extra ROLLBACK on check-in: with aiosqlite it is one
    # more thread round trip per call.
    kwargs: dict[str, Any] = {
        "echo": echo,
        "pool_reset_on_return": None,
        "json_serializer": jsontext.encode,
    }
    if memory:
        # One shared connection, or every pooled connection would see its own empty DB.
        kwargs["poolclass"] = StaticPool
        kwargs["connect_args"] = {"check_same_thread": False}
    engine = create_async_engine(url, **kwargs)

    _install_sqlite_hooks(engine.sync_engine, memory=memory)
    return engine


def create_sqlite_sync_engine(url: URL, *, echo: bool = False) -> sa.Engine:
    """A synchronous pysqlite engine on the same file, for whole transactions run in one
    worker thread (docs/decisions/0090). Same pragmas and ``BEGIN IMMEDIATE`` for writes."""
    path = sqlite_path(url)
    if path is not None:
        _create_private_file(path)
    engine = sa.create_engine(
        url.set(drivername="sqlite+pysqlite"),
        echo=echo,
        json_serializer=jsontext.encode,
        pool_reset_on_return=None,
        pool_size=8,
        max_overflow=8,
        connect_args={"check_same_thread": False},
    )
    _install_sqlite_hooks(engine, memory=False, raw_begin=True)
    return engine


def _install_sqlite_hooks(engine: sa.Engine, *, memory: bool, raw_begin: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook issue BEGIN itself (pysqlite's implicit BEGIN
        # would start deferred transactions that fail with SQLITE_BUSY on upgrade).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        if raw_begin:  # pysqlite: straight to the driver, skipping SQLAlchemy's execute
            conn.connection.dbapi_connection.execute(  # type: ignore[union-attr]
                "BEGIN IMMEDIATE" if write else "BEGIN"
            )
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
