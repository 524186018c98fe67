"""Server-sent events parsing shared by the HTTP providers (OpenAI and Anthropic)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import NamedTuple


class ServerSentEvent(NamedTuple):
    """One event (a tuple: one is built per streamed chunk, 20+ per model reply)."""

    event: str
    data: str


async def iter_sse(lines: AsyncIterator[str]) -> AsyncIterator[ServerSentEvent]:
    """Yield events from SSE text lines (``event:``/``data:`` fields, blank-line framed).

    Comments (``: ping``) and ``id:``/``retry:`` fields are ignored; multi-line ``data``
    is joined with newlines as the SSE spec says.
    """
    event = ""
    data: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if line.startswith("data: "):  # nearly every line of a model stream
            data.append(line[6:])
            continue
        if not line:
            if data:
                yield ServerSentEvent(event or "message", "\n".join(data))
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
    if data:
        yield ServerSentEvent(event or "message", "\n".join(data))
