"""The run executor: one asyncio task per run, events numbered, fanned out and persisted.

Every event gets ``seq`` (1, 2, …), ``run_id``, ``session_id`` and ``type``. Listeners in
this process read the run's in-memory log; other processes get the events through the
bus (Redis) or, without Redis, by polling the store. Events are persisted in batches —
at least every ``flush_interval`` seconds and at the end of the run — together with the
partial reply, while tool results and completed messages are written *before* clients
see them (decision 0061). How a run's events are written: :mod:`.recorder`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol

from roost.agents.client_tools import prepare_run
from roost.core import (
    ApprovalNotFound,
    ApprovalRequired,
    ApprovalResolved,
    ErrorEvent,
    Event,
    Interrupted,
    ModelResponse,
    Msg,
    ReplyFinished,
    ReplyStarted,
    RoostError,
    SessionBusy,
    TextDelta,
    ThinkingDelta,
    ToolCallFinished,
    ToolResultEvent,
    UsageEvent,
)
from roost.core.blocks import ToolUseBlock
from roost.core.ids import new_id
from roost.core.retry import retry_transient
from roost.server.config import BusyPolicy
from roost.server.context import AgentContext
from roost.server.engine.auditing import note_event
from roost.server.engine.codec import Envelope, event_data
from roost.server.engine.follower import FINAL, Follower
from roost.server.engine.handle import RunHandle
from roost.server.engine.recorder import Recorder
from roost.server.engine.turns import ACTIVE, SessionTurns
from roost.server.errors import RunNotActive, ServerShuttingDown
from roost.server.observer import RunInfo, RunObserver

if TYPE_CHECKING:
    from roost.govern.audit.runs import RunAuditor
    from roost.server.fanout import Fanout
    from roost.server.registry import Agents, AgentSpec
    from roost.server.sessions import SessionCache
    from roost.store import RunRecord, SessionLocks, SessionRecord, Store

PASS_THROUGH = "pass_through"
"""Run metadata key of the client's per-run options (``prepare_run``)."""

log = logging.getLogger("roost.server.runs")

Resumed = Literal["done", "abandoned", "later"]
"""What :meth:`RunExecutor.resume_queued` did: nothing is left to do; stopped unfinished
(queue it again); not its turn yet (older runs of its session go first)."""

_TURN_PATIENCE = 5.0
"""Seconds a background run waits behind runs that are all still *queued* before its
worker hands it back to the queue: their messages may be behind it in the queue."""


class RunQueue(Protocol):
    """Where background runs wait for a worker (the app's durable queue)."""

    async def enqueue_run(self, run_id: str) -> None: ...


class RunExecutor:
    """Starts, streams, cancels and persists the runs of one app."""

    def __init__(
        self,
        *,
        store: Store,
        locks: SessionLocks,
        agents: Agents,
        sessions: SessionCache,
        fanout: Fanout,
        observers: list[RunObserver],
        busy_policy: BusyPolicy,
        flush_interval: float,
        keepalive_interval: float,
        auditor: RunAuditor | None = None,
    ) -> None:
        self.store = store
        self.auditor = auditor
        """Records what runs do in the audit trail (``None``: auditing is off)."""
        self.locks = locks
        self.agents = agents
        self.sessions = sessions
        self.fanout = fanout
        self.busy_policy = busy_policy
        self.flush_interval = flush_interval
        self.keepalive_interval = keepalive_interval
        self.queue: RunQueue | None = None
        """Set by the queue that resumes background runs (it needs the executor too)."""
        self.active: dict[str, RunHandle] = {}
        self.by_session: dict[str, RunHandle] = {}
        self.turns = SessionTurns(
            store, locks, self.active, remote=fanout.remote, instance_id=fanout.instance_id
        )
        self.recorder = Recorder(store, fanout, observers, auditor)
        self.follower = Follower(store, fanout, self.active, poll_interval=flush_interval)
        self._flusher: asyncio.Task[None] | None = None
        self._closing = False
        self.run_scope: Callable[[str | None], Awaitable[None]] | None = None
        """Awaited at the start of each run's own task with its tenant (roost.govern sets
        the tenant's data protection there for the models the agent calls)."""

    # -- lifecycle ---------------------------------------------------------------------
    def start_background_loops(self) -> None:
        self._flusher = asyncio.create_task(self._flush_loop(), name="roost-run-flusher")

    async def close(self, timeout: float = 10.0) -> None:
        """Stop accepting runs; interrupt the running ones and persist what they have."""
        self._closing = True
        for handle in list(self.active.values()):
            if handle.background and handle.task is not None:
                # durable work is not canceled by a deploy: it stays active and is queued
                # again at the next start (or by a replica's sweeper)
                handle.abandon = True
                handle.task.cancel()
            else:
                self._interrupt_local(handle, "server_shutdown")
        pending = [h.task for h in self.active.values() if h.task is not None]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher

    def follow(self, run_id: str, after_seq: int = 0) -> AsyncGenerator[list[Envelope], None]:
        """The run's events after ``after_seq`` until it ends (see :class:`Follower`)."""
        return self.follower.follow(run_id, after_seq)

    # -- starting runs -----------------------------------------------------------------
    async def start(
        self,
        session: SessionRecord,
        inputs: list[Msg],
        *,
        metadata: dict[str, Any] | None = None,
        background: bool = False,
    ) -> RunHandle:
        """Create the run and persist its input; busy sessions follow the app's policy.

        Returns once the input is stored (so an acknowledged message is never lost); the
        run itself continues in a task (or in the durable queue when ``background``). The
        run is its session's: whoever may see the session, and no one else.
        """
        if self._closing:
            raise ServerShuttingDown("the server is shutting down", hint="retry in a moment")
        spec = self.agents.spec(session.agent)
        lock = await self.locks.try_acquire(session.id)
        if lock is not None and not background and self.turns.may_wait(session.id):
            # the session may be free while runs submitted earlier wait for it (a background
            # run for a worker, a queued run to be woken): they go first
            try:
                waiting = await self.turns.ahead(session.id, None) is not None
            except BaseException:
                await lock.release()
                raise
            if waiting:
                await lock.release()
                lock = None
        if lock is None and not background:
            # A background run always waits its turn in the durable queue: rejecting it
            # only when an earlier one was already picked up would depend on timing.
            if self.busy_policy == "reject":
                raise SessionBusy(
                    f"session {session.id} already has a run in progress",
                    hint="wait for it to finish, cancel it (POST /v1/runs/{id}/cancel), "
                    "or start the app with busy_policy='enqueue'",
                )
            if self.busy_policy == "interrupt":
                await self.cancel_session_runs(session.id, reason="superseded")
        status = "queued" if (lock is None or background) else "running"
        run_meta: dict[str, Any] = {**(metadata or {})}
        if background:
            run_meta["background"] = True
            run_meta["input"] = [m.model_dump(mode="json", exclude_none=True) for m in inputs]
        run_id, also, actor = None, None, None
        if self.auditor is not None:  # the run's audit record commits with the run
            run_id, actor = new_id("run"), self.auditor.actor()
            info = RunInfo(run_id, session.id, spec.name, session.user_id, session.tenant_id)
            entry = self.auditor.started(info, spec.name, inputs, actor, background)
            also = self.auditor.body([entry])
        try:
            record = await retry_transient(
                lambda: self.store.create_run(
                    session_id=session.id,
                    agent=spec.name,
                    user_id=session.user_id,
                    tenant_id=session.tenant_id,
                    status=status,  # type: ignore[arg-type]
                    input_message_id=inputs[-1].id,
                    metadata=run_meta,
                    owner=self.fanout.instance_id,
                    inputs=inputs,  # the run and its input: one transaction
                    run_id=run_id,
                    also=also,
                )
            )
        except BaseException:
            if lock is not None:
                await lock.release()
            raise
        handle = _handle(record, spec, inputs, background, metadata or {})
        handle.status = status
        handle.actor = actor
        if status == "queued":
            self.turns.note_queued(session.id, record.id)
        if background:
            if lock is not None:
                await lock.release()
            assert self.queue is not None, "the app's queue starts with the executor"
            await self.queue.enqueue_run(record.id)
            return handle
        handle.lock = lock
        self._register(handle)
        handle.task = asyncio.create_task(self._execute(handle), name=f"roost-run-{record.id}")
        return handle

    async def resume_queued(self, run_id: str) -> Resumed:
        """Execute a durable (background) run: called by the queue worker, also after a crash.

        Idempotent: a run already executing here, or already finished, is skipped, so a
        message delivered twice (re-queued after a restart) never runs the agent twice.
        The run starts only when it is its session's oldest pending run (FIFO per
        session, whichever worker or replica took which message first); ``"later"`` when
        the runs ahead of it stayed queued too long (their messages may wait behind this
        one), ``"abandoned"`` when it stopped unfinished (shutdown, lost queue lease): the
        message must be queued again in both cases.
        """
        store = self.store
        if self._closing:
            raise ServerShuttingDown("the server is shutting down", hint="resumed elsewhere")
        if run_id in self.active:
            return "done"
        record = await store.get_run(run_id)
        session_id = record.session_id
        assert session_id is not None  # the executor creates runs in sessions
        if record.status in FINAL:
            self.turns.forget_queued(session_id, run_id)
            return "done"
        lock = await self.turns.take(session_id, run_id, record.created_at, patience=_TURN_PATIENCE)
        if lock is None:
            return "later"
        try:
            record = await store.get_run(run_id)
            if record.status in FINAL or run_id in self.active:
                await lock.release()
                self.turns.forget_queued(session_id, run_id)
                return "done"
            session = await store.get_session(session_id)
            spec = self.agents.spec(record.agent or session.agent)
            inputs = [Msg.model_validate(m) for m in record.metadata.get("input", [])]
            handle = _handle(record, spec, inputs, True, record.metadata)
            handle.lock = lock
            # a run that was running when its process died starts over; numbering continues
            handle.seq = max(0, await store.last_event_seq(run_id))
            if handle.seq > 0:  # so the first attempt's flushed messages go, its input stays
                keep = [m.id for m in inputs]
                if record.input_message_id:
                    keep.append(record.input_message_id)
                await store.discard_run_outputs(run_id, keep=keep)
                # its stream starts again too: replays begin at this attempt (protocol.md)
                handle.attempt = int(record.metadata.get("attempt", 1)) + 1
                handle.first_seq = handle.seq + 1
                meta = {**record.metadata, "attempt": handle.attempt}
                meta["attempt_from"] = handle.first_seq
                await store.update_run(run_id, metadata=meta)
            await store.resequence_run_messages(session_id, run_id)
            await store.set_run_status(run_id, "running", owner=self.fanout.instance_id)
        except BaseException:
            await lock.release()
            raise
        self.turns.forget_queued(session_id, run_id)
        self._register(handle)
        self.by_session[session_id] = handle
        handle.task = asyncio.create_task(self._execute(handle), name=f"roost-run-{run_id}")
        await asyncio.shield(handle.task)
        return "abandoned" if handle.abandon else "done"

    def note_queued(self, session_id: str, run_id: str) -> None:
        """``run_id`` waits for its turn (see :meth:`SessionTurns.note_queued`)."""
        self.turns.note_queued(session_id, run_id)

    def abandon_background(self) -> None:
        """Stop this process's background runs without a final status, to be resumed
        by another replica: this process is about to lose its claim on them."""
        for handle in list(self.active.values()):
            if handle.background and handle.task is not None and not handle.done.is_set():
                handle.abandon = True
                handle.task.cancel()

    def _register(self, handle: RunHandle) -> None:
        self.active[handle.id] = handle
        self.by_session.setdefault(handle.session_id, handle)

    # -- the run body ------------------------------------------------------------------
    async def _execute(self, h: RunHandle) -> None:
        store, rec = self.store, self.recorder
        status = "succeeded"
        try:
            if h.lock is None:
                rec.emit(h, "run.queued", {"agent": h.spec.name, "status": "queued"})
                assert h.created_at is not None
                h.lock = await self.turns.take(h.session_id, h.id, h.created_at)
                self.turns.forget_queued(h.session_id, h.id)
                self.by_session[h.session_id] = h
                h.status = "running"
                # its input was stored when it was queued: now it goes after the replies
                await store.resequence_run_messages(h.session_id, h.id)
                await store.set_run_status(h.id, "running", owner=self.fanout.instance_id)
            if h.cancel_reason is not None:
                raise asyncio.CancelledError
            await rec.observe("run_started", h)
            started: dict[str, Any] = {"agent": h.spec.name, "status": "running"}
            if h.attempt > 1:
                started["attempt"] = h.attempt
            rec.emit(h, "run.started", started)
            fresh = self.sessions.take_fresh(h.session_id)
            state = None if fresh else await store.load_state(h.session_id, h.spec.name)
            ctx = AgentContext(
                session_id=h.session_id,
                agent=h.spec.name,
                user_id=h.info.user_id,
                tenant_id=h.info.tenant_id,
                run_id=h.id,
                state=state,
                metadata=h.info.metadata,
            )
            if self.run_scope is not None:
                await self.run_scope(h.info.tenant_id)
            h.agent = await self.agents.build(h.spec, ctx)
            if PASS_THROUGH in h.info.metadata:  # a protocol client's tools / schema (0230)
                prepare_run(h.agent, h.info.metadata[PASS_THROUGH], h.inputs)
            stream = h.agent.reply(h.inputs if len(h.inputs) > 1 else h.inputs[0])
            if h.cancel_reason is not None:  # canceled while the agent was being built:
                h.agent.interrupt(h.cancel_reason)  # (an idle agent ignores an interrupt)
            interrupted = False
            async for event in stream:
                if type(event) is TextDelta:  # most of a stream: no dispatch, no await
                    h.partial_for(event.msg_id).text.append(event.delta)
                    rec.emit_event(h, event)
                else:
                    if isinstance(event, Interrupted):
                        interrupted = True
                    await self._on_event(h, event)
                if h.unobserved:
                    await rec.drain_observers(h)
            if interrupted or h.cancel_reason is not None:
                status = "canceled"
            elif h.error is not None:
                status = "failed"
        except asyncio.CancelledError:
            status = "canceled"
            if h.cancel_reason is None:
                h.cancel_reason = "server_shutdown"
        except RoostError as exc:
            status = "failed"
            h.error = (exc.code, exc.message)
        except Exception as exc:
            status = "failed"
            h.error = ("agent_error", f"the agent raised {type(exc).__name__}")
            log.exception("run %s: agent failed", h.id)
        try:
            if h.abandon:
                await asyncio.shield(rec.flush(h))
            else:
                await asyncio.shield(self._finish(h, status))
        except Exception:
            log.exception("run %s: could not persist the end of the run", h.id)
        finally:
            if h.lock is not None:
                with contextlib.suppress(Exception):
                    await h.lock.release()
            self.active.pop(h.id, None)
            self.turns.forget_queued(h.session_id, h.id)
            if self.by_session.get(h.session_id) is h:
                del self.by_session[h.session_id]
            self.turns.changed(h.session_id)
            h.done.set()
            h.notify()

    async def _on_event(self, h: RunHandle, event: Event) -> None:
        store, rec = self.store, self.recorder
        if self.auditor is not None:
            note_event(self.auditor, h, event)
        if isinstance(event, TextDelta):
            h.partial_for(event.msg_id).text.append(event.delta)
        elif isinstance(event, ThinkingDelta):
            h.partial_for(event.msg_id).thinking.append(event.delta)
        elif isinstance(event, ReplyStarted):
            h.partial_for(event.msg_id)
        elif isinstance(event, ToolCallFinished):
            part = h.partial_for(event.msg_id)
            part.tool_uses.append(
                ToolUseBlock(id=event.call_id, name=event.name, input=event.input)
            )
        elif isinstance(event, UsageEvent):
            h.usage = event.usage if h.usage is None else h.usage + event.usage
            h.model = event.model or h.model
        elif isinstance(event, ErrorEvent):
            if not event.recoverable:
                h.error = (event.code, event.message)  # the agent closed the reply on it
        elif isinstance(event, ModelResponse):
            h.model = event.model or h.model
            return  # the agent's business; the deltas already told the client
        elif isinstance(event, ToolResultEvent):
            # the assistant turn that asked for the tool is complete; store it and the result
            # before anyone sees the result (nothing a client saw completed may be lost)
            await rec.save_completed_turn(h)
            tool_msg = Msg(role="tool", name=event.name, content=[event.result])
            await store.save_message(h.session_id, tool_msg, run_id=h.id)
            # shown once it and its audit record are committed
            rec.emit(h, event.type, event_data(event), hold=True)
            try:
                await rec.flush(h)
            finally:
                rec.show_held(h)
            return
        elif isinstance(event, ApprovalRequired):
            h.approvals.add(event.call_id)
            h.status = "waiting_approval"
            await store.set_run_status(h.id, "waiting_approval")  # before it is seen
            rec.emit_event(h, event)
            await rec.flush(h)
            return
        elif isinstance(event, ApprovalResolved):
            h.approvals.discard(event.call_id)
            if not h.approvals:
                h.status = "running"
                await store.set_run_status(h.id, "running")
        elif isinstance(event, ReplyFinished):
            h.final = event.msg
            if event.usage is not None:
                h.usage = event.usage
            return  # announced by the terminal run.* event, which carries the message
        rec.emit_event(h, event)

    async def _finish(self, h: RunHandle, status: str) -> None:
        """Store the end, then free the session, then show the terminal event: a client
        reacting to it (GET the run, POST the next message) never finds the run still
        running or the session still busy."""
        rec = self.recorder
        end = rec.hold_end(h, status)
        try:
            await rec.store_end(h, status, end)
        finally:
            if h.lock is not None:
                with contextlib.suppress(Exception):
                    await h.lock.release()
                h.lock = None
                if self.by_session.get(h.session_id) is h:
                    del self.by_session[h.session_id]
            self.turns.changed(h.session_id)
            rec.show_held(h)
        await rec.drain_observers(h)
        await rec.observe("run_finished", h, status, h.usage)

    async def _flush_loop(self) -> None:
        interval = self.flush_interval
        ticks_per_keepalive = max(1, round(self.keepalive_interval / interval))
        tick = 0
        while True:
            await asyncio.sleep(interval)
            tick += 1
            if tick % ticks_per_keepalive == 0:
                for h in list(self.active.values()):
                    h.notify()  # followers send an SSE comment so proxies keep the stream
            for h in list(self.active.values()):
                if h.pending or (h.partial is not None and h.partial.dirty):
                    try:
                        await self.recorder.flush(h)
                    except Exception:
                        log.exception("run %s: periodic flush failed", h.id)

    # -- control -----------------------------------------------------------------------
    def _interrupt_local(self, h: RunHandle, reason: str) -> None:
        if h.cancel_reason is None:
            h.cancel_reason = reason
        if h.agent is not None:
            h.agent.interrupt(reason)
        elif h.task is not None and h.status == "queued":
            h.task.cancel()

    async def cancel(self, run_id: str, reason: str = "canceled") -> str:
        """Interrupt a run here or, through the bus, on the process that owns it."""
        h = self.active.get(run_id)
        if h is not None:
            self._interrupt_local(h, reason)
            return "canceling"
        record = await self.store.get_run(run_id)
        if record.status in FINAL:
            raise RunNotActive(f"run {run_id} already finished with status {record.status}")
        if record.status == "queued" and record.metadata.get("background"):
            await self.store.set_run_status(run_id, "canceled", error_code=None, error_message=None)
            if record.session_id is not None:
                self.turns.changed(record.session_id)
            return "canceled"
        await self.fanout.send_control(
            record.owner, {"op": "cancel", "run_id": run_id, "reason": reason}
        )
        return "canceling"

    async def cancel_session_runs(self, session_id: str, reason: str) -> None:
        h = self.by_session.get(session_id)
        if h is not None:
            self._interrupt_local(h, reason)
            return
        page = await self.store.list_runs(session_id=session_id, status=ACTIVE)
        for record in page.items:
            with contextlib.suppress(RoostError):
                await self.cancel(record.id, reason)

    async def decide(self, run_id: str, call_id: str, approve: bool, reason: str | None) -> None:
        h = self.active.get(run_id)
        if h is None:
            record = await self.store.get_run(run_id)
            if record.status in FINAL:
                raise RunNotActive(f"run {run_id} already finished with status {record.status}")
            await self.fanout.send_control(
                record.owner,
                {
                    "op": "approve",
                    "run_id": run_id,
                    "call_id": call_id,
                    "approve": approve,
                    "reason": reason,
                },
            )
            return
        if call_id not in h.approvals:
            raise ApprovalNotFound(
                f"run {run_id} has no pending approval for call {call_id!r}",
                hint="use the call_id of an approval.required event of this run",
            )
        if approve and reason is None:
            h.agent.approve(call_id)  # the Agent protocol's form: every agent takes it
        elif approve:
            h.agent.approve(call_id, reason)  # for the approval.resolved event
        else:
            h.agent.reject(call_id, reason or "rejected")

    async def handle_control(self, message: dict[str, Any]) -> None:
        """A cancel/approve sent by another process for a run this process owns."""
        h = self.active.get(str(message.get("run_id")))
        if h is None:
            return
        if message.get("op") == "cancel":
            self._interrupt_local(h, str(message.get("reason") or "canceled"))
        elif message.get("op") == "approve":
            with contextlib.suppress(RoostError):
                await self.decide(
                    h.id, str(message["call_id"]), bool(message["approve"]), message.get("reason")
                )


def _handle(
    record: RunRecord,
    spec: AgentSpec,
    inputs: list[Msg],
    background: bool,
    metadata: dict[str, Any],
) -> RunHandle:
    info = RunInfo(
        id=record.id,
        session_id=str(record.session_id),
        agent=spec.name,
        user_id=record.user_id,
        tenant_id=record.tenant_id,
        started_at=time.time(),
        metadata=dict(metadata),
    )
    return RunHandle(info, spec, inputs, background=background, created_at=record.created_at)
