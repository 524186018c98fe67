"""The sqlite3 backend's writer thread (decision 0122): writes wait for another
connection's lock in the thread, never on the event loop, and commit in order; a batch
with a failing write fails that write alone; the WAL stays bounded."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from roost.core import Msg
from roost.store import Store
from roost.store.backend import Tx
from roost.store.backends.sqlite import SqliteBackend


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(f"sqlite:///{tmp_path / 'roost.db'}")
    assert isinstance(s.backend, SqliteBackend)
    yield s
    await s.close()


async def _thread_of(store: Store, write: bool) -> str:
    def body(tx: Tx) -> str:
        return threading.current_thread().name

    return await (store.backend.write if write else store.backend.read)(body)


async def test_writes_run_in_one_thread_and_reads_in_others(store: Store) -> None:
    writers = {await _thread_of(store, True) for _ in range(5)}
    assert writers == {"roost-store-writer"}
    readers = {await _thread_of(store, False) for _ in range(5)}
    assert all(name.startswith("roost-store-reader") for name in readers)


async def test_a_held_lock_keeps_writes_waiting_in_the_thread_in_order(
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
        await asyncio.sleep(0.05)
        assert not second.done()
        assert (await store.get_session(s.id)).app == "demo"  # reads go on meanwhile
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    await asyncio.gather(first, second)
    page = await store.list_messages(s.id)
    assert [m.text for m in page.items] == ["first", "second"]


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


async def test_the_wal_stays_bounded(store: Store, tmp_path: Path) -> None:
    """SQLite's own automatic checkpoint runs in the writer thread after a commit once
    the WAL holds 1,000 pages; the WAL then starts over."""
    s = await store.create_session(app="demo")
    wal = tmp_path / "roost.db-wal"
    largest = 0
    for i in range(400):  # ~9 pages a commit: a WAL of ~14 MB without checkpoints
        await store.append_messages(s.id, [Msg.user(f"{i:04d}" + "x" * 4000)])
        largest = max(largest, wal.stat().st_size)
    assert largest < 6_000_000
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


async def test_a_closed_store_refuses_writes(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite:///{tmp_path / 'closed.db'}")
    await store.close()
    with pytest.raises(RuntimeError):
        await store.create_session(app="demo")
