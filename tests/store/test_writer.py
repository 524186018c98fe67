"""Where a SQLite file store's writes run (decision 0101): on the event loop while the
write lock is free, in the writer thread — in order, without blocking the loop — while
another connection holds it."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from roost.core import Msg
from roost.store import Store, _writer
from roost.store._writer import LoopWriter


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(f"sqlite:///{tmp_path / 'roost.db'}")
    yield s
    await s.close()


async def _write_thread(store: Store) -> int:
    """The thread a write body runs in."""

    def body(conn: sa.Connection) -> int:
        return threading.get_ident()

    return await store._tx(body, write=True)


async def test_writes_run_on_the_loop_when_the_lock_is_free(store: Store) -> None:
    assert isinstance(store._writer, LoopWriter)
    assert await _write_thread(store) == threading.get_ident()
    s = await store.create_session(app="demo")
    assert (await store.get_session(s.id)).app == "demo"


async def test_a_held_lock_sends_writes_to_the_thread_in_order(
    store: Store, tmp_path: Path
) -> None:
    s = await store.create_session(app="demo")
    blocker = sqlite3.connect(tmp_path / "roost.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process writing
    try:
        first = asyncio.create_task(store.append_messages(s.id, [Msg.user("first")]))
        await asyncio.sleep(0.05)
        # the loop is not blocked: this coroutine runs while "first" waits for the lock
        assert not first.done()
        second = asyncio.create_task(store.append_messages(s.id, [Msg.user("second")]))
        where = asyncio.create_task(_write_thread(store))
        await asyncio.sleep(0.05)
        assert not second.done()
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    await asyncio.gather(first, second)
    assert await where != threading.get_ident()  # queued behind the thread's work
    page = await store.list_messages(s.id)
    assert [m.text for m in page.items] == ["first", "second"]
    # the thread has drained: writes are back on the loop
    assert await _write_thread(store) == threading.get_ident()


async def test_a_failing_write_in_a_batch_fails_alone(store: Store) -> None:
    s = await store.create_session(app="demo")
    results = await asyncio.gather(
        store.append_messages(s.id, [Msg.user("a")]),
        store.append_messages("ses_missing", [Msg.user("b")]),
        store.append_messages(s.id, [Msg.user("c")]),
        return_exceptions=True,
    )
    assert [type(r).__name__ for r in results] == ["list", "SessionNotFound", "list"]
    assert [m.text for m in (await store.list_messages(s.id)).items] == ["a", "c"]


async def test_long_writes_run_in_the_thread_after_what_is_queued(store: Store) -> None:
    s = await store.create_session(app="demo")
    queued = asyncio.create_task(store.append_messages(s.id, [Msg.user("queued")]))
    await asyncio.sleep(0)  # submitted, not yet run
    await store.delete_session(s.id)  # long: in the thread, after "queued"
    assert isinstance(await queued, list)
    assert (await store.list_sessions()).items == []


async def test_checkpoints_keep_the_wal_small(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the WAL is checkpointed once it holds about CHECKPOINT_FRAMES pages (measured, not
    # guessed: the first checkpoint comes after 32 commits and tells the pages per commit)
    monkeypatch.setattr(_writer, "CHECKPOINT_FRAMES", 450)
    s = await store.create_session(app="demo")
    wal = tmp_path / "roost.db-wal"
    largest = 0
    for i in range(400):  # ~9 pages a commit: a WAL of ~14 MB without checkpoints
        await store.append_messages(s.id, [Msg.user(f"{i:04d}" + "x" * 4000)])
        largest = max(largest, wal.stat().st_size)
    # ~50 commits between checkpoints, each starting the WAL over: ~2 MB at most
    assert largest < 3_000_000
    writer = store._writer
    assert isinstance(writer, LoopWriter) and 35 <= writer._checkpoint_every <= 80
    assert len((await store.list_messages(s.id, limit=None)).items) == 400


async def test_a_cancelled_caller_returns_after_the_thread_committed(
    store: Store, tmp_path: Path
) -> None:
    """The write waits in the thread for another connection's lock; the caller is
    cancelled meanwhile. Its CancelledError must come after the commit, not before."""
    blocker = sqlite3.connect(tmp_path / "roost.db", isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: blocker.execute("COMMIT"))
    task = asyncio.create_task(store.create_session(app="demo", session_id="ses_late"))
    await asyncio.sleep(0.05)  # queued in the thread, waiting for the lock
    release.start()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.join()
    blocker.close()
    assert (await store.get_session("ses_late")).app == "demo"
