"""``SqliteBackend``: SQLite on the standard ``sqlite3`` driver, the default for SQLite.

Writes: one thread owns the one writing connection. It takes what is queued (up to
:data:`MAX_BATCH` bodies) and runs it in ONE ``BEGIN IMMEDIATE … COMMIT`` (group commit):
N concurrent runs cost one commit and one wake-up of the event loop, and this process
never waits in SQLite's busy handler for itself. Callers are woken after the commit, so
an acknowledged write is durable. A body that raises rolls the batch back; each body is
then replayed in a transaction of its own, so only the faulty one fails (bodies capture
their arguments only, so running one twice is safe). Decision 0122 tells how this
relates to the writers it replaced.

Reads: a pool of :data:`READERS` threads, each with its own connection (WAL lets them
read beside the writer). An in-memory database is one connection: reads queue with
the writes.

Values: ``datetime`` → naive-UTC ISO text, ``dict``/``list`` → JSON text (a
``JSONText`` as it is): byte for byte what SQLAlchemy writes (tests/store/test_backends.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roost.core import jsontext
from roost.store.backend import Body, Dialect, Integrity, Params, R, Row
from roost.store.backends._common import (
    BUSY_TIMEOUT_MS,
    create_private_file,
    not_storable,
    unavailable,
)
from roost.store.errors import InvalidStoreArgument

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("roost.store")

MAX_BATCH = 64
READERS = 2

_Item = tuple[Body[Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop]
_Outcome = tuple["asyncio.Future[Any]", bool, Any]


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(" ", "microseconds")
    if isinstance(value, dict | list):
        return jsontext.encode(value)
    return value


def _encode(params: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _value(value) for key, value in params.items()}


class SqliteTx:
    """A transaction on a ``sqlite3`` connection (see :class:`roost.store.backend.Tx`)."""

    dialect: Dialect = "sqlite"
    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def _execute(self, run: Callable[[], sqlite3.Cursor]) -> sqlite3.Cursor:
        try:
            return run()
        except sqlite3.IntegrityError as exc:
            raise Integrity(str(exc)) from exc
        except sqlite3.OperationalError as exc:  # locked, I/O error, read-only file
            raise unavailable(exc) from exc
        except (sqlite3.Error, TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise not_storable(exc) from exc

    def rows(self, sql: str, params: Params = None) -> list[Row]:
        cursor = self._execute(lambda: self._conn.execute(sql, _encode(params or {})))
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def run(self, sql: str, params: Params = None) -> int:
        return self._execute(lambda: self._conn.execute(sql, _encode(params or {}))).rowcount

    def many(self, sql: str, params: Sequence[Mapping[str, Any]]) -> None:
        self._execute(lambda: self._conn.executemany(sql, [_encode(p) for p in params]))


class SqliteBackend:
    """A SQLite file (or ``path=None``: a private in-memory database) on ``sqlite3``."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: Path | None, *, echo: bool = False) -> None:
        self.path = path
        self._echo = echo
        if path is not None:
            create_private_file(path)
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, name="roost-store-writer")
        self._writer.daemon = True
        self._writer.start()
        self._readers = (
            ThreadPoolExecutor(READERS, thread_name_prefix="roost-store-reader") if path else None
        )
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._engine: AsyncEngine | None = None

    def connect(self) -> sqlite3.Connection:
        """A connection with Roost's settings (WAL, ``synchronous=NORMAL``, foreign keys);
        transactions are explicit (``isolation_level=None``)."""
        target = str(self.path) if self.path is not None else ":memory:"
        conn = sqlite3.connect(
            target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        if self.path is not None:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys=ON")
        if self._echo:
            conn.set_trace_callback(log.info)
        return conn

    # -- the event loop's side ---------------------------------------------------------
    async def read(self, body: Body[R]) -> R:
        if self._readers is None:
            return await self.write(body)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read, body)

    async def write(self, body: Body[R]) -> R:
        if self._closed:
            raise RuntimeError("the store is closed")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[R] = loop.create_future()
        self._queue.put((body, done, loop))
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:  # the transaction ends before the caller hears of it
            await asyncio.wait([done])
            if not done.cancelled():
                done.exception()  # retrieved: the caller only sees the cancellation
            raise

    @contextlib.asynccontextmanager
    async def migration_lock(self) -> AsyncIterator[None]:
        from roost.store._migrate import file_lock

        if self.path is None:
            yield
            return
        async with file_lock(self.path):
            yield

    async def upgrade(self, target: str) -> None:
        """Alembic on a SQLAlchemy connection of its own (an older database only)."""
        from roost.store._migrate import alembic_upgrade
        from roost.store.backends.sqlalchemy import sync_sqlite_engine

        if self.path is None:  # a new in-memory database is always created at head
            return
        engine = sync_sqlite_engine(self.path)

        def run() -> None:
            with engine.begin() as conn:
                alembic_upgrade(conn, target)

        try:
            await asyncio.to_thread(run)
        finally:
            engine.dispose()

    @property
    def engine(self) -> AsyncEngine:
        if self.path is None:
            raise InvalidStoreArgument(
                "an in-memory store has no engine another connection could share",
                hint="use a SQLite file or PostgreSQL",
            )
        if self._engine is None:
            from roost.store.backends.sqlalchemy import create_engine, parse_url

            self._engine = create_engine(parse_url(f"sqlite:///{self.path}"))
        return self._engine

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
        await asyncio.to_thread(self._writer.join)
        if self._readers is not None:
            await asyncio.to_thread(self._readers.shutdown, wait=True)
        for conn in self._reader_conns:
            conn.close()
        if self._engine is not None:
            await self._engine.dispose()

    # -- reader threads ----------------------------------------------------------------
    def _read(self, body: Body[R]) -> R:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        try:
            if conn is None:
                conn = self._local.conn = self.connect()
                self._reader_conns.append(conn)
            conn.execute("BEGIN")  # one snapshot for the body's statements
        except sqlite3.Error as exc:
            raise unavailable(exc) from exc
        try:
            return body(SqliteTx(conn))
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    # -- the writer thread -------------------------------------------------------------
    def _write_loop(self) -> None:
        conn: sqlite3.Connection | None = None
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                conn = conn or self.connect()
            except sqlite3.Error as exc:
                outcomes: list[_Outcome] = [(fut, False, unavailable(exc)) for _, fut, _ in batch]
            else:
                outcomes = self._commit(conn, batch)
            _wake(batch, outcomes)
        if conn is not None:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[_Item]) -> list[_Outcome]:
        """Run ``batch`` in one transaction; on a body's error, each body alone."""
        tx = SqliteTx(conn)
        results: list[Any] = []
        try:
            conn.execute("BEGIN IMMEDIATE")  # waits up to the busy timeout for other processes
            try:
                for body, _, _ in batch:
                    results.append(body(tx))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if len(batch) > 1 and len(results) < len(batch):  # a body failed
                    return [outcome for item in batch for outcome in self._commit(conn, [item])]
                raise
        except BaseException as exc:  # handed to the callers, who re-raise it
            error = unavailable(exc) if isinstance(exc, sqlite3.Error) else exc
            return [(fut, False, error) for _, fut, _ in batch]
        return [(fut, True, result) for (_, fut, _), result in zip(batch, results, strict=True)]


def _wake(batch: list[_Item], outcomes: list[_Outcome]) -> None:
    """Resolve the callers' futures, one call into each event loop per batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for (_, _, loop), outcome in zip(batch, outcomes, strict=True):
        by_loop.setdefault(loop, []).append(outcome)
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
            loop.call_soon_threadsafe(_resolve, items)


def _resolve(items: list[_Outcome]) -> None:
    for fut, ok, value in items:
        if fut.done():  # the caller was cancelled; the work is committed anyway
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)
