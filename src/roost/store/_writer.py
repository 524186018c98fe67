"""The single writer thread of a SQLite file store, with group commit.

Every write transaction of the process is a sync ``body(conn)`` queued here. The thread
takes what is queued (up to ``max_batch``) and runs it in ONE transaction, each body in
its own SAVEPOINT: a body that raises is rolled back alone and gets its exception, the
others commit together. Callers are woken once per batch, after the commit — so an
acknowledged write is durable exactly as before, but N concurrent runs cost one
``BEGIN IMMEDIATE``/``COMMIT`` (one WAL append) and one event-loop wake-up instead of N.
See docs/decisions/0090.
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
        self._thread = threading.Thread(target=self._main, name="roost-store-writer", daemon=True)
        self._thread.start()
        self._closed = False

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
                return
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

    def _run_one(self, item: _Item) -> list[_Outcome]:
        body, fut, _ = item
        try:
            with self._engine.begin() as conn:
                return [(fut, True, body(conn))]
        except BaseException as exc:  # handed to the caller, who re-raises it
            return [(fut, False, exc)]

    def _run_group(self, batch: list[_Item]) -> list[_Outcome]:
        outcomes: list[_Outcome] = []
        try:
            with self._engine.begin() as conn:
                for body, fut, _ in batch:
                    savepoint = conn.begin_nested()
                    try:
                        result = body(conn)
                    except BaseException as exc:
                        savepoint.rollback()
                        outcomes.append((fut, False, exc))
                    else:
                        savepoint.commit()
                        outcomes.append((fut, True, result))
        except BaseException as exc:  # BEGIN or COMMIT failed: nothing was stored
            done = len(outcomes)
            outcomes = [(f, False, exc if ok else value) for f, ok, value in outcomes]
            outcomes += [(fut, False, exc) for _, fut, _ in batch[done:]]
        return outcomes

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
