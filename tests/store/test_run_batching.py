"""A persisted run in few transactions: run + inputs together, and a final flush carrying
completed turns, reply, agent state and status (docs/decisions/0091)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from roost.core import Msg
from roost.store import (
    EventSeqConflict,
    InvalidStoreArgument,
    MessageIdConflict,
    RunFinished,
    SessionExists,
    SessionNotFound,
    Store,
)


async def test_create_run_stores_its_inputs_in_the_same_transaction(store: Store) -> None:
    s = await store.create_session(app="demo", user_id="u1")
    ask = Msg.user("hello")
    run = await store.create_run(
        session_id=s.id, status="running", input_message_id=ask.id, inputs=[ask]
    )
    page = await store.list_messages(s.id)
    assert [m.text for m in page.items] == ["hello"]
    assert page.records[0].run_id == run.id and page.records[0].seq == 1
    assert run.user_id == "u1"

    # A conflicting input id leaves no run behind: all or nothing.
    with pytest.raises(MessageIdConflict):
        await store.create_run(session_id=s.id, run_id="run_dup_input", inputs=[ask])
    assert [r.id for r in (await store.list_runs(session_id=s.id)).items] == [run.id]

    with pytest.raises(SessionNotFound):
        await store.create_run(session_id="ses_missing", inputs=[Msg.user("x")])
    with pytest.raises(InvalidStoreArgument):
        await store.create_run(inputs=[Msg.user("no session")])


async def test_final_flush_carries_turns_reply_state_and_status(store: Store) -> None:
    s = await store.create_session(app="demo")
    ask = Msg.user("2+2?")
    run = await store.create_run(session_id=s.id, status="running", inputs=[ask])
    turn = Msg.assistant("calling calc")
    reply = Msg.assistant("4")
    done = await store.flush_run(
        run.id,
        [(0, "run.started", {}), (1, "run.completed", {})],
        reply,
        partial=False,
        session_id=s.id,
        status="succeeded",
        messages=[turn],
        state=("calc", {"memory": [1, 2]}),
    )
    assert done is not None and done.status == "succeeded"
    with pytest.raises(RunFinished):  # not read back, but still refused when final
        await store.flush_run(run.id, [], status="failed", record=False)
    assert [m.text for m in (await store.list_messages(s.id)).items] == [
        "2+2?",
        "calling calc",
        "4",
    ]
    assert await store.load_state(s.id, "calc") == {"memory": [1, 2]}

    # The state is versioned as with save_state; the session is found from the run.
    await store.flush_run(run.id, state=("calc", {"memory": [3]}))
    assert await store.load_state(s.id, "calc") == {"memory": [3]}
    assert await store.save_state(s.id, "calc", {"memory": []}) == 3


async def test_a_reply_said_to_be_new_is_inserted_and_an_existing_one_still_updated(
    store: Store,
) -> None:
    s = await store.create_session(app="demo")
    run = await store.create_run(session_id=s.id, status="running", inputs=[Msg.user("hi")])
    reply = Msg.assistant("hello")
    await store.flush_run(run.id, [], reply, partial=False, session_id=s.id, msg_new=True)
    # wrongly said to be new (it was stored above): updated in its place, not duplicated
    again = reply.model_copy(update={"content": Msg.assistant("hello again").content})
    await store.flush_run(run.id, [], again, partial=False, session_id=s.id, msg_new=True)
    later = Msg.assistant("later")
    await store.flush_run(run.id, [], later, partial=False, session_id=s.id, msg_new=True)
    page = await store.list_messages(s.id)
    assert [m.text for m in page.items] == ["hi", "hello again", "later"]
    assert [r.seq for r in page.records] == sorted(r.seq for r in page.records)
    assert page.records[1].run_id == run.id and not page.records[1].partial

    # a message of another session keeps its owner: the conflict is reported
    other = await store.create_session(app="demo")
    with pytest.raises(MessageIdConflict):
        await store.flush_run(run.id, [], later, session_id=other.id, msg_new=True)


async def test_a_failing_flush_stores_nothing(store: Store) -> None:
    s = await store.create_session(app="demo")
    run = await store.create_run(session_id=s.id, status="running")
    await store.flush_run(run.id, [(0, "run.started", {})])
    with pytest.raises(EventSeqConflict):
        await store.flush_run(
            run.id,
            [(0, "again", {})],
            Msg.assistant("x"),
            session_id=s.id,
            messages=[Msg.assistant("turn")],
            state=("a", {"k": 1}),
        )
    assert (await store.list_messages(s.id)).items == []
    assert await store.load_state(s.id, "a") is None

    with pytest.raises(InvalidStoreArgument):  # not JSON: typed error, nothing stored
        await store.flush_run(run.id, [(1, "e", {})], state=("a", {"k": object()}))
    cyclic: dict[str, object] = {"k": 1}
    cyclic["self"] = cyclic
    with pytest.raises(InvalidStoreArgument):  # cyclic: the same, not a RecursionError
        await store.flush_run(run.id, [(1, "e", {})], state=("a", cyclic))
    assert [e.seq for e in await store.list_events(run.id)] == [0]


async def test_many_concurrent_writers_in_one_process_never_hit_the_file_lock(
    tmp_path: Path,
) -> None:
    """Writes are serialized in-process (one writer thread), so hundreds of concurrent
    runs never wait in SQLite's busy handler or fail with "database is locked"."""
    store = await Store.open(f"sqlite:///{tmp_path / 'busy.db'}")
    try:
        sessions = [await store.create_session(app="load") for _ in range(20)]

        async def one_run(i: int) -> None:
            s = sessions[i % len(sessions)]
            run = await store.create_run(
                session_id=s.id, status="running", inputs=[Msg.user(f"{i}")]
            )
            await store.flush_run(
                run.id,
                [(0, "run.completed", {"i": i})],
                Msg.assistant(f"r{i}"),
                partial=False,
                session_id=s.id,
                status="succeeded",
                state=("agent", {"i": i}),
            )

        await asyncio.gather(*(one_run(i) for i in range(300)))
        counts = [len((await store.list_messages(s.id, limit=None)).items) for s in sessions]
        assert sum(counts) == 600
        runs = await store.list_runs(status="succeeded", limit=1000)
        assert len(runs.items) == 300
    finally:
        await store.close()


async def test_group_commit_fails_only_the_failing_write(tmp_path: Path) -> None:
    """Concurrent writes are committed together; when one fails (a duplicate id) the
    batch is replayed one transaction each, so only that one fails and the others are
    stored."""
    store = await Store.open(f"sqlite:///{tmp_path / 'group.db'}")
    try:
        await store.create_session(app="g", session_id="ses_taken")
        ids = [f"ses_{i}" for i in range(40)]
        ids[17] = "ses_taken"
        results = await asyncio.gather(
            *(store.create_session(app="g", session_id=sid) for sid in ids),
            return_exceptions=True,
        )
        failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
        assert failed == [17] and isinstance(results[17], SessionExists)
        page = await store.list_sessions(app="g", limit=100)
        assert len(page.items) == 40  # 39 new + the one that was taken
    finally:
        await store.close()
    reopened = await Store.open(f"sqlite:///{tmp_path / 'group.db'}")
    try:
        assert len((await reopened.list_sessions(app="g", limit=100)).items) == 40
    finally:
        await reopened.close()
