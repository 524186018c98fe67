"""Run events: a run's stream, one row per event in ``seq`` order (what a client that
reconnects with ``Last-Event-ID`` is replayed from)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from roost.core.jsontext import JSONText
from roost.store import rows, sealing
from roost.store import statements as sql
from roost.store.backend import Integrity, Part, Row, StoreBackend, Tx, in_list, scalar
from roost.store.errors import EventSeqConflict, MessageIdConflict, RunNotFound
from roost.store.records import EventRecord

EventRow = tuple[int, str, Mapping[str, Any] | JSONText]
"""``(seq, type, payload)``: the payload as a mapping, or already encoded as JSON text."""

PRUNE_BATCH = 500
"""Runs whose events one pruning transaction deletes (keeps the write lock short)."""
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


def insert(
    tx: Tx,
    run_id: str,
    events: Sequence[EventRow],
    at: datetime,
    sealer: sealing.ContentSealer | None = None,
) -> None:
    for _, type_, _ in events:
        rows.check_len(type_, 64, "event type")
    if sealer is not None:
        events = [
            (seq, type_, sealing.seal_json(sealer, tx, "run_events", payload, run_id=run_id))
            for seq, type_, payload in events
        ]
    tx.many(
        sql.INSERT_EVENT,
        [
            {
                "run_id": run_id,
                "seq": seq,
                "type": type_,
                # the event's wire JSON, written as it is (not decoded and encoded again)
                "payload": payload if isinstance(payload, JSONText) else dict(payload),
                "created_at": at,
            }
            for seq, type_, payload in events
        ],
    )


def last_seq(tx: Tx, run_id: str) -> int:
    value = scalar(tx, sql.LAST_EVENT_SEQ, {"run_id": run_id})
    return int(value) if value is not None else -1


def require_run(tx: Tx, run_id: str) -> None:
    if not tx.rows(sql.RUN_EXISTS, {"id": run_id}):
        raise RunNotFound(f"run {run_id!r} does not exist")


async def event_error(backend: StoreBackend, run_id: str, events: Sequence[EventRow]) -> Exception:
    """What an integrity error of a batch of events (and messages) was about."""
    seqs = [e[0] for e in events]

    def body(tx: Tx) -> Exception:
        require_run(tx, run_id)
        if not seqs or last_seq(tx, run_id) < min(seqs):
            return MessageIdConflict(
                "a message with this id already belongs to another session",
                hint="give every Msg a fresh id (the default)",
            )
        return EventSeqConflict(
            f"run {run_id!r} already has events with some of seq {min(seqs)}..{max(seqs)}",
            hint="resume numbering after last_event_seq()",
        )

    try:
        return await backend.read(body)
    except RunNotFound as missing:
        return missing


Mark = tuple[datetime, str]
"""Where pruning stands: the ``(finished_at, id)`` of the last run it went through."""


def _prune_batch(tx: Tx, before: datetime, mark: Mark) -> tuple[int, Mark | None]:
    """Delete the events of the next :data:`PRUNE_BATCH` finished runs after ``mark``;
    ``(events deleted, the new mark or None when done)``."""
    found = tx.rows(
        sql.FINISHED_RUNS,
        {"before": before, "after_at": mark[0], "after_id": mark[1], "limit": PRUNE_BATCH},
    )
    if not found:
        return 0, None
    params: dict[str, Any] = {}
    ids = in_list("id", [r["id"] for r in found], params)
    deleted = tx.run(f"DELETE FROM run_events WHERE run_id IN {ids}", params)
    return deleted, (rows.created(found[-1]["finished_at"]), found[-1]["id"])


class Events(Part):
    async def append_events(self, run_id: str, events: Sequence[EventRow]) -> None:
        """Store a batch of ``(seq, type, payload)`` stream events of a run at once."""
        if not events:
            return
        try:
            await self._backend.write(
                lambda tx: insert(tx, run_id, events, rows.now(), self._sealer)
            )
        except Integrity as exc:
            raise await event_error(self._backend, run_id, events) from exc

    async def list_events(
        self, run_id: str, *, after_seq: int = -1, limit: int | None = None
    ) -> list[EventRecord]:
        """Events of a run with ``seq > after_seq``, in order (for SSE resume)."""
        n = rows.check_limit(limit, allow_none=True)
        params: dict[str, Any] = {"run_id": run_id, "after": after_seq}
        stmt = sql.LIST_EVENTS
        if n is not None:
            stmt += " LIMIT :limit"
            params["limit"] = n
        sealer = self._sealer

        def body(tx: Tx) -> list[Row]:
            found = tx.rows(stmt, params)
            if not found:
                require_run(tx, run_id)
            return sealing.open_rows(sealer, tx, "run_events", found, "payload")

        return [rows.event(r) for r in await self._backend.read(body)]

    async def last_event_seq(self, run_id: str) -> int:
        """The highest stored event ``seq`` of the run, ``-1`` when it has none."""
        return await self._backend.read(lambda tx: last_seq(tx, run_id))

    async def prune_run_events(
        self, *, finished_before: datetime, finished_after: datetime | None = None
    ) -> int:
        """Delete the stream events of runs that finished before ``finished_before`` (and
        not before ``finished_after``: what an earlier pass pruned already).

        Events are the replay log of a stream (one per token delta): worth keeping while
        clients may resume, not forever. Messages, runs and usage are kept. Runs are
        taken :data:`PRUNE_BATCH` at a time, each batch one short transaction. Returns
        how many events were deleted.
        """
        total = 0
        mark: Mark | None = (finished_after or _EPOCH, "")
        while mark is not None:
            deleted, mark = await self._backend.write(
                functools.partial(_prune_batch, before=finished_before, mark=mark)
            )
            total += deleted
        return total
