"""Following a run: its events after a point, replayed and then live, until it ends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING

from roost.core import RoostError
from roost.server.engine.codec import TERMINAL_TYPES, Envelope, dumps, wire

if TYPE_CHECKING:
    from roost.server.engine.handle import RunHandle
    from roost.server.fanout import Fanout
    from roost.store import Store

FINAL = frozenset({"succeeded", "failed", "canceled"})


class Follower:
    """A run executing in this process is followed in its handle's event log; any other
    is replayed from the store, then followed through the bus (Redis) or by polling the
    store every ``poll_interval`` seconds (no Redis)."""

    def __init__(
        self,
        store: Store,
        fanout: Fanout,
        active: Mapping[str, RunHandle],
        *,
        poll_interval: float,
    ) -> None:
        self.store = store
        self.fanout = fanout
        self.active = active
        self.poll_interval = poll_interval

    def follow(self, run_id: str, after_seq: int = 0) -> AsyncGenerator[list[Envelope], None]:
        """Batches of events after ``after_seq`` until the run ends (replay, then live);
        an empty batch is a keepalive tick.

        Close it (``contextlib.aclosing``) when leaving early, e.g. after the terminal
        event: an async generator dropped unfinished is closed by asyncio's finalizer hook,
        a self-pipe wake-up and a task of its own per stream."""
        h = self.active.get(run_id)
        if h is not None:
            return self._local(h, after_seq)
        return self._stored(run_id, after_seq)

    async def _local(self, h: RunHandle, after_seq: int) -> AsyncGenerator[list[Envelope], None]:
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

    async def _stored(self, run_id: str, after_seq: int) -> AsyncGenerator[list[Envelope], None]:
        """Replay from the store, then follow the bus (Redis) or poll the store (no Redis).

        Subscribing before reading the store means no event falls between the two; a gap
        in the live sequence (events not yet flushed when we subscribed, or a bus
        overflow) is filled from the store after the next flush.
        """
        store = self.store
        interval = self.poll_interval
        sub = self.fanout.subscribe(run_id) if self.fanout.remote else None
        try:
            if sub is not None:
                await sub.start()
            # a run started over: a replay from before its latest attempt begins at it
            attempt_from = (await store.get_run(run_id)).metadata.get("attempt_from", 1)
            last = max(after_seq, int(attempt_from) - 1)
            while True:
                stored = await store.list_events(run_id, after_seq=last)
                if stored:
                    batch = wire(stored, last)
                    last = stored[-1].seq
                    yield batch
                    if stored[-1].type in TERMINAL_TYPES:
                        return
                record = await store.get_run(run_id)
                if record.status in FINAL:
                    stored = await store.list_events(run_id, after_seq=last)
                    if stored:
                        yield wire(stored, last)
                    elif (end := await self._lost_end(run_id, last)) is not None:
                        yield [end]
                    return
                if sub is None:
                    await asyncio.sleep(interval)  # no bus: poll the store
                    continue
                while True:
                    try:
                        data = await sub.get(timeout=interval * 8)
                    except (TimeoutError, RoostError):
                        break  # quiet or overflowed: check the store again
                    env = json.loads(data)
                    seq = int(env["seq"])
                    if seq <= last:
                        continue
                    if seq != last + 1:
                        await asyncio.sleep(interval * 1.5)
                        break  # the missing events are in the store after the next flush
                    last = seq
                    yield [(seq, env["type"], data.decode() if isinstance(data, bytes) else data)]
                    if env["type"] in TERMINAL_TYPES:
                        return
        finally:
            if sub is not None:
                await sub.aclose()

    async def _lost_end(self, run_id: str, last: int) -> Envelope | None:
        """The end of a run its server died in, for a client that saw more than was
        flushed: the ``run.failed`` written at restart follows the last durable event, so
        its number may be one the client already had; it is given again as ``last + 1``."""
        seq = await self.store.last_event_seq(run_id)
        if seq < 1 or seq > last:
            return None
        (event,) = await self.store.list_events(run_id, after_seq=seq - 1)
        if event.type not in TERMINAL_TYPES or "lost_after" not in event.payload:
            return None
        envelope = {**event.payload, "seq": last + 1}
        return (last + 1, event.type, dumps(envelope))
