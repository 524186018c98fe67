"""Concurrent writers and broken connections behave like the docs say."""

from __future__ import annotations

import asyncio
import secrets

import pytest
import sqlalchemy as sa

from roost.core import Msg
from roost.store import Store, StoreUnavailable
from roost.store.store import BackendChoice

from .conftest import drop_schema


async def test_concurrent_appends_get_unique_contiguous_seq(store: Store) -> None:
    s = await store.create_session(app="demo")

    async def writer(w: int) -> None:
        for i in range(5):
            await store.append_messages(s.id, [Msg.user(f"w{w}-{i}a"), Msg.user(f"w{w}-{i}b")])

    await asyncio.gather(*(writer(w) for w in range(6)))
    page = await store.list_messages(s.id, limit=None)
    assert [r.seq for r in page.records] == list(range(1, 61))
    texts = [m.text for m in page.items]
    for w in range(6):  # each batch stays together and in order
        for i in range(5):
            a = texts.index(f"w{w}-{i}a")
            assert texts[a + 1] == f"w{w}-{i}b"


async def test_concurrent_partial_flushes_of_many_runs(store: Store) -> None:
    s = await store.create_session(app="demo")
    runs = [await store.create_run(session_id=s.id, status="running") for _ in range(4)]

    async def stream(run_id: str) -> None:
        reply = Msg.assistant("")
        for seq in range(10):
            reply = Msg(id=reply.id, role="assistant", content="x" * (seq + 1))
            await store.flush_run(run_id, [(seq, "text.delta", {"d": "x"})], reply, session_id=s.id)
        await store.flush_run(run_id, [], reply, partial=False, status="succeeded")

    await asyncio.gather(*(stream(r.id) for r in runs))
    page = await store.list_messages(s.id)
    assert sorted(m.text for m in page.items) == ["x" * 10] * 4
    assert not any(r.partial for r in page.records)
    for r in runs:
        assert [e.seq for e in await store.list_events(r.id)] == list(range(10))
        assert (await store.get_run(r.id)).status == "succeeded"


@pytest.mark.parametrize("choice", ["auto", "sqlalchemy"])
async def test_in_memory_sqlite_store_works(choice: BackendChoice) -> None:
    async with await Store.open("sqlite://", backend=choice) as store:
        s = await store.create_session(app="demo")
        await store.append_messages(s.id, [Msg.user("hi")])
        assert [m.text for m in (await store.list_messages(s.id)).items] == ["hi"]


@pytest.mark.parametrize("choice", ["auto", "sqlalchemy"])
async def test_in_memory_sqlite_store_survives_concurrent_runs(choice: BackendChoice) -> None:
    """One connection: transactions are serialized instead of interleaving."""
    async with await Store.open("sqlite:///:memory:", backend=choice) as store:

        async def one_run(i: int) -> None:
            s = await store.create_session(app="demo")
            run = await store.create_run(session_id=s.id, status="running")
            reply = Msg.assistant(f"reply {i}")
            await store.flush_run(run.id, [(0, "text.delta", {"d": "r"})], reply, session_id=s.id)
            await store.flush_run(run.id, [], reply, partial=False, status="succeeded")

        await asyncio.gather(*(one_run(i) for i in range(40)))
        page = await store.list_runs(status="succeeded", limit=100)
        assert len(page.items) == 40


async def test_killed_postgres_connection_is_unavailable_once_then_recovers(
    postgres_url: str,
) -> None:
    schema = f"t_{secrets.token_hex(6)}"
    store = await Store.open(postgres_url, schema=schema)
    admin = await Store.open(postgres_url, migrate=False)
    try:
        await store.create_session(app="demo")  # a pooled connection now exists
        async with store.engine.connect() as conn:
            pid = (await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar()
        async with admin.engine.begin() as conn:
            await conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        with pytest.raises(StoreUnavailable) as info:
            await store.create_session(app="demo")
        assert info.value.retryable
        recovered = await store.create_session(app="demo")
        assert (await store.get_session(recovered.id)).app == "demo"
    finally:
        await store.close()
        await admin.close()
        await drop_schema(postgres_url, schema)


async def test_cancelled_writes_are_all_or_nothing_and_leave_the_pool_usable(
    store: Store,
) -> None:
    """The server cancels run tasks (interrupts, disconnects) in the middle of flushes."""
    s = await store.create_session(app="demo")
    run = await store.create_run(session_id=s.id, status="running")
    batch = 5
    for round_ in range(20):
        base = round_ * batch
        events = [(base + i, "text.delta", {"i": base + i}) for i in range(batch)]
        task = asyncio.create_task(
            store.flush_run(run.id, events, Msg.user(f"r{round_}"), session_id=s.id)
        )
        await asyncio.sleep(0.003 * round_)  # from "before it starts" to "after commit"
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    seqs = [e.seq for e in await store.list_events(run.id)]
    # Every flush either landed completely (all its events and its message) or not at all.
    committed = sorted({seq // batch for seq in seqs})
    assert seqs == [r * batch + i for r in committed for i in range(batch)]
    texts = {m.text for m in (await store.list_messages(s.id, limit=None)).items}
    assert texts == {f"r{r}" for r in committed}
    # No connection was left mid-transaction: writes go through at once (a leaked
    # SQLite write lock would make these fail with store_unavailable after 10 s).
    for _ in range(5):
        await store.append_messages(s.id, [Msg.user("after")])
    assert (await store.get_session(s.id)).id == s.id


async def test_a_cancelled_caller_returns_only_after_its_write_ended(store: Store) -> None:
    """Once a write started, the caller's CancelledError comes after its commit: what the
    cancelled code path does next (mark the run canceled, read it back) sees it."""
    for i in range(10):
        task = asyncio.create_task(store.create_session(app="demo", session_id=f"ses_c{i}"))
        for _ in range(i % 3):
            await asyncio.sleep(0)  # before it starts, while it is queued, or later
        task.cancel()
        result = await asyncio.gather(task, return_exceptions=True)
        if isinstance(result[0], asyncio.CancelledError) and i % 3 == 0:
            continue  # cancelled before it began: nothing to wait for
        assert (await store.get_session(f"ses_c{i}")).app == "demo"
