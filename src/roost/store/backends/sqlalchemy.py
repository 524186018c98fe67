"""``SqlAlchemyBackend``: the store on SQLAlchemy's async engine — PostgreSQL (asyncpg),
and SQLite (aiosqlite) when asked for with ``Store.open(..., backend="sqlalchemy")``.

Each transaction body runs whole in ``AsyncConnection.run_sync`` (one hop into the
driver's world per transaction, not one per statement). Statements are the shared
literal SQL as ``text()`` clauses, their ``datetime`` and JSON parameters typed so that
SQLAlchemy encodes them for the dialect (``UTCDateTime``, ``JSON``; asyncpg also needs
the casts they render). The transaction runs in a task of its own: a caller cancelled
half-way waits for the commit or rollback, so no connection is left mid-transaction
(decision 0056).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from roost.core import jsontext
from roost.core.errors import ConfigError
from roost.core.jsontext import JSONText
from roost.store.backend import Body, Dialect, Integrity, Params, R, Row
from roost.store.backends._common import (
    BUSY_TIMEOUT_MS,
    create_private_file,
    not_storable,
    unavailable,
)
from roost.store.schema import UTCDateTime

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_PARAM_RE = re.compile(r"(?<![:\w]):(\w+)")
WRITE_OPTION = "roost_write"
"""Execution option marking a transaction that writes (SQLite: ``BEGIN IMMEDIATE``)."""


def parse_url(raw: str) -> URL:
    """Accept the URLs users type and pick the async driver Roost ships with."""
    try:
        url = make_url(raw)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(
            f"cannot parse database URL {raw!r}",
            hint="use sqlite:///path/to/roost.db or postgresql://user@host/db",
        ) from exc
    backend = url.drivername.partition("+")[0]
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+asyncpg")
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    raise ConfigError(
        f"unsupported database {backend!r} in ROOST_DATABASE_URL",
        hint="Roost supports SQLite (default) and PostgreSQL",
    )


def check_schema_name(schema: str) -> str:
    if not _SCHEMA_RE.match(schema):
        raise ConfigError(
            f"invalid PostgreSQL schema name {schema!r}",
            hint="use lowercase letters, digits and underscores, starting with a letter",
        )
    return schema


def _sqlite_file(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database or "")


def create_engine(url: URL, *, schema: str | None = None, echo: bool = False) -> AsyncEngine:
    """An async engine with Roost's connection settings for the URL's dialect."""
    from sqlalchemy.ext.asyncio import create_async_engine

    # Every use ends its own transaction (engine.begin()), so no reset on check-in and no
    # pre-ping: after a database restart one call gets StoreUnavailable (503, retryable)
    # and the pool reconnects (decision 0053).
    kwargs: dict[str, Any] = {
        "echo": echo,
        "json_serializer": jsontext.encode,
        "pool_reset_on_return": None,
    }
    if url.get_backend_name() != "sqlite":
        settings = {"search_path": check_schema_name(schema)} if schema else {}
        engine = create_async_engine(
            url,
            pool_pre_ping=False,
            pool_size=10,
            max_overflow=20,
            pool_recycle=1800,
            connect_args={"server_settings": settings} if settings else {},
            **kwargs,
        )
        return engine
    path = _sqlite_file(url)
    if path is None:  # one shared connection, or each would see its own empty database
        kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        create_private_file(path)
    engine = create_async_engine(url, **kwargs)
    _sqlite_hooks(engine.sync_engine, wal=path is not None)
    return engine


def sync_sqlite_engine(path: Path) -> sa.Engine:
    """A synchronous pysqlite engine on a file, with the same settings (for Alembic)."""
    create_private_file(path)
    engine = sa.create_engine(
        f"sqlite+pysqlite:///{path}",
        json_serializer=jsontext.encode,
        poolclass=sa.pool.NullPool,
        execution_options={WRITE_OPTION: True},
    )
    _sqlite_hooks(engine, wal=True)
    return engine


def _sqlite_hooks(engine: sa.Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # SQLAlchemy's "begin" hook below issues BEGIN itself (the driver's implicit
        # BEGIN would start deferred transactions that fail with SQLITE_BUSY on upgrade)
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@functools.lru_cache(maxsize=1024)
def _clause(sql: str, typed: tuple[tuple[str, bool], ...]) -> sa.TextClause:
    """``text(sql)`` with its timestamp (True) and JSON (False) parameters typed."""
    present = set(_PARAM_RE.findall(sql))
    binds = [
        sa.bindparam(name, type_=UTCDateTime() if is_time else sa.JSON())
        for name, is_time in typed
        if name in present
    ]
    return sa.text(sql).bindparams(*binds)


def _typed(params: Mapping[str, Any]) -> tuple[tuple[str, bool], ...]:
    return tuple(
        (name, isinstance(value, datetime))
        for name, value in params.items()
        if isinstance(value, datetime | dict | list | JSONText)
    )


def _translate(exc: sa.exc.StatementError | OSError) -> Exception:
    """A driver error as a store error; integrity errors are the caller's to name."""
    if isinstance(exc, sa.exc.IntegrityError):
        return Integrity(str(exc.orig))
    if isinstance(exc, OSError | sa.exc.OperationalError | sa.exc.InterfaceError):
        return unavailable(exc)
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated:  # e.g. the server restarted under a pooled conn
            return unavailable(exc)
        code = str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", ""))
        if code.startswith("22"):  # PostgreSQL "data exception": too long, NUL byte …
            return not_storable(str(exc.orig).splitlines()[0])
        return exc
    if isinstance(exc.orig, TypeError | ValueError):  # not JSON, not a datetime …
        return not_storable(exc.orig)
    return exc


class SqlAlchemyTx:
    """A transaction on a SQLAlchemy connection (see :class:`roost.store.backend.Tx`)."""

    __slots__ = ("_conn", "dialect")

    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn
        self.dialect = cast(Dialect, conn.dialect.name)

    def _execute(self, sql: str, params: Any, sample: Mapping[str, Any]) -> sa.CursorResult[Any]:
        try:
            return self._conn.execute(_clause(sql, _typed(sample)), params)
        except (sa.exc.StatementError, OSError) as exc:
            error = _translate(exc)
            if error is exc:
                raise
            raise error from exc

    def rows(self, sql: str, params: Params = None) -> list[Row]:
        found = self._execute(sql, params or {}, params or {}).mappings().all()
        return cast(list[Row], found)

    def run(self, sql: str, params: Params = None) -> int:
        return int(self._execute(sql, params or {}, params or {}).rowcount)

    def many(self, sql: str, params: Sequence[Mapping[str, Any]]) -> None:
        if params:
            self._execute(sql, list(params), params[0])


class SqlAlchemyBackend:
    """PostgreSQL, or SQLite through aiosqlite (a file, or ``sqlite://`` in memory)."""

    def __init__(self, url: URL, *, schema: str | None = None, echo: bool = False) -> None:
        self.url = url
        self.schema = schema
        self.dialect = cast(Dialect, url.get_backend_name())
        self.path = _sqlite_file(url)
        self._engine = create_engine(url, schema=schema, echo=echo)
        self._write_engine = self._engine.execution_options(**{WRITE_OPTION: True})
        memory = self.dialect == "sqlite" and self.path is None
        # in-memory SQLite is ONE shared connection: transactions must not interleave;
        # on a SQLite file, this process's writers take turns instead of waiting on each
        # other in SQLite's busy handler
        self._one_connection = asyncio.Lock() if memory else None
        self._write_turn = asyncio.Lock() if self.path is not None else None

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def read(self, body: Body[R]) -> R:
        return await self._uncancellable(body, write=False)

    async def write(self, body: Body[R]) -> R:
        return await self._uncancellable(body, write=True)

    async def _uncancellable(self, body: Body[R], *, write: bool) -> R:
        task = asyncio.ensure_future(self._transaction(body, write))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                await asyncio.wait([task])
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: the caller only sees the cancellation
            raise

    async def _transaction(self, body: Body[R], write: bool) -> R:
        engine = self._write_engine if write else self._engine
        turn = self._one_connection or (self._write_turn if write else None)
        try:
            async with turn or contextlib.nullcontext(), engine.begin() as conn:
                return await conn.run_sync(lambda sync: body(SqlAlchemyTx(sync)))
        except (sa.exc.StatementError, OSError) as exc:  # connect, BEGIN, COMMIT
            error = _translate(exc)
            if error is exc:
                raise
            raise error from exc

    @contextlib.asynccontextmanager
    async def migration_lock(self) -> AsyncIterator[None]:
        from roost.store._migrate import file_lock

        if self.path is None:  # PostgreSQL: an advisory lock inside the transaction
            yield
            return
        async with file_lock(self.path):
            yield

    async def upgrade(self, target: str) -> None:
        from roost.store._migrate import alembic_upgrade, postgres_lock

        async with self._write_engine.begin() as conn:
            if self.dialect == "postgresql":
                await conn.run_sync(lambda sync: postgres_lock(SqlAlchemyTx(sync), self.schema))
            await conn.run_sync(alembic_upgrade, target)

    async def close(self) -> None:
        await self._engine.dispose()
