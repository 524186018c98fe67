"""The single writer thread of a SQLite file store, with group commit.

Every write transaction of the process is a sync ``body(conn)`` queued here. The thread
takes what is queued (up to ``max_batch``) and runs it in ONE transaction. Callers are
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
import queue
import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

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

    def submit(self, body: Body) -> asyncio.Future[Any]:
        """Queue ``body``; the future resolves after its transaction committed (or failed)."""
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
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            outcomes = self._run_one(batch[0]) if len(batch) == 1 else self._run_group(batch)
            self._wake(batch, outcomes)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()

    def _connection(self) -> sa.Connection:
        """The writer's one connection, kept open (no pool check-out per transaction)."""
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()
            self._conn = self._engine.connect()
        return self._conn

    def _run_one(self, item: _Item) -> list[_Outcome]:
        body, fut, _ = item
        try:
            conn = self._connection()
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


def _resolve(items: list[_Outcome]) -> None:
    for fut, ok, value in items:
        if fut.done():  # the caller was cancelled; the work is committed anyway
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)
