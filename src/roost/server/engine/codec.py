"""Events on the wire and in the store: the envelope, coalesced text deltas, replay.

Every event of a run is an envelope ``{"seq", "run_id", "session_id", **fields,
"type"}`` encoded once (:func:`dumps`) for the stream, the bus and the store alike.
Consecutive text deltas of one message are stored as one row and replayed exactly
(decision 0062).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from roost.core import (
    ApprovalResolved,
    ErrorEvent,
    Event,
    Interrupted,
    ReplyStarted,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStarted,
    ToolProgress,
    jsontext,
)
from roost.core.jsontext import JSONText

Envelope = tuple[int, str, str]
"""``(seq, type, json)`` — the event as it goes on the wire."""
Pending = tuple[int, str, dict[str, Any], str]
"""``(seq, type, envelope, json)`` — an event not yet stored."""
EventRow = tuple[int, str, Any]
"""``(seq, type, payload)`` — a row for ``Store.flush_run`` (a payload may be JSON text)."""

TERMINAL_EVENTS = {"succeeded": "run.completed", "failed": "run.failed", "canceled": "run.canceled"}
"""The event that ends a run with each final status."""
TERMINAL_TYPES = frozenset(TERMINAL_EVENTS.values())

dumps = jsontext.dumps

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


def wire(stored: Sequence[Any], after_seq: int) -> list[Envelope]:
    """Stored event records as the envelopes a stream sends, those after ``after_seq``."""
    rows = [(e.seq, e.type, e.payload) for e in stored]
    return [(seq, t, dumps(p)) for seq, t, p in expand_stored(rows, after_seq)]
