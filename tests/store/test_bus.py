from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from roost.store import BusOverflow, EventBus, LocalEventBus, RedisEventBus, bus_from_settings


@pytest.fixture(params=["local", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[EventBus]:
    if request.param == "local":
        impl: EventBus = LocalEventBus(max_pending=50)
    else:
        url = request.getfixturevalue("redis_url")
        impl = RedisEventBus(url, prefix=f"roost-test:{secrets.token_hex(4)}:", max_pending=50)
    yield impl
    await impl.aclose()


async def test_every_subscriber_gets_every_message_in_order(bus: EventBus) -> None:
    async with (
        bus.subscribe("run:1") as a,
        bus.subscribe("run:1") as b,
        bus.subscribe("run:2") as c,
    ):
        for i in range(10):
            await bus.publish("run:1", f"e{i}")
        await bus.publish("run:2", b"\x00binary")
        got_a = [await a.get(timeout=5) for _ in range(10)]
        got_b = [await b.get(timeout=5) for _ in range(10)]
        assert got_a == got_b == [f"e{i}".encode() for i in range(10)]
        assert await c.get(timeout=5) == b"\x00binary"
        assert bus.subscriber_count("run:1") == 2
    assert bus.subscriber_count("run:1") == 0


async def test_iteration_ends_when_subscription_closes(bus: EventBus) -> None:
    sub = bus.subscribe("run:it")
    await sub.start()
    received: list[bytes] = []

    async def consume() -> None:
        async for data in sub:
            received.append(data)

    task = asyncio.create_task(consume())
    await bus.publish("run:it", "one")
    await bus.publish("run:it", "two")
    for _ in range(100):
        if len(received) == 2:
            break
        await asyncio.sleep(0.02)
    await sub.aclose()
    await asyncio.wait_for(task, 5)
    assert received == [b"one", b"two"]


async def test_slow_subscriber_gets_overflow_not_unbounded_memory(bus: EventBus) -> None:
    async with bus.subscribe("run:slow", max_pending=5) as slow, bus.subscribe("run:slow") as ok:
        for i in range(8):
            await bus.publish("run:slow", str(i))
        assert [await ok.get(timeout=5) for _ in range(8)] == [str(i).encode() for i in range(8)]
        with pytest.raises(BusOverflow) as info:
            for _ in range(8):
                await slow.get(timeout=5)
        assert info.value.code == "bus_overflow"
        assert bus.subscriber_count("run:slow") == 1


async def test_redis_bus_fans_out_across_replicas(redis_url: str) -> None:
    prefix = f"roost-test:{secrets.token_hex(4)}:"
    replica_a = RedisEventBus(redis_url, prefix=prefix)
    replica_b = RedisEventBus(redis_url, prefix=prefix)
    try:
        async with replica_b.subscribe("run:x") as on_b1, replica_b.subscribe("run:x") as on_b2:
            receivers = await replica_a.publish("run:x", '{"seq": 0}')
            assert receivers == 1  # one Redis connection carries both local subscribers
            assert await on_b1.get(timeout=5) == b'{"seq": 0}'
            assert await on_b2.get(timeout=5) == b'{"seq": 0}'
        await asyncio.sleep(0.1)
        assert await replica_a.publish("run:x", "nobody listens") == 0
    finally:
        await replica_a.aclose()
        await replica_b.aclose()


async def test_factory_picks_backend_from_settings(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from roost.core import get_settings

    assert isinstance(bus_from_settings(), LocalEventBus)
    monkeypatch.setenv("ROOST_REDIS_URL", redis_url)
    get_settings.cache_clear()
    bus = bus_from_settings()
    assert isinstance(bus, RedisEventBus)
    await bus.aclose()


async def test_redis_connection_loss_makes_subscribers_resync(redis_url: str) -> None:
    from redis.asyncio import Redis

    name = f"roost-test-{secrets.token_hex(4)}"
    client = Redis.from_url(redis_url, client_name=name)
    admin = Redis.from_url(redis_url)
    bus = RedisEventBus(client=client, prefix=f"{name}:")
    try:
        async with bus.subscribe("run:1") as sub:
            await bus.publish("run:1", "before")
            assert await sub.get(timeout=5) == b"before"
            clients = await admin.client_list(_type="pubsub")
            ids = [c["id"] for c in clients if c.get("name") == name]
            assert len(ids) == 1  # one pub/sub connection for the whole bus
            await admin.execute_command("CLIENT", "KILL", "ID", ids[0])
            with pytest.raises(BusOverflow):  # messages may have been missed meanwhile
                await sub.get(timeout=10)
        async with bus.subscribe("run:1") as again:  # the bus reconnects
            await bus.publish("run:1", "after")
            assert await again.get(timeout=5) == b"after"
    finally:
        await bus.aclose()
        await client.aclose()
        await admin.aclose()
