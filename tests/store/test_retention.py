"""Retention prunes what aged out — and nothing else — on every backend, driven by an
injected clock (no sleeps)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from roost.core import ConfigError, Msg
from roost.core.settings import Settings
from roost.store import RunNotFound, SessionNotFound, Store
from roost.store.retention import RetentionJob, RetentionPolicy
from roost.store.traces import SpanRecord

DAY = timedelta(days=1)


def _later(days: float) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


async def _finished_run(store: Store, session_id: str, events: int = 3) -> str:
    run = await store.create_run(session_id=session_id, status="running", inputs=[Msg.user("q")])
    await store.flush_run(
        run.id,
        [(i, "text.delta", {"i": i}) for i in range(events)],
        Msg.assistant("a"),
        partial=False,
        status="succeeded",
    )
    return run.id


def _span(run_id: str, started: datetime, n: int) -> SpanRecord:
    ns = int(started.timestamp()) * 1_000_000_000
    return SpanRecord(
        trace_id=f"{n:032x}",
        span_id=f"{n:016x}",
        name="chat",
        start_ns=ns,
        end_ns=ns,
        run_id=run_id,
    )


async def test_events_of_runs_finished_longer_ago_than_their_age_are_pruned(
    store: Store,
) -> None:
    s = await store.create_session(app="demo")
    done = await _finished_run(store, s.id)
    active = await store.create_run(session_id=s.id, status="running")
    await store.append_events(active.id, [(0, "run.started", {})])
    ahead = [6 * DAY]  # the job's clock runs ahead of the store's by this much
    job = RetentionJob(store, clock=lambda: datetime.now(UTC) + ahead[0])

    assert (await job.run_once()).run_events == 0  # 6 days: within the 7 days
    ahead[0] = 7 * DAY
    report = await job.run_once()
    assert (report.run_events, report.spans, report.sessions) == (3, 0, 0)
    assert await store.list_events(done) == []
    assert len(await store.list_events(active.id)) == 1  # not finished: kept
    # the run, its messages and its usage stay
    assert (await store.get_run(done)).status == "succeeded"
    assert [m.text for m in (await store.list_messages(s.id)).items] == ["q", "a"]

    # a run finished since is pruned by a later pass (which starts where this one ended)
    later = await _finished_run(store, s.id, events=2)
    assert (await job.run_once()).run_events == 2
    assert await store.list_events(later) == []


async def test_spans_older_than_their_age_are_pruned(store: Store) -> None:
    now = datetime.now(UTC)
    await store.insert_spans([_span("run_old", now - 15 * DAY, 1), _span("run_new", now, 2)])
    job = RetentionJob(store, clock=lambda: now)
    assert (await job.run_once()).spans == 1
    assert await store.spans_for_run("run_old") == []
    assert len(await store.spans_for_run("run_new")) == 1


async def test_idle_sessions_go_only_when_asked_for(store: Store) -> None:
    idle = await store.create_session(app="demo")
    run = await _finished_run(store, idle.id)
    await store.save_state(idle.id, "agent", {"k": 1})
    clock = [_later(40)]
    # by default conversations are kept whatever their age
    assert (await RetentionJob(store, clock=lambda: clock[0]).run_once()).sessions == 0
    assert (await store.get_session(idle.id)).id == idle.id

    active = await store.create_session(app="demo")
    policy = RetentionPolicy(sessions=30 * DAY)
    clock[0] = _later(20)  # both were active within 30 days of then
    assert (await RetentionJob(store, policy, clock=lambda: clock[0]).run_once()).sessions == 0
    between = datetime.now(UTC)
    await store.append_messages(active.id, [Msg.user("still here")])  # activity after it
    clock[0] = between + 30 * DAY
    report = await RetentionJob(store, policy, clock=lambda: clock[0]).run_once()
    assert report.sessions == 1
    with pytest.raises(SessionNotFound):
        await store.get_session(idle.id)
    with pytest.raises(RunNotFound):
        await store.get_run(run)
    assert await store.load_state(idle.id, "agent") is None
    assert (await store.get_session(active.id)).id == active.id


async def test_the_job_runs_pass_after_pass_and_survives_a_failing_one(store: Store) -> None:
    slept: list[float] = []
    passes: list[int] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 4:
            raise asyncio.CancelledError  # what the server's shutdown does

    class Flaky(RetentionJob):
        async def run_once(self) -> object:  # type: ignore[override]
            passes.append(len(slept))
            if len(passes) == 2:
                raise RuntimeError("database away")
            return await super().run_once()

    job = Flaky(store, RetentionPolicy(interval=timedelta(hours=2)), sleep=sleep)
    with pytest.raises(asyncio.CancelledError):
        await job.run()
    assert slept == [60.0, 7200.0, 7200.0, 7200.0]  # the first pass a minute after start
    assert passes == [1, 2, 3]


def test_the_policy_comes_from_settings() -> None:
    defaults = RetentionPolicy.from_settings(Settings())
    assert defaults == RetentionPolicy(
        run_events=7 * DAY, spans=14 * DAY, sessions=None, interval=timedelta(hours=1)
    )
    given = RetentionPolicy.from_settings(
        Settings(
            retention_run_events_days="0.5",
            retention_spans_days="0",
            retention_sessions_days="90",
            retention_interval_seconds="600",
        )
    )
    assert given == RetentionPolicy(
        run_events=DAY / 2, spans=None, sessions=90 * DAY, interval=timedelta(minutes=10)
    )
    for bad in ({"retention_spans_days": "two weeks"}, {"retention_run_events_days": "-1"}):
        with pytest.raises(ConfigError) as info:
            RetentionPolicy.from_settings(Settings(**bad))
        assert "ROOST_RETENTION" in info.value.message
    with pytest.raises(ConfigError):
        RetentionPolicy.from_settings(Settings(retention_interval_seconds="0"))


def test_the_environment_sets_the_ages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOST_RETENTION_RUN_EVENTS_DAYS", "3")
    assert RetentionPolicy.from_settings(Settings()).run_events == 3 * DAY
