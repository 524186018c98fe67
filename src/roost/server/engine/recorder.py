"""How a run's events are written: numbered, shown to followers here and elsewhere, passed
to the observers, and persisted in batches with the partial reply (decision 0061)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from roost.core import Event, Msg
from roost.core.retry import retry_transient
from roost.server.engine.codec import TERMINAL_EVENTS, Envelope, coalesce, dumps, event_data
from roost.store import InvalidStoreArgument, RunFinished

if TYPE_CHECKING:
    from roost.govern.audit.runs import RunAuditor
    from roost.server.engine.handle import RunHandle
    from roost.server.fanout import Fanout
    from roost.server.observer import RunObserver
    from roost.store import Store

log = logging.getLogger("roost.server.runs")


@dataclass
class RunEnd:
    """What the end of a run stores in one commit, besides its events and status."""

    final: Msg | None
    completed: list[Msg]
    state: tuple[str, dict[str, Any]] | None
    final_new: bool
    """No partial of ``final`` was flushed: it is inserted, not updated."""


class Recorder:
    def __init__(
        self,
        store: Store,
        fanout: Fanout,
        observers: list[RunObserver],
        auditor: RunAuditor | None = None,
    ) -> None:
        self.store = store
        self.fanout = fanout
        self.observers = observers
        self.auditor = auditor

    def _audit_body(self, entries: list[Any]) -> Any:
        """The entries' append, run in the transaction of the run's write."""
        if not entries or self.auditor is None:
            return None
        return self.auditor.body(entries)

    # -- events ------------------------------------------------------------------------
    def emit_event(self, h: RunHandle, event: Event) -> None:
        self.emit(h, event.type, event_data(event))

    def emit(self, h: RunHandle, type_: str, data: dict[str, Any], *, hold: bool = False) -> None:
        h.seq += 1
        env = {"seq": h.seq, "run_id": h.id, "session_id": h.session_id, **data, "type": type_}
        text = dumps(env)
        h.pending.append((h.seq, type_, env, text))
        if hold:
            h.held.append(((h.seq, type_, text), env))
            return
        self._show(h, (h.seq, type_, text), env)

    def _show(self, h: RunHandle, envelope: Envelope, env: dict[str, Any]) -> None:
        h.events.append(envelope)
        h.notify()
        if self.fanout.remote:
            self.fanout.publish(h.id, envelope[2])
        if self.observers:
            h.unobserved.append(env)

    def show_held(self, h: RunHandle) -> None:
        held, h.held = h.held, []
        for envelope, env in held:
            self._show(h, envelope, env)

    async def drain_observers(self, h: RunHandle) -> None:
        while h.unobserved:
            batch, h.unobserved = h.unobserved, []
            for env in batch:
                await self.observe("event", h, env)

    async def observe(self, hook: str, h: RunHandle, *args: Any) -> None:
        for observer in self.observers:
            try:
                await getattr(observer, hook)(h.info, *args)
            except Exception:
                log.exception("observer %r failed in %s", observer, hook)

    # -- persistence -------------------------------------------------------------------
    async def flush(self, h: RunHandle) -> None:
        """Store the pending events, the finished messages and the partial reply."""
        async with h.flush_lock:
            pending, h.pending = h.pending, []
            events = coalesce(pending)
            part = h.partial if (h.partial is not None and h.partial.dirty) else None
            completed, h.completed = h.completed, []
            audited, h.audit = h.audit, []
            if not events and part is None and not completed and not audited:
                return
            try:
                reply = None
                if part is not None and not part.empty:
                    part.dirty = False
                    reply = part.build()
                # completed turns, the partial reply and the events: one transaction
                await self.store.flush_run(
                    h.id,
                    events,
                    reply,
                    partial=True,
                    session_id=h.session_id,
                    messages=completed,
                    also=self._audit_body(audited),
                )
                if part is not None and reply is not None:
                    part.saved = True
            except Exception:
                # nothing was committed: all of it is retried on the next flush
                h.pending[:0] = pending
                h.completed[:0] = completed
                h.audit[:0] = audited
                if part is not None and reply is not None:
                    part.dirty = True
                raise

    async def save_completed_turn(self, h: RunHandle) -> None:
        done, h.completed = h.completed, []
        part = h.partial
        if part is not None and not part.empty:
            done.append(part.build())
            h.partial = None
        for msg in done:
            await self.store.save_message(h.session_id, msg, run_id=h.id, partial=False)

    def hold_end(self, h: RunHandle, status: str) -> RunEnd:
        """The run's final message and state, and its terminal event, emitted but held
        back (shown once the end is committed)."""
        final = h.final
        part = h.partial
        if final is not None and part is not None and part.saved and final.id != part.msg_id:
            final = final.model_copy(update={"id": part.msg_id})  # replace the stored partial
        if final is None and part is not None and not part.empty:
            final = part.build()
        h.partial = None
        end = RunEnd(final, h.completed, None, part is None or not part.saved)
        h.completed = []
        if final is not None and not (final.content or status == "succeeded"):
            end.final = None
        h.final = end.final
        if h.agent is not None and status != "failed":
            try:
                end.state = (h.spec.name, h.agent.state_dict())
            except Exception:
                log.exception("run %s: could not save the agent state", h.id)
        data: dict[str, Any] = {"status": status}
        if h.usage is not None:
            data["usage"] = h.usage.model_dump(exclude_none=True)
        if end.final is not None:
            data["output"] = end.final.model_dump(mode="json", exclude_none=True)
        if status == "failed" and h.error is not None:
            data["code"], data["message"] = h.error
        if status == "canceled":
            data["reason"] = h.cancel_reason or "interrupted"
        h.status = status
        self.emit(h, TERMINAL_EVENTS[status], data, hold=True)
        return end

    async def store_end(self, h: RunHandle, status: str, end: RunEnd) -> None:
        """Completed turns, events, final reply, agent state and status: one commit."""
        store = self.store
        final = end.final
        code, message = h.error if (status == "failed" and h.error) else (None, None)
        async with h.flush_lock:
            events, h.pending = coalesce(h.pending), []
            audited, h.audit = h.audit, []
            if self.auditor is not None:
                audited.append(
                    self.auditor.finished(h.info, h.actor, status, final, h.usage, h.model, h.error)
                )
            also = self._audit_body(audited)

            def final_flush(state: Any) -> Any:
                return retry_transient(
                    lambda: store.flush_run(
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
                        messages=end.completed,
                        state=state,
                        msg_new=end.final_new,
                        record=False,
                        also=also,
                    )
                )

            try:
                try:
                    await final_flush(end.state)
                except InvalidStoreArgument:
                    if end.state is None:
                        raise
                    # e.g. a state that is not JSON: the run's result matters more
                    log.exception("run %s: could not save the agent state", h.id)
                    await final_flush(None)
            except RunFinished:
                # finished elsewhere meanwhile (e.g. a queued run canceled): keep the log
                await store.flush_run(
                    h.id,
                    events,
                    final,
                    partial=False,
                    session_id=h.session_id,
                    messages=end.completed,
                    state=end.state,
                    also=also,
                )
