from __future__ import annotations

import asyncio

import pytest

from roost.core import Msg, Usage
from roost.store import (
    EventSeqConflict,
    InvalidStoreArgument,
    RunFinished,
    RunNotFound,
    Store,
)


async def test_run_lifecycle_stamps_times_and_usage(store: Store) -> None:
    s = await store.create_session(app="demo", agent="helper", user_id="u1", tenant_id="t1")
    run = await store.create_run(session_id=s.id, owner="srv-1")
    assert run.status == "queued" and run.started_at is None
    assert (run.agent, run.user_id, run.tenant_id) == ("helper", "u1", "t1")

    running = await store.set_run_status(run.id, "running")
    assert running.started_at is not None and running.heartbeat_at is not None
    waiting = await store.set_run_status(run.id, "waiting_approval")
    assert waiting.started_at == running.started_at

    usage = Usage(input_tokens=120, output_tokens=30, cost=0.002, currency="USD")
    done = await store.set_run_status(run.id, "succeeded", usage=usage, model="openai:gpt-x")
    assert done.is_final and done.finished_at is not None
    assert (done.input_tokens, done.output_tokens, done.cost, done.currency) == (
        120,
        30,
        0.002,
        "USD",
    )
    assert await store.get_run(run.id) == done

    with pytest.raises(RunFinished) as info:
        await store.set_run_status(run.id, "canceled")
    assert info.value.code == "run_finished"
    assert (await store.get_run(run.id)).status == "succeeded"


async def test_run_errors_are_typed(store: Store) -> None:
    with pytest.raises(RunNotFound) as info:
        await store.get_run("run_missing")
    assert info.value.code == "run_not_found"
    with pytest.raises(RunNotFound):
        await store.set_run_status("run_missing", "running")
    run = await store.create_run()
    with pytest.raises(InvalidStoreArgument):
        await store.set_run_status(run.id, "exploded")  # type: ignore[arg-type]
    with pytest.raises(InvalidStoreArgument) as bad:
        await store.update_run(run.id, status="succeeded")
    assert "set_run_status" in (bad.value.hint or "")
    updated = await store.update_run(run.id, model="m1", metadata={"trace_id": "abc"})
    assert updated.model == "m1" and updated.metadata == {"trace_id": "abc"}


async def test_fail_orphaned_runs_by_owner_and_by_stale_heartbeat(store: Store) -> None:
    s = await store.create_session(app="demo")
    mine = await store.create_run(session_id=s.id, status="running", owner="srv-dead")
    waiting = await store.create_run(session_id=s.id, status="waiting_approval", owner="srv-dead")
    other = await store.create_run(session_id=s.id, status="running", owner="srv-alive")
    queued = await store.create_run(session_id=s.id, owner="srv-dead")
    finished = await store.create_run(session_id=s.id, status="running", owner="srv-dead")
    await store.set_run_status(finished.id, "succeeded")

    await store.append_events(mine.id, [(1, "run.started", {"seq": 1, "type": "run.started"})])
    failed = await store.fail_orphaned_runs(owner="srv-dead")
    assert failed == sorted([mine.id, waiting.id])
    # each failed run's stream ends with a terminal event, numbered after the last one
    ends = [(await store.list_events(rid))[-1] for rid in (mine.id, waiting.id)]
    assert [(e.seq, e.type) for e in ends] == [(2, "run.failed"), (1, "run.failed")]
    assert ends[0].payload["code"] == "server_restart" and ends[0].payload["lost_after"] == 1
    assert ends[0].payload["run_id"] == mine.id and ends[0].payload["session_id"] == s.id
    for rid in failed:
        run = await store.get_run(rid)
        assert (run.status, run.error_code) == ("failed", "server_restart")
        assert run.finished_at is not None
    assert (await store.get_run(other.id)).status == "running"
    assert (await store.get_run(queued.id)).status == "queued"
    assert (await store.get_run(finished.id)).status == "succeeded"

    # A sweeper on another replica: only runs whose heartbeat is stale.
    await asyncio.sleep(0.3)
    fresh = await store.create_run(session_id=s.id, status="running", owner="srv-2")
    assert await store.heartbeat("srv-2") == 1
    assert await store.fail_orphaned_runs(older_than_heartbeat_s=0.2) == [other.id]
    assert (await store.get_run(fresh.id)).status == "running"
    assert await store.fail_orphaned_runs(owner="srv-dead") == []


async def test_list_runs_filters_and_pages(store: Store) -> None:
    s = await store.create_session(app="demo")
    ids = [(await store.create_run(session_id=s.id, status="running")).id for _ in range(3)]
    await store.set_run_status(ids[0], "failed", error_code="model_error")
    page = await store.list_runs(session_id=s.id, limit=2)
    rest = await store.list_runs(session_id=s.id, limit=2, cursor=page.next_cursor)
    assert [r.id for r in page.items + rest.items] == list(reversed(ids))
    running = await store.list_runs(status=["running", "waiting_approval"], session_id=s.id)
    assert {r.id for r in running.items} == set(ids[1:])


async def test_events_keep_order_and_resume_after_seq(store: Store) -> None:
    s = await store.create_session(app="demo")
    run = await store.create_run(session_id=s.id, status="running")
    assert await store.last_event_seq(run.id) == -1
    assert await store.list_events(run.id) == []
    await store.append_events(run.id, [(i, "text.delta", {"delta": f"t{i}"}) for i in range(5)])
    await store.append_events(run.id, [(5, "reply.finished", {"ok": True})])
    events = await store.list_events(run.id)
    assert [e.seq for e in events] == list(range(6))
    assert events[0].payload == {"delta": "t0"}
    resumed = await store.list_events(run.id, after_seq=3)
    assert [(e.seq, e.type) for e in resumed] == [(4, "text.delta"), (5, "reply.finished")]
    assert [e.seq for e in await store.list_events(run.id, after_seq=0, limit=2)] == [1, 2]
    assert await store.last_event_seq(run.id) == 5

    with pytest.raises(EventSeqConflict):
        await store.append_events(run.id, [(5, "text.delta", {}), (6, "text.delta", {})])
    assert await store.last_event_seq(run.id) == 5  # the whole batch was rejected
    with pytest.raises(RunNotFound):
        await store.append_events("run_missing", [(0, "x", {})])


async def test_flush_run_writes_events_message_and_status_in_one_transaction(
    store: Store,
) -> None:
    s = await store.create_session(app="demo")
    run = await store.create_run(session_id=s.id, status="running")
    reply = Msg.assistant("Hel")
    assert (
        await store.flush_run(run.id, [(0, "reply.started", {}), (1, "text.delta", {})], reply)
        is None
    )
    page = await store.list_messages(s.id)
    assert page.records[0].partial and page.items[0].text == "Hel"

    # A batch that conflicts leaves neither events nor the message update behind.
    longer = Msg(id=reply.id, role="assistant", content="Hello")
    with pytest.raises(EventSeqConflict):
        await store.flush_run(run.id, [(1, "text.delta", {})], longer)
    assert (await store.list_messages(s.id)).items[0].text == "Hel"

    final = Msg(id=reply.id, role="assistant", content="Hello!")
    done = await store.flush_run(
        run.id,
        [(2, "reply.finished", {})],
        final,
        partial=False,
        status="succeeded",
        usage=Usage(input_tokens=5, output_tokens=2),
    )
    assert done is not None and done.status == "succeeded" and done.output_tokens == 2
    page = await store.list_messages(s.id)
    assert [m.text for m in page.items] == ["Hello!"] and not page.records[0].partial
    assert page.records[0].run_id == run.id
    assert [e.seq for e in await store.list_events(run.id)] == [0, 1, 2]


async def test_prune_run_events_keeps_active_and_recent_runs(store: Store) -> None:
    from datetime import UTC, datetime, timedelta

    s = await store.create_session(app="demo")
    old = await store.create_run(session_id=s.id, status="running")
    active = await store.create_run(session_id=s.id, status="running")
    for run in (old, active):
        await store.append_events(run.id, [(i, "text.delta", {}) for i in range(3)])
    await store.set_run_status(old.id, "succeeded")

    assert await store.prune_run_events(finished_before=datetime.now(UTC) - timedelta(hours=1)) == 0
    assert (
        await store.prune_run_events(finished_before=datetime.now(UTC) + timedelta(seconds=1)) == 3
    )
    assert await store.list_events(old.id) == []
    assert (await store.get_run(old.id)).status == "succeeded"  # the run itself stays
    assert len(await store.list_events(active.id)) == 3
