"""Where a SQLite file store's write transactions run: on the event loop when SQLite's
write lock is free (``LoopWriter``), else in one writer thread (``SerialWriter``); both
commit what is queued together (group commit).

Every write transaction of the process is a sync ``body(conn)`` queued here. The writer
(the loop's turn, or the thread) takes what is queued (the thread: up to ``max_batch``)
and runs it in ONE transaction. Callers are
woken once per batch, after the commit — so an acknowledged write is durable exactly as
before, but N concurrent runs cost one ``BEGIN IMMEDIATE``/``COMMIT`` (one WAL append) and
one event-loop wake-up instead of N. See docs/decisions/0090.

A body that raises (bad input: unknown session, duplicate id) must not take the others
down: the batch is rolled back and replayed with each body in its own transaction. Bodies
only capture their arguments, so running one again after a rollback is safe. This costs
less than a SAVEPOINT around every body, since failures are rare (decision 0098).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

log = logging.getLogger("roost.store")

CHECKPOINT_FRAMES = 4000
"""WAL pages (16 MB at SQLite's 4 KB pages) the loop writer lets build up between
checkpoints: each checkpoint copies a page once however often it changed, so fewer,
larger checkpoints copy (and fsync) less per run (decision 0108)."""
_MIN_COMMITS = 32
_MAX_COMMITS = 1024

Body = Callable[[sa.Connection], Any]
_Item = tuple[Body, "asyncio.Future[Any]", asyncio.AbstractEventLoop]
_Outcome = tuple["asyncio.Future[Any]", bool, Any]


class SerialWriter:
    """Runs queued write transactions one batch at a time in a dedicated thread."""

    def __init__(self, engine: sa.Engine, *, max_batch: int = 64) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._closed = False
        self._conn: sa.Connection | None = None
        self._thread = threading.Thread(target=self._main, name="roost-store-writer", daemon=True)
        self._thread.start()

    def submit(self, body: Body, *, long: bool = False) -> asyncio.Future[Any]:
        """Queue ``body``; the future resolves after its transaction committed (or failed).
        (``long`` is for :class:`LoopWriter`'s signature: everything here is in a thread.)"""
        if self._closed:
            raise RuntimeError("the store is closed")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._queue.put((body, fut, loop))
        return fut

    def close(self) -> None:
        """Finish what is queued, then stop the thread (blocking: call it in a thread)."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
        self._thread.join()

    # -- writer thread -----------------------------------------------------------------
    def _main(self) -> None:
        held: _Item | None = None  # a checkpoint met while batching: it runs alone, next
        stop = False
        while held is not None or not stop:
            first = held if held is not None else self._queue.get()
            held = None
            if first is None:
                break
            batch = [first]
            while first[0] is not checkpoint and len(batch) < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                if nxt[0] is checkpoint:
                    held = nxt
                    break
                batch.append(nxt)
            outcomes = self._run_one(batch[0]) if len(batch) == 1 else self._run_group(batch)
            self._wake(batch, outcomes)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()

    def _connection(self) -> sa.Connection:
        """The writer's one connection, kept open (no pool check-out per transaction)."""
        self._conn, _ = _kept(self._conn, self._engine)
        return self._conn

    def _run_one(self, item: _Item) -> list[_Outcome]:
        body, fut, _ = item
        try:
            conn = self._connection()
            if body is checkpoint:  # outside any transaction, or SQLite refuses it
                return [(fut, True, body(conn))]
            with conn.begin():
                return [(fut, True, body(conn))]
        except BaseException as exc:  # handed to the caller, who re-raises it
            return [(fut, False, exc)]

    def _run_group(self, batch: list[_Item]) -> list[_Outcome]:
        results: list[Any] = []
        body_failed = False
        try:
            conn = self._connection()
            with conn.begin():
                for body, _, _ in batch:
                    body_failed = True
                    results.append(body(conn))
                    body_failed = False
        except BaseException as exc:
            if not body_failed:  # BEGIN or COMMIT failed: nothing stored, all callers told
                return [(fut, False, exc) for _, fut, _ in batch]
            # Rolled back: give each body its own transaction, so only the one at fault
            # fails.
            return [outcome for item in batch for outcome in self._run_one(item)]
        return [(fut, True, result) for (_, fut, _), result in zip(batch, results, strict=True)]

    @staticmethod
    def _wake(batch: list[_Item], outcomes: list[_Outcome]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for (_, _, loop), outcome in zip(batch, outcomes, strict=True):
            by_loop.setdefault(loop, []).append(outcome)
        for loop, items in by_loop.items():
            # RuntimeError: the loop was closed meanwhile, so nobody is waiting
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, items)


def _kept(conn: sa.Connection | None, engine: sa.Engine) -> tuple[sa.Connection, bool]:
    """``conn`` while it is usable, else a new connection (and True)."""
    if conn is not None and not conn.closed and not conn.invalidated:
        return conn, False
    if conn is not None:
        with contextlib.suppress(Exception):
            conn.close()
    return engine.connect(), True


def _resolve(items: list[_Outcome]) -> None:
    for fut, ok, value in items:
        if fut.done():  # the caller was cancelled; the work is committed anyway
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)


class LoopWriter:
    """Runs write transactions on the event loop's own thread, one batch per loop turn.

    A SQLite write is tens of microseconds; handing it to the writer thread cost more than
    that (a GIL hand-off both ways, a context switch and a self-pipe wake-up: ~0.5 ms of
    CPU per streamed run, decision 0101). So bodies queued during one loop turn run
    together in one ``BEGIN IMMEDIATE … COMMIT`` right here, as long as that can never
    block the loop:

    - the connection's busy timeout is 0: when another process (``--workers``, a CLI) or
      another engine holds the write lock, the batch goes to the :class:`SerialWriter`
      thread, which waits for the lock there. Until the thread has finished everything
      handed to it, later writes follow it, so writes commit in the order they were made;
    - automatic WAL checkpoints (a copy and an fsync) are off on this connection; one runs
      in the thread instead (see :func:`checkpoint`) once the WAL holds about
      :data:`CHECKPOINT_FRAMES` pages, judged from the pages per commit the last
      checkpoint found (every 32 to 1,024 commits; decision 0108);
    - a batch in which a body raises is rolled back and handed to the thread, which runs
      it again and, if it fails there too, gives each body its own transaction (0098).

    Callers are resolved after the commit, exactly as with the thread.
    """

    def __init__(self, engine: sa.Engine, thread: SerialWriter) -> None:
        self._engine = engine
        self._thread = thread
        self._checkpoint_every = _MIN_COMMITS  # until a checkpoint tells the WAL's growth
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: sa.Connection | None = None
        self._pending: list[tuple[Body, asyncio.Future[Any]]] = []
        self._scheduled = False
        self._in_thread = 0  # bodies handed to the thread and not finished yet
        self._commits = 0
        self._closed = False

    def submit(self, body: Body, *, long: bool = False) -> asyncio.Future[Any]:
        """Queue ``body``; the future resolves after its transaction committed (or failed).

        ``long``: a write that may take a while (deleting many rows) goes to the thread,
        after what is already queued here, so the loop never runs it."""
        if self._closed:
            raise RuntimeError("the store is closed")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        if long and self._pending:
            batch, self._pending = self._pending, []
            self._hand_over(batch)
        if long or loop is not self._loop or self._in_thread:
            return self._to_thread(body)
        fut: asyncio.Future[Any] = loop.create_future()
        self._pending.append((body, fut))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._run)
        return fut

    def close(self) -> None:
        """Run what is queued, then close the connection and the thread (call it on the
        loop; the thread's part blocks, so run ``close_thread`` in a worker)."""
        if self._pending:
            self._run()
        self._closed = True
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    # -- on the loop -------------------------------------------------------------------
    def _to_thread(self, body: Body, fut: asyncio.Future[Any] | None = None) -> asyncio.Future[Any]:
        """Hand ``body`` to the thread; ``fut`` (made here if None) gets its outcome. The
        thread's own future is never exposed, so a cancelled caller cannot end the
        "thread is busy" period before the thread really is done."""
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
        self._in_thread += 1
        inner = self._thread.submit(body)
        inner.add_done_callback(functools.partial(self._thread_done, fut))
        return fut

    def _thread_done(self, fut: asyncio.Future[Any], inner: asyncio.Future[Any]) -> None:
        self._in_thread -= 1
        if fut.done():
            return
        if (exc := inner.exception()) is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(inner.result())

    def _connection(self) -> sa.Connection:
        self._conn, new = _kept(self._conn, self._engine)
        if new:
            raw = self._conn.connection.dbapi_connection
            assert raw is not None
            raw.execute("PRAGMA busy_timeout=0")  # never wait for the lock on the loop
            raw.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run in a thread
        return self._conn

    def _run(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        if not batch:
            return
        if self._in_thread:  # the thread took earlier writes meanwhile: stay behind them
            self._hand_over(batch)
            return
        try:
            conn = self._connection()
            tx = conn.begin()  # BEGIN IMMEDIATE: fails at once if the lock is taken
        except Exception:
            self._hand_over(batch)
            return
        results: list[Any] = []
        try:
            with tx:
                for body, _ in batch:
                    results.append(body(conn))
        except Exception:
            # a body failed (or the commit did): nothing of the batch is stored; the
            # thread replays each body alone, so only the faulty one fails
            self._hand_over(batch)
            return
        self._commits += 1
        if self._commits >= self._checkpoint_every:
            # in the thread and in order: later writes wait behind it there, so it copies
            # the whole WAL and the next write starts the WAL over
            done = self._to_thread(checkpoint)
            done.add_done_callback(functools.partial(self._pace, self._commits))
            self._commits = 0
        for (_, fut), result in zip(batch, results, strict=True):
            if not fut.done():  # the caller was cancelled; the work is committed anyway
                fut.set_result(result)

    def _pace(self, commits: int, done: asyncio.Future[Any]) -> None:
        """Commits until the next checkpoint, from the pages this one found in the WAL."""
        if done.cancelled() or done.exception() is not None or not done.result():
            return
        frames = done.result()[0][1]  # PRAGMA wal_checkpoint: (busy, log frames, copied)
        if frames > 0:
            per_commit = frames / commits
            self._checkpoint_every = int(
                min(_MAX_COMMITS, max(_MIN_COMMITS, CHECKPOINT_FRAMES / per_commit))
            )

    def _hand_over(self, batch: list[tuple[Body, asyncio.Future[Any]]]) -> None:
        for body, fut in batch:
            self._to_thread(body, fut)


def checkpoint(conn: sa.Connection) -> Any:
    """Copy the WAL back into the database file (a write "body" the writer thread runs
    alone, outside a transaction).

    It must run in the writer thread, queued like a write: a checkpoint running beside the
    loop's writes always finds frames added after the ones it copied, so the WAL never
    starts over and grows without bound. Queued there, no write of this process runs
    meanwhile, and the next one starts the WAL from the beginning.
    """
    try:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        return raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except Exception:  # nobody waits for it; the next one may succeed
        log.warning("WAL checkpoint failed", exc_info=True)
        return None
