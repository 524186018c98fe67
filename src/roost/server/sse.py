"""Server-sent events framing: ``id`` is the event's sequence number, ``data`` its JSON."""

from __future__ import annotations

KEEPALIVE = b": keepalive\n\n"


def sse_frame(seq: int | None, event_type: str, data: str) -> bytes:
    """One SSE frame; ``data`` must be single-line JSON (json.dumps never emits newlines)."""
    if seq is None:
        return f"event: {event_type}\ndata: {data}\n\n".encode()
    return f"id: {seq}\nevent: {event_type}\ndata: {data}\n\n".encode()


def sse_data(data: str) -> bytes:
    """A bare ``data:`` frame (the OpenAI-compatible stream uses no ids or event names)."""
    return f"data: {data}\n\n".encode()
