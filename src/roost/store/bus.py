"""Event bus: fan a run's stream events out to clients connected to any server replica.

``LocalEventBus`` (the default) delivers within one process. ``RedisEventBus`` uses Redis
pub/sub over ONE connection per process, whatever the number of subscribers, and fans
out locally. Pub/sub is fire-and-forget: the store (``run_events``) is the durable
record and the bus only carries live updates. A subscriber that falls more than
``max_pending`` messages behind, or that may have missed messages while Redis was
unreachable, gets ``BusOverflow`` and should resync with ``Store.list_events(after_seq=)``.

Usage::

    async with bus.subscribe(f"run:{run_id}") as sub:   # subscribed once entered
        async for data in sub:                          # bytes
            ...
    await bus.publish(f"run:{run_id}", json_bytes)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from roost.core.settings import Settings, get_settings
from roost.store._redis import redis_client, redis_down
from roost.store.errors import BusOverflow, InvalidStoreArgument, StoreUnavailable

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

_CLOSED = object()
_OVERFLOW = object()


class Subscription:
    """Messages of one channel, as ``bytes``; an async iterator and context manager."""

    def __init__(self, bus: EventBus, channel: str, max_pending: int) -> None:
        self.channel = channel
        self._bus = bus
        self._queue: asyncio.Queue[Any] = asyncio.Queue(max_pending + 1)
        self._max_pending = max_pending
        self._started = False
        self._closed = False

    async def start(self) -> None:
        """Subscribe now (entering the ``async with`` block does it); messages
        published after this returns are delivered."""
        if not self._started:
            self._started = True
            await self._bus._attach(self)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            if self._started:
                await self._bus._detach(self)
            self._put_final(_CLOSED)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        if not self._started:
            await self.start()
        item = await self._queue.get()
        if item is _CLOSED:
            self._put_final(_CLOSED)
            raise StopAsyncIteration
        if item is _OVERFLOW:
            raise BusOverflow(
                f"subscriber of {self.channel!r} missed messages",
                hint="reload what you missed from the store, then subscribe again",
            )
        return item  # type: ignore[no-any-return]

    async def get(self, timeout: float | None = None) -> bytes:
        """The next message, waiting at most ``timeout`` seconds (``TimeoutError``)."""
        return await asyncio.wait_for(self.__anext__(), timeout)

    # called by the bus, in the event loop
    def _deliver(self, data: bytes) -> None:
        if self._closed:
            return
        if self._queue.qsize() >= self._max_pending:
            self._overflow()
            return
        self._queue.put_nowait(data)

    def _overflow(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._bus._dropped(self)
        self._put_final(_OVERFLOW)

    def _put_final(self, marker: object) -> None:
        while self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(marker)


class EventBus(ABC):
    """Publish/subscribe by channel name."""

    def __init__(self, *, max_pending: int = 1000) -> None:
        if max_pending < 1:
            raise InvalidStoreArgument(f"max_pending must be >= 1, got {max_pending}")
        self.max_pending = max_pending
        self._subs: dict[str, set[Subscription]] = {}

    @abstractmethod
    async def publish(self, channel: str, data: bytes | str) -> int:
        """Send ``data`` to every current subscriber of ``channel``; returns how many
        receivers got it (local subscriptions, or Redis connections)."""

    def subscribe(self, channel: str, *, max_pending: int | None = None) -> Subscription:
        """A subscription to ``channel``; subscribed when entered or first iterated."""
        if not channel:
            raise InvalidStoreArgument("channel name must not be empty")
        return Subscription(self, channel, max_pending or self.max_pending)

    def subscriber_count(self, channel: str) -> int:
        """Subscriptions to ``channel`` in this process."""
        return len(self._subs.get(channel, ()))

    async def aclose(self) -> None:
        """Close every subscription and free the backend."""
        for subs in list(self._subs.values()):
            for sub in list(subs):
                await sub.aclose()
        self._subs.clear()

    def _fan_out(self, channel: str, data: bytes) -> int:
        subs = self._subs.get(channel)
        if not subs:
            return 0
        for sub in list(subs):
            sub._deliver(data)
        return len(subs)

    async def _attach(self, sub: Subscription) -> None:
        self._subs.setdefault(sub.channel, set()).add(sub)

    async def _detach(self, sub: Subscription) -> None:
        self._detach_now(sub)

    def _dropped(self, sub: Subscription) -> None:
        """A subscriber overflowed (called synchronously, from the delivery path)."""
        self._detach_now(sub)

    def _detach_now(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.channel)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.channel]


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


class LocalEventBus(EventBus):
    """In-process bus (the embedded default)."""

    async def publish(self, channel: str, data: bytes | str) -> int:
        return self._fan_out(channel, _as_bytes(data))


class RedisEventBus(EventBus):
    """Redis pub/sub bus shared by every replica; one pub/sub connection per process."""

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Redis | None = None,
        prefix: str = "roost:",
        max_pending: int = 1000,
    ) -> None:
        super().__init__(max_pending=max_pending)
        self._redis, self._owns_client = redis_client(url, client, "RedisEventBus")
        self.prefix = prefix
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._confirm: dict[str, asyncio.Event] = {}
        self._ops = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def publish(self, channel: str, data: bytes | str) -> int:
        try:
            return int(await self._redis.publish(self.prefix + channel, _as_bytes(data)))
        except Exception as exc:
            raise redis_down(exc) from exc

    async def _attach(self, sub: Subscription) -> None:
        async with self._ops:
            first = sub.channel not in self._subs
            await super()._attach(sub)
            if not first:
                return
            name = self.prefix + sub.channel
            confirmed = self._confirm[name] = asyncio.Event()
            try:
                if self._pubsub is None:
                    self._pubsub = self._redis.pubsub()
                await self._pubsub.subscribe(name)
                if self._reader is None or self._reader.done():
                    self._reader = asyncio.create_task(self._read(), name="redis-bus-reader")
                await asyncio.wait_for(confirmed.wait(), 10.0)
            except Exception as exc:
                self._detach_now(sub)
                raise StoreUnavailable(f"Redis subscribe to {name!r} failed: {exc}") from exc
            finally:
                self._confirm.pop(name, None)

    async def _detach(self, sub: Subscription) -> None:
        async with self._ops:
            self._detach_now(sub)
            await self._unsubscribe_if_unused(sub.channel)

    def _dropped(self, sub: Subscription) -> None:
        super()._dropped(sub)
        if sub.channel not in self._subs and self._pubsub is not None:
            # Runs synchronously inside the reader: unsubscribe from a task.
            task = asyncio.get_running_loop().create_task(self._lazy_unsubscribe(sub.channel))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _lazy_unsubscribe(self, channel: str) -> None:
        async with self._ops:
            await self._unsubscribe_if_unused(channel)

    async def _unsubscribe_if_unused(self, channel: str) -> None:
        if channel in self._subs or self._pubsub is None:
            return
        name = self.prefix + channel
        try:
            await self._pubsub.unsubscribe(name)
        except Exception as exc:
            log.warning("Redis unsubscribe from %s failed: %s", name, exc)

    async def _read(self) -> None:
        pubsub = self._pubsub
        had_error = False
        while True:
            try:
                msg = await pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not had_error:
                    log.warning("Redis bus connection lost: %s", exc)
                    had_error = True
                    self._all_overflow()
                await asyncio.sleep(0.5)
                continue
            if had_error:
                had_error = False
                log.info("Redis bus connection restored")
            if msg is None:
                continue
            kind = msg.get("type")
            channel = msg.get("channel")
            name = channel.decode() if isinstance(channel, bytes) else str(channel)
            if kind == "message":
                if name.startswith(self.prefix):
                    self._fan_out(name[len(self.prefix) :], msg["data"])
            elif kind == "subscribe":
                event = self._confirm.get(name)
                if event is not None:
                    event.set()

    def _all_overflow(self) -> None:
        """Messages may have been lost while disconnected: make subscribers resync."""
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub._overflow()

    async def aclose(self) -> None:
        await super().aclose()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = None
        if self._owns_client:
            await self._redis.aclose()


def bus_from_settings(settings: Settings | None = None) -> EventBus:
    """Redis pub/sub when ``ROOST_REDIS_URL`` is set, else the in-process bus."""
    settings = settings or get_settings()
    if settings.redis_url:
        return RedisEventBus(settings.redis_url)
    return LocalEventBus()
