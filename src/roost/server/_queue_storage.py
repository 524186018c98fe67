"""huey's Redis storage made reliable: a message a replica took is not lost if it dies.

huey's ``RedisStorage`` pops a message (``BRPOP``), so work taken by a replica that is
then killed is gone. Here a worker *moves* the message (``BLMOVE``) to its replica's
in-flight list and removes it only once the work is settled. Each replica holds a lease
key (``SET … PX ttl``, renewed every ttl/3 by a thread); when it expires the replica is
dead, and any live replica moves its in-flight messages back to the head of the queue
with one Lua script, so exactly one replica gets them (decision 0060, amended).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from huey.storage import RedisStorage

log = logging.getLogger("roost.server.tasks")

# KEYS: lease, in-flight list, queue, consumers set. ARGV: consumer id, "1" to force.
# In-flight lists grow on the left, the queue is taken from the right: pushing the
# in-flight items newest first on the right puts the oldest next in line.
_RECLAIM = """
if ARGV[2] ~= '1' and redis.call('exists', KEYS[1]) == 1 then return {} end
local items = redis.call('lrange', KEYS[2], 0, -1)
for i = 1, #items do redis.call('rpush', KEYS[3], items[i]) end
redis.call('del', KEYS[2])
redis.call('srem', KEYS[4], ARGV[1])
if ARGV[2] == '1' then redis.call('del', KEYS[1]) end
return items
"""
# KEYS: in-flight list, queue. ARGV: message, "head" or "tail". Only a message still in
# our in-flight list goes back (a replica may have reclaimed it meanwhile).
_PUT_BACK = """
if redis.call('lrem', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
if ARGV[2] == 'head' then redis.call('rpush', KEYS[2], ARGV[1])
else redis.call('lpush', KEYS[2], ARGV[1]) end
return 1
"""


class LeasedRedisStorage(RedisStorage):  # type: ignore[misc]
    """``RedisStorage`` whose taken messages stay in an in-flight list until settled."""

    def __init__(self, name: str = "huey", *, consumer_id: str, lease_ttl: float, **kw: Any):
        super().__init__(name, **kw)
        prefix = f"roost.queue.{self.name}."
        self.consumer_id = consumer_id
        self.lease_ttl = lease_ttl
        self.consumers_key = prefix + "consumers"
        self.inflight_key = self._inflight_key(consumer_id)
        self.lease_key = self._lease_key(consumer_id)
        self._reclaim = self.conn.register_script(_RECLAIM)
        self._put_back = self.conn.register_script(_PUT_BACK)
        self._local = threading.local()
        self.renewed_at = 0.0
        """``time.monotonic()`` of the last successful lease renewal."""

    def _inflight_key(self, consumer: str) -> str:
        return f"roost.queue.{self.name}.inflight.{consumer}"

    def _lease_key(self, consumer: str) -> str:
        return f"roost.queue.{self.name}.lease.{consumer}"

    # -- the lease ---------------------------------------------------------------------
    def renew(self) -> None:
        """Extend this replica's lease (and list it among the consumers); raises if Redis
        cannot be reached."""
        started = time.monotonic()
        pipe = self.conn.pipeline(transaction=True)
        pipe.set(self.lease_key, b"1", px=int(self.lease_ttl * 1000))
        pipe.sadd(self.consumers_key, self.consumer_id)
        pipe.execute()
        self.renewed_at = started

    def lease_age(self) -> float:
        return time.monotonic() - self.renewed_at

    # -- taking and settling messages --------------------------------------------------
    def dequeue(self) -> bytes | None:
        previous = getattr(self._local, "data", None)
        if previous is not None:
            # huey did not hand it to a Roost task (revoked, expired, undecodable): done
            self._local.data = None
            self.ack(previous)
        if self.lease_age() > self.lease_ttl / 2:
            time.sleep(0.2)  # our lease may lapse: take nothing a replica could reclaim
            return None
        data: bytes | None = self.conn.blmove(
            self.queue_key, self.inflight_key, self.read_timeout, "RIGHT", "LEFT"
        )
        self._local.data = data
        return data

    def current(self) -> bytes | None:
        """The message the calling worker thread is executing."""
        data: bytes | None = getattr(self._local, "data", None)
        return data

    def settled(self) -> None:
        """The calling worker thread has acked, put back or kept its message."""
        self._local.data = None

    def ack(self, data: bytes) -> None:
        self.conn.lrem(self.inflight_key, 1, data)

    def put_back(self, data: bytes, *, head: bool) -> bool:
        """Move ``data`` from our in-flight list back to the queue (next in line with
        ``head``); False when it is no longer ours."""
        moved = self._put_back(
            keys=[self.inflight_key, self.queue_key], args=[data, "head" if head else "tail"]
        )
        return bool(moved)

    # -- reclaiming --------------------------------------------------------------------
    def reclaim_dead(self) -> dict[str, list[bytes]]:
        """Move the in-flight messages of every consumer whose lease expired back to the
        queue; ``{consumer id: messages}`` of those this call moved."""
        out: dict[str, list[bytes]] = {}
        for raw in self.conn.smembers(self.consumers_key):
            consumer = raw.decode() if isinstance(raw, bytes) else str(raw)
            if consumer == self.consumer_id:
                continue
            items = self._reclaim_one(consumer, force=False)
            if items:
                out[consumer] = items
        return out

    def release_own(self) -> list[bytes]:
        """At a graceful stop: our in-flight messages back to the queue, our lease gone."""
        return self._reclaim_one(self.consumer_id, force=True)

    def _reclaim_one(self, consumer: str, *, force: bool) -> list[bytes]:
        keys = [
            self._lease_key(consumer),
            self._inflight_key(consumer),
            self.queue_key,
            self.consumers_key,
        ]
        items = self._reclaim(keys=keys, args=[consumer, "1" if force else "0"])
        return list(items or [])
