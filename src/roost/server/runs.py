"""The run executor: one asyncio task per run, events numbered, fanned out and persisted.

Every event gets ``seq`` (1, 2, …), ``run_id``, ``session_id`` and ``type``. Listeners in
this process read the run's in-memory log; other processes get the events through the
bus (Redis) or, without Redis, by polling the store. Events are persisted in batches —
at least every ``flush_interval`` seconds and at the end of the run — together with the
partial reply, while tool results and completed messages are written *before* clients
see them (decision 0061).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

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
    ToolCallDelta,
    ToolCallFinished,
    ToolCallStarted,
    ToolProgress,
    ToolResultEvent,
    Usage,
    UsageEvent,
    jsontext,
)
from roost.core.blocks import ToolUseBlock
from roost.core.jsontext import JSONText
from roost.server._partial import PartialReply
from roost.server._retry import retry_transient
from roost.server.context import AgentContext
from roost.server.errors import RunNotActive, RunNotFound, ServerShuttingDown
from roost.server.observer import RunInfo
from roost.store import InvalidStoreArgument, RunFinished

if TYPE_CHECKING:
    from roost.server.app import AgentApp, AgentSpec
    from roost.server.auth import Principal
    from roost.store import RunRecord, SessionLock
    from roost.store.store import EventRow

log = logging.getLogger("roost.server.runs")

Envelope = tuple[int, str, str]
"""``(seq, type, json)`` — the event as it goes on the wire."""
Pending = tuple[int, str, dict[str, Any], str]
"""``(seq, type, envelope, json)`` — an event not yet stored."""

ACTIVE = frozenset({"queued", "running", "waiting_approval"})
FINAL = frozenset({"succeeded", "failed", "canceled"})
TERMINAL_EVENTS = {"succeeded": "run.completed", "failed": "run.failed", "canceled": "run.canceled"}

Resumed = Literal["done", "abandoned", "later"]
"""What :meth:`RunExecutor.resume_queued` did: nothing is left to do; stopped unfinished
(queue it again); not its turn yet (older runs of its session go first)."""

_TURN_POLL = (0.05, 1.0)
"""First and longest wait (s) between two looks at the store for a run waiting its turn;
a run ending in this process wakes the waiters at once, the polls see other replicas."""
_TURN_PATIENCE = 5.0
"""Seconds a background run waits behind runs that are all still *queued* before its
worker hands it back to the queue: their messages may be behind it in the queue."""


_DUMPS = jsontext.dumps
_FLAT_EVENTS: frozenset[type[Any]] = frozenset(
    {
        ReplyStarted,
        TextDelta,
        ThinkingDelta,
        ToolCallStarted,
        ToolCallDelta,
        ToolProgress,
        ErrorEvent,
        Interrupted,
        ApprovalResolved,
    }
)
"""Event types whose fields are all ``str``/``bool`` (or None): their JSON is their fields."""


def event_data(event: Event) -> dict[str, Any]:
    """``event.model_dump(mode="json", exclude_none=True)``.

    For the flat events (every text delta) the fields are read directly, in declaration
    order: pydantic's serializer cost more than the rest of a delta's way to the client.
    """
    if type(event) in _FLAT_EVENTS:
        return {k: v for k, v in event.__dict__.items() if v is not None}
    return event.model_dump(mode="json", exclude_none=True)


@dataclass(eq=False)
class RunHandle:
    """A run executing in this process."""

    info: RunInfo
    spec: AgentSpec
    inputs: list[Msg]
    background: bool = False
    created_at: datetime | None = None
    """The stored run's ``created_at``: with the id, its place in its session's queue."""
    status: str = "running"
    seq: int = 0
    events: list[Envelope] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    """Followers blocked until the next event; the others re-read ``events`` before they
    wait. A bare future each: an ``asyncio.Event`` per event cost more than the event."""
    done: asyncio.Event = field(default_factory=asyncio.Event)
    flush_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    agent: Any = None
    task: asyncio.Task[None] | None = None
    lock: Any = None
    partial: PartialReply | None = None
    completed: list[Msg] = field(default_factory=list)
    """Assistant messages finished but not yet stored (saved on the next flush)."""
    final: Msg | None = None
    usage: Usage | None = None
    model: str | None = None
    error: tuple[str, str] | None = None
    cancel_reason: str | None = None
    approvals: set[str] = field(default_factory=set)
    abandon: bool = False
    """Set at shutdown for background runs: stop without a final status (resumed later)."""
    unobserved: list[dict[str, Any]] = field(default_factory=list)
    """Envelopes not yet passed to the observers (drained in order by the run task)."""
    held: list[tuple[Envelope, dict[str, Any]]] = field(default_factory=list)
    """The terminal event, stored but not shown until the end of the run is committed."""
    attempt: int = 1
    """2, 3 … for a background run started over after its server stopped."""
    first_seq: int = 1
    """The ``seq`` of this attempt's first event (``events[0]``)."""

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def session_id(self) -> str:
        return self.info.session_id

    @property
    def followers_waiting(self) -> int:
        return sum(1 for w in self.waiters if not w.done())

    def notify(self) -> None:
        waiters = self.waiters
        if not waiters:
            return
        self.waiters = []
        for waiter in waiters:
            if not waiter.done():  # a follower that left has a cancelled one
                waiter.set_result(None)


class RunExecutor:
    """Starts, streams, cancels and persists runs for one :class:`AgentApp`."""

    def __init__(self, app: AgentApp) -> None:
        self.app = app
        self.active: dict[str, RunHandle] = {}
        self.by_session: dict[str, RunHandle] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._closing = False
        self._queued: dict[str, set[str]] = {}
        """Single node: per session, the runs known to wait for their turn; a session not
        in it has none, so a new run on it starts without asking the store."""
        self._turn_waiters: dict[str, list[asyncio.Future[None]]] = {}

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

    # -- starting runs -----------------------------------------------------------------
    async def start(
        self,
        session: Any,
        principal: Principal,
        inputs: list[Msg],
        *,
        metadata: dict[str, Any] | None = None,
        background: bool = False,
    ) -> RunHandle:
        """Create the run and persist its input; busy sessions follow the app's policy.

        Returns once the input is stored (so an acknowledged message is never lost); the
        run itself continues in a task (or in the durable queue when ``background``).
        """
        app = self.app
        if self._closing:
            raise ServerShuttingDown("the server is shutting down", hint="retry in a moment")
        spec = app.agent_spec(session.agent)
        lock = await app.locks.try_acquire(session.id)
        if lock is not None and not background and (app.bus_remote or session.id in self._queued):
            # the session may be free while runs submitted earlier wait for it (a background
            # run for a worker, a queued run to be woken): they go first
            try:
                waiting = await self._ahead(session.id, None) is not None
            except BaseException:
                await lock.release()
                raise
            if waiting:
                await lock.release()
                lock = None
        if lock is None and not background:
            # A background run always waits its turn in the durable queue: rejecting it
            # only when an earlier one was already picked up would depend on timing.
            if app.busy_policy == "reject":
                raise SessionBusy(
                    f"session {session.id} already has a run in progress",
                    hint="wait for it to finish, cancel it (POST /v1/runs/{id}/cancel), "
                    "or start the app with busy_policy='enqueue'",
                )
            if app.busy_policy == "interrupt":
                await self.cancel_session_runs(session.id, reason="superseded")
        status = "queued" if (lock is None or background) else "running"
        run_meta: dict[str, Any] = {**(metadata or {})}
        if background:
            run_meta["background"] = True
            run_meta["input"] = [m.model_dump(mode="json", exclude_none=True) for m in inputs]
        try:
            record = await retry_transient(
                lambda: app.store.create_run(
                    session_id=session.id,
                    agent=spec.name,
                    # a run is its session's: whoever may see the session, and no one else
                    user_id=session.user_id,
                    tenant_id=session.tenant_id,
                    status=status,
                    input_message_id=inputs[-1].id,
                    metadata=run_meta,
                    owner=app.instance_id,
                    inputs=inputs,  # the run and its input: one transaction
                )
            )
        except BaseException:
            if lock is not None:
                await lock.release()
            raise
        info = RunInfo(
            id=record.id,
            session_id=session.id,
            agent=spec.name,
            user_id=record.user_id,
            tenant_id=record.tenant_id,
            started_at=time.time(),
            metadata=dict(metadata or {}),
        )
        handle = RunHandle(
            info=info,
            spec=spec,
            inputs=inputs,
            background=background,
            created_at=record.created_at,
        )
        handle.status = status
        if status == "queued":
            self.note_queued(session.id, record.id)
        if background:
            if lock is not None:
                await lock.release()
            await app.queue.enqueue_run(record.id)
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
        app = self.app
        if self._closing:
            raise ServerShuttingDown("the server is shutting down", hint="resumed elsewhere")
        if run_id in self.active:
            return "done"
        record = await app.store.get_run(run_id)
        if record.status in FINAL:
            self._forget_queued(record.session_id, run_id)
            return "done"
        session_id = record.session_id
        assert session_id is not None  # the executor creates runs in sessions
        lock = await self._take_turn(session_id, run_id, record.created_at, patience=_TURN_PATIENCE)
        if lock is None:
            return "later"
        try:
            record = await app.store.get_run(run_id)
            if record.status in FINAL or run_id in self.active:
                await lock.release()
                self._forget_queued(session_id, run_id)
                return "done"
            session = await app.store.get_session(session_id)
            spec = app.agent_spec(record.agent or session.agent)
            inputs = [Msg.model_validate(m) for m in record.metadata.get("input", [])]
            info = RunInfo(
                id=record.id,
                session_id=record.session_id,
                agent=spec.name,
                user_id=record.user_id,
                tenant_id=record.tenant_id,
                started_at=time.time(),
                metadata=dict(record.metadata),
            )
            handle = RunHandle(
                info=info,
                spec=spec,
                inputs=inputs,
                background=True,
                created_at=record.created_at,
            )
            handle.lock = lock
            # a run that was running when its process died starts over; numbering continues
            handle.seq = max(0, await app.store.last_event_seq(run_id))
            if handle.seq > 0:  # so the first attempt's flushed messages go, its input stays
                keep = [m.id for m in inputs]
                if record.input_message_id:
                    keep.append(record.input_message_id)
                await app.store.discard_run_outputs(run_id, keep=keep)
                # its stream starts again too: replays begin at this attempt (protocol.md)
                handle.attempt = int(record.metadata.get("attempt", 1)) + 1
                handle.first_seq = handle.seq + 1
                meta = {**record.metadata, "attempt": handle.attempt}
                meta["attempt_from"] = handle.first_seq
                await app.store.update_run(run_id, metadata=meta)
            await app.store.resequence_run_messages(session_id, run_id)
            await app.store.set_run_status(run_id, "running", owner=app.instance_id)
        except BaseException:
            await lock.release()
            raise
        self._forget_queued(handle.session_id, run_id)
        self._register(handle)
        self.by_session[handle.session_id] = handle
        handle.task = asyncio.create_task(self._execute(handle), name=f"roost-run-{run_id}")
        await asyncio.shield(handle.task)
        return "abandoned" if handle.abandon else "done"

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

    # -- turns: the runs of a session start in the order they were submitted ----------
    def note_queued(self, session_id: str, run_id: str) -> None:
        """``run_id`` waits for its turn (single node: runs are resumed in this process;
        with replicas the store is asked every time)."""
        if not self.app.bus_remote:
            self._queued.setdefault(session_id, set()).add(run_id)

    def _forget_queued(self, session_id: str, run_id: str) -> None:
        waiting = self._queued.get(session_id)
        if waiting is not None:
            waiting.discard(run_id)
            if not waiting:
                del self._queued[session_id]

    async def _ahead(self, session_id: str, me: tuple[datetime, str] | None) -> RunRecord | None:
        """The oldest active run of the session submitted before ``me`` (``(created_at,
        id)``; ``None``: before a run not created yet), or None when ``me`` is next.

        A queued foreground run counts only while its task waits in this process: its
        client is attached to the server that took it, and one that died left it queued
        for good (a background run is durable: some worker runs it). Nor does a run this
        process no longer executes but could not mark finished (the store failed).
        """
        oldest: RunRecord | None = None
        cursor = None
        while True:
            page = await self.app.store.list_runs(
                session_id=session_id, status=sorted(ACTIVE), limit=100, cursor=cursor
            )
            for r in page.items:  # newest first
                if me is not None and (r.created_at, r.id) >= me:
                    continue
                if r.id not in self.active:
                    if r.status == "queued" and not r.metadata.get("background"):
                        continue  # a foreground run queued by another (or a dead) server
                    if r.status != "queued" and r.owner == self.app.instance_id:
                        continue  # ours, but its end could not be stored
                oldest = r
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        if me is None and oldest is None:
            self._queued.pop(session_id, None)  # nothing waits: the hot path skips the store
        return oldest

    async def _take_turn(
        self,
        session_id: str,
        run_id: str,
        created_at: datetime,
        *,
        patience: float | None = None,
    ) -> SessionLock | None:
        """The session's lock, once no run submitted before ``run_id`` is pending.

        Waits without holding the lock (runs ahead must get it), woken when a run of the
        session ends here, else polling the store (runs end on other replicas too).
        ``patience``: None after that many seconds with only queued runs ahead.
        """
        locks = self.app.locks
        me = (created_at, run_id)
        loop = asyncio.get_running_loop()
        delay, longest = _TURN_POLL
        stalled_since: float | None = None
        while True:
            ahead = await self._ahead(session_id, me)
            if ahead is None:
                lock: SessionLock | None = await locks.try_acquire(session_id)
                if lock is not None:
                    return lock
                # held a moment longer (a run committing its end, a newer run about to
                # step back): wait for it, then make sure no older run came back meanwhile
                lock = await locks.acquire(session_id, wait=True)
                try:
                    ahead = await self._ahead(session_id, me)
                except BaseException:
                    await lock.release()
                    raise
                if ahead is None:
                    return lock
                await lock.release()
            if patience is not None and ahead.status == "queued":
                stalled_since = loop.time() if stalled_since is None else stalled_since
                if loop.time() - stalled_since >= patience:
                    return None
            else:
                stalled_since = None
            await self._wait_turn_change(session_id, delay)
            delay = min(delay * 2, longest)

    async def _wait_turn_change(self, session_id: str, timeout: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._turn_waiters.setdefault(session_id, [])
        waiters.append(fut)
        try:
            await asyncio.wait([fut], timeout=timeout)
        finally:
            with contextlib.suppress(ValueError):
                waiters.remove(fut)
            if not waiters and self._turn_waiters.get(session_id) is waiters:
                del self._turn_waiters[session_id]

    def _turn_changed(self, session_id: str) -> None:
        """A run of the session ended or left the queue: the next one may start."""
        for fut in self._turn_waiters.pop(session_id, []):
            if not fut.done():
                fut.set_result(None)

    # -- the run body ------------------------------------------------------------------
    async def _execute(self, h: RunHandle) -> None:
        app = self.app
        status = "succeeded"
        try:
            if h.lock is None:
                self._emit(h, "run.queued", {"agent": h.spec.name, "status": "queued"})
                assert h.created_at is not None
                h.lock = await self._take_turn(h.session_id, h.id, h.created_at)
                self._forget_queued(h.session_id, h.id)
                self.by_session[h.session_id] = h
                h.status = "running"
                # its input was stored when it was queued: now it goes after the replies
                await app.store.resequence_run_messages(h.session_id, h.id)
                await app.store.set_run_status(h.id, "running", owner=app.instance_id)
            if h.cancel_reason is not None:
                raise asyncio.CancelledError
            await self._observe("run_started", h)
            started: dict[str, Any] = {"agent": h.spec.name, "status": "running"}
            if h.attempt > 1:
                started["attempt"] = h.attempt
            self._emit(h, "run.started", started)
            fresh = app.take_fresh(h.session_id)
            state = None if fresh else await app.store.load_state(h.session_id, h.spec.name)
            ctx = AgentContext(
                session_id=h.session_id,
                agent=h.spec.name,
                user_id=h.info.user_id,
                tenant_id=h.info.tenant_id,
                run_id=h.id,
                state=state,
                metadata=h.info.metadata,
            )
            h.agent = await app.build_agent(h.spec, ctx)
            stream = h.agent.reply(h.inputs if len(h.inputs) > 1 else h.inputs[0])
            if h.cancel_reason is not None:  # canceled while the agent was being built:
                h.agent.interrupt(h.cancel_reason)  # (an idle agent ignores an interrupt)
            interrupted = False
            async for event in stream:
                if type(event) is TextDelta:  # most of a stream: no dispatch, no await
                    self._partial_for(h, event.msg_id).text.append(event.delta)
                    self._emit_event(h, event)
                else:
                    if isinstance(event, Interrupted):
                        interrupted = True
                    await self._on_event(h, event)
                if h.unobserved:
                    await self._drain_observers(h)
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
                await asyncio.shield(self._flush(h))
            else:
                await asyncio.shield(self._finish(h, status))
        except Exception:
            log.exception("run %s: could not persist the end of the run", h.id)
        finally:
            if h.lock is not None:
                with contextlib.suppress(Exception):
                    await h.lock.release()
            self.active.pop(h.id, None)
            self._forget_queued(h.session_id, h.id)
            if self.by_session.get(h.session_id) is h:
                del self.by_session[h.session_id]
            self._turn_changed(h.session_id)
            h.done.set()
            h.notify()

    async def _on_event(self, h: RunHandle, event: Event) -> None:
        if isinstance(event, TextDelta):
            self._partial_for(h, event.msg_id).text.append(event.delta)
        elif isinstance(event, ThinkingDelta):
            self._partial_for(h, event.msg_id).thinking.append(event.delta)
        elif isinstance(event, ReplyStarted):
            self._partial_for(h, event.msg_id)
        elif isinstance(event, ToolCallFinished):
            part = self._partial_for(h, event.msg_id)
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
            await self._save_completed_turn(h)
            tool_msg = Msg(role="tool", name=event.name, content=[event.result])
            await self.app.store.save_message(h.session_id, tool_msg, run_id=h.id)
            self._emit_event(h, event)
            await self._flush(h)
            return
        elif isinstance(event, ApprovalRequired):
            h.approvals.add(event.call_id)
            h.status = "waiting_approval"
            await self.app.store.set_run_status(h.id, "waiting_approval")  # before it is seen
            self._emit_event(h, event)
            await self._flush(h)
            return
        elif isinstance(event, ApprovalResolved):
            h.approvals.discard(event.call_id)
            if not h.approvals:
                h.status = "running"
                await self.app.store.set_run_status(h.id, "running")
        elif isinstance(event, ReplyFinished):
            h.final = event.msg
            if event.usage is not None:
                h.usage = event.usage
            return  # announced by the terminal run.* event, which carries the message
        self._emit_event(h, event)

    def _partial_for(self, h: RunHandle, msg_id: str | None) -> PartialReply:
        part = h.partial
        if part is not None and (msg_id is None or msg_id == part.msg_id):
            part.dirty = True
            return part
        if part is not None and not part.empty:
            # a new message started: the previous one is complete; save it on the next flush
            h.completed.append(part.build())
        h.partial = PartialReply(msg_id or f"{h.id}-reply", h.spec.name)
        h.partial.dirty = True
        return h.partial

    async def _save_completed_turn(self, h: RunHandle) -> None:
        done, h.completed = h.completed, []
        part = h.partial
        if part is not None and not part.empty:
            done.append(part.build())
            h.partial = None
        for msg in done:
            await self.app.store.save_message(h.session_id, msg, run_id=h.id, partial=False)

    async def _finish(self, h: RunHandle, status: str) -> None:
        final = h.final
        part = h.partial
        if final is not None and part is not None and part.saved and final.id != part.msg_id:
            final = final.model_copy(update={"id": part.msg_id})  # replace the stored partial
        if final is None and part is not None and not part.empty:
            final = part.build()
        h.partial = None
        final_new = part is None or not part.saved  # no partial of it was flushed
        completed, h.completed = h.completed, []
        if final is not None and not (final.content or status == "succeeded"):
            final = None
        h.final = final
        state: tuple[str, dict[str, Any]] | None = None
        if h.agent is not None and status != "failed":
            try:
                state = (h.spec.name, h.agent.state_dict())
            except Exception:
                log.exception("run %s: could not save the agent state", h.id)
        data: dict[str, Any] = {"status": status}
        if h.usage is not None:
            data["usage"] = h.usage.model_dump(exclude_none=True)
        if final is not None:
            data["output"] = final.model_dump(mode="json", exclude_none=True)
        if status == "failed" and h.error is not None:
            data["code"], data["message"] = h.error
        if status == "canceled":
            data["reason"] = h.cancel_reason or "interrupted"
        h.status = status
        # Clients see the terminal event only once the run's end is committed and the
        # session is free again: a client reacting to it (GET the run, POST the next
        # message) never finds the run still running or the session still busy.
        self._emit(h, TERMINAL_EVENTS[status], data, hold=True)
        try:
            await self._store_end(h, status, final, completed, state, final_new)
        finally:
            if h.lock is not None:
                with contextlib.suppress(Exception):
                    await h.lock.release()
                h.lock = None
                if self.by_session.get(h.session_id) is h:
                    del self.by_session[h.session_id]
            self._turn_changed(h.session_id)
            self._show_held(h)
        await self._drain_observers(h)
        await self._observe("run_finished", h, status, h.usage)

    async def _store_end(
        self,
        h: RunHandle,
        status: str,
        final: Msg | None,
        completed: list[Msg],
        state: tuple[str, dict[str, Any]] | None,
        final_new: bool,
    ) -> None:
        app = self.app
        code, message = h.error if (status == "failed" and h.error) else (None, None)
        async with h.flush_lock:
            events, h.pending = coalesce(h.pending), []

            # Completed turns, events, final reply, agent state and status: one commit.
            def final_flush(state: Any) -> Any:
                return retry_transient(
                    lambda: app.store.flush_run(
                        h.id,
                        events,
                        final,
                        # an interrupted reply stays marked unfinished, as its metadata says
                        partial=final is not None and final.metadata.get("partial") is True,
                        session_id=h.session_id,
                        status=status,  # type: ignore[arg-type]
                        error_code=code,
                        error_message=message,
                        usage=h.usage,
                        model=h.model,
                        messages=completed,
                        state=state,
                        msg_new=final_new,
                        record=False,
                    )
                )

            try:
                try:
                    await final_flush(state)
                except InvalidStoreArgument:
                    if state is None:
                        raise
                    # e.g. a state that is not JSON: the run's result matters more
                    log.exception("run %s: could not save the agent state", h.id)
                    await final_flush(None)
            except RunFinished:
                # finished elsewhere meanwhile (e.g. a queued run canceled): keep the log
                await app.store.flush_run(
                    h.id,
                    events,
                    final,
                    partial=False,
                    session_id=h.session_id,
                    messages=completed,
                    state=state,
                )

    # -- events ------------------------------------------------------------------------
    def _emit_event(self, h: RunHandle, event: Event) -> None:
        self._emit(h, event.type, event_data(event))

    def _emit(self, h: RunHandle, type_: str, data: dict[str, Any], *, hold: bool = False) -> None:
        h.seq += 1
        env = {"seq": h.seq, "run_id": h.id, "session_id": h.session_id, **data, "type": type_}
        text = _DUMPS(env)
        h.pending.append((h.seq, type_, env, text))
        if hold:
            h.held.append(((h.seq, type_, text), env))
            return
        self._show(h, (h.seq, type_, text), env)

    def _show(self, h: RunHandle, envelope: Envelope, env: dict[str, Any]) -> None:
        h.events.append(envelope)
        h.notify()
        if self.app.bus_remote:
            self.app.publish_event(h.id, envelope[2])
        if self.app.observers:
            h.unobserved.append(env)

    def _show_held(self, h: RunHandle) -> None:
        held, h.held = h.held, []
        for envelope, env in held:
            self._show(h, envelope, env)

    async def _drain_observers(self, h: RunHandle) -> None:
        while h.unobserved:
            batch, h.unobserved = h.unobserved, []
            for env in batch:
                await self._observe("event", h, env)

    async def _observe(self, hook: str, h: RunHandle, *args: Any) -> None:
        for observer in self.app.observers:
            try:
                await getattr(observer, hook)(h.info, *args)
            except Exception:
                log.exception("observer %r failed in %s", observer, hook)

    async def _flush(self, h: RunHandle) -> None:
        async with h.flush_lock:
            pending, h.pending = h.pending, []
            events = coalesce(pending)
            part = h.partial if (h.partial is not None and h.partial.dirty) else None
            completed, h.completed = h.completed, []
            if not events and part is None and not completed:
                return
            try:
                reply = None
                if part is not None and not part.empty:
                    part.dirty = False
                    reply = part.build()
                # completed turns, the partial reply and the events: one transaction
                await self.app.store.flush_run(
                    h.id,
                    events,
                    reply,
                    partial=True,
                    session_id=h.session_id,
                    messages=completed,
                )
                if part is not None and reply is not None:
                    part.saved = True
            except Exception:
                # nothing was committed: all of it is retried on the next flush
                h.pending[:0] = pending
                h.completed[:0] = completed
                if part is not None and reply is not None:
                    part.dirty = True
                raise

    async def _flush_loop(self) -> None:
        interval = self.app.flush_interval
        ticks_per_keepalive = max(1, round(self.app.keepalive_interval / interval))
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
                        await self._flush(h)
                    except Exception:
                        log.exception("run %s: periodic flush failed", h.id)

    # -- following ---------------------------------------------------------------------
    def follow(self, run_id: str, after_seq: int = 0) -> AsyncGenerator[list[Envelope], None]:
        """Batches of events after ``after_seq`` until the run ends (replay, then live).

        Close it (``contextlib.aclosing``) when leaving early, e.g. after the terminal
        event: an async generator dropped unfinished is closed by asyncio's finalizer hook,
        a self-pipe wake-up and a task of its own per stream."""
        h = self.active.get(run_id)
        if h is not None:
            return self._follow_local(h, after_seq)
        return self._follow_stored(run_id, after_seq)

    async def _follow_local(
        self, h: RunHandle, after_seq: int
    ) -> AsyncGenerator[list[Envelope], None]:
        index = max(0, after_seq - h.first_seq + 1)
        loop = asyncio.get_running_loop()
        while True:
            if index < len(h.events):
                batch = h.events[index:]
                index += len(batch)
                yield batch
                continue
            if h.done.is_set():
                return
            waiter = loop.create_future()
            h.waiters.append(waiter)  # no await since the check above: no event is missed
            await waiter
            if index >= len(h.events) and not h.done.is_set():
                yield []  # a keepalive tick

    async def _follow_stored(
        self, run_id: str, after_seq: int
    ) -> AsyncGenerator[list[Envelope], None]:
        """Replay from the store, then follow the bus (Redis) or poll the store (no Redis).

        Subscribing before reading the store means no event falls between the two; a gap
        in the live sequence (events not yet flushed when we subscribed, or a bus
        overflow) is filled from the store after the next flush.
        """
        app = self.app
        sub = app.subscribe_run(run_id) if app.bus_remote else None
        try:
            if sub is not None:
                await sub.start()
            # a run started over: a replay from before its latest attempt begins at it
            attempt_from = (await app.store.get_run(run_id)).metadata.get("attempt_from", 1)
            last = max(after_seq, int(attempt_from) - 1)
            while True:
                stored = await app.store.list_events(run_id, after_seq=last)
                if stored:
                    batch = _wire(stored, last)
                    last = stored[-1].seq
                    yield batch
                    if stored[-1].type in _TERMINAL_TYPES:
                        return
                record = await app.store.get_run(run_id)
                if record.status in FINAL:
                    stored = await app.store.list_events(run_id, after_seq=last)
                    if stored:
                        yield _wire(stored, last)
                    elif (end := await self._lost_end(run_id, last)) is not None:
                        yield [end]
                    return
                if sub is None:
                    await asyncio.sleep(app.flush_interval)  # no bus: poll the store
                    continue
                while True:
                    try:
                        data = await sub.get(timeout=app.flush_interval * 8)
                    except (TimeoutError, RoostError):
                        break  # quiet or overflowed: check the store again
                    env = json.loads(data)
                    seq = int(env["seq"])
                    if seq <= last:
                        continue
                    if seq != last + 1:
                        await asyncio.sleep(app.flush_interval * 1.5)
                        break  # the missing events are in the store after the next flush
                    last = seq
                    yield [(seq, env["type"], data.decode() if isinstance(data, bytes) else data)]
                    if env["type"] in _TERMINAL_TYPES:
                        return
        finally:
            if sub is not None:
                await sub.aclose()

    async def _lost_end(self, run_id: str, last: int) -> Envelope | None:
        """The end of a run its server died in, for a client that saw more than was
        flushed: the ``run.failed`` written at restart follows the last durable event, so
        its number may be one the client already had; it is given again as ``last + 1``."""
        seq = await self.app.store.last_event_seq(run_id)
        if seq < 1 or seq > last:
            return None
        (event,) = await self.app.store.list_events(run_id, after_seq=seq - 1)
        if event.type not in _TERMINAL_TYPES or "lost_after" not in event.payload:
            return None
        envelope = {**event.payload, "seq": last + 1}
        return (last + 1, event.type, _DUMPS(envelope))

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
        record = await self.app.store.get_run(run_id)
        if record.status in FINAL:
            raise RunNotActive(f"run {run_id} already finished with status {record.status}")
        if record.status == "queued" and record.metadata.get("background"):
            await self.app.store.set_run_status(
                run_id, "canceled", error_code=None, error_message=None
            )
            if record.session_id is not None:
                self._turn_changed(record.session_id)
            return "canceled"
        await self.app.send_control(
            record.owner, {"op": "cancel", "run_id": run_id, "reason": reason}
        )
        return "canceling"

    async def cancel_session_runs(self, session_id: str, reason: str) -> None:
        h = self.by_session.get(session_id)
        if h is not None:
            self._interrupt_local(h, reason)
            return
        page = await self.app.store.list_runs(session_id=session_id, status=sorted(ACTIVE))
        for record in page.items:
            with contextlib.suppress(RoostError):
                await self.cancel(record.id, reason)

    async def decide(self, run_id: str, call_id: str, approve: bool, reason: str | None) -> None:
        h = self.active.get(run_id)
        if h is None:
            record = await self.app.store.get_run(run_id)
            if record.status in FINAL:
                raise RunNotActive(f"run {run_id} already finished with status {record.status}")
            await self.app.send_control(
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

    def get_active(self, run_id: str) -> RunHandle:
        h = self.active.get(run_id)
        if h is None:
            raise RunNotFound(f"no active run {run_id}")
        return h


_TERMINAL_TYPES = frozenset(TERMINAL_EVENTS.values())


def coalesce(events: Sequence[tuple[Any, ...]]) -> list[EventRow]:
    """Merge runs of consecutive text deltas of one message into one stored row.

    ``events`` are ``(seq, type, envelope)`` or :data:`Pending` (with the envelope's JSON,
    which a row of one event stores as it is). A merged row keeps the last ``seq`` (so
    ``after_seq`` queries still find it) and, under ``coalesced``, the first seq and each
    piece's length, so a replay can give back the exact original events — from any
    ``Last-Event-ID``, even one inside the run.
    """
    out: list[EventRow] = []
    group: list[tuple[Any, ...]] = []

    def single(item: tuple[Any, ...]) -> EventRow:
        return (item[0], item[1], JSONText(item[3]) if len(item) > 3 else item[2])

    def close() -> None:
        if len(group) == 1:
            out.append(single(group[0]))
        elif group:
            first, last = group[0][2], group[-1][2]
            merged = dict(last)
            merged["delta"] = "".join(g[2]["delta"] for g in group)
            merged["coalesced"] = {
                "from": first["seq"],
                "parts": [len(g[2]["delta"]) for g in group],
            }
            out.append((last["seq"], "text.delta", merged))
        group.clear()

    for item in events:
        env = item[2]
        if item[1] == "text.delta" and "coalesced" not in env:
            if group and (
                group[-1][2].get("msg_id") != env.get("msg_id")
                or group[-1][2]["seq"] + 1 != env["seq"]
            ):
                close()
            group.append(item)
        else:
            close()
            out.append(single(item))
    close()
    return out


def expand_stored(
    rows: Sequence[tuple[int, str, Mapping[str, Any]]], after_seq: int
) -> list[tuple[int, str, Mapping[str, Any]]]:
    """The original events of coalesced rows, those with ``seq > after_seq`` only."""
    out: list[tuple[int, str, Mapping[str, Any]]] = []
    for seq, type_, payload in rows:
        info = payload.get("coalesced")
        if not info:
            if seq > after_seq:
                out.append((seq, type_, payload))
            continue
        pos = 0
        text = payload["delta"]
        base = {k: v for k, v in payload.items() if k != "coalesced"}
        for i, size in enumerate(info["parts"]):
            piece_seq = int(info["from"]) + i
            if piece_seq > after_seq:
                out.append(
                    (piece_seq, type_, {**base, "seq": piece_seq, "delta": text[pos : pos + size]})
                )
            pos += size
    return out


def _wire(stored: list[Any], after_seq: int) -> list[Envelope]:
    rows = [(e.seq, e.type, e.payload) for e in stored]
    return [(seq, t, _DUMPS(p)) for seq, t, p in expand_stored(rows, after_seq)]
