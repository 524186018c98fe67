"""The per-key rate limit on Redis: one limit for all replicas, atomic under concurrency,
and a Redis outage degrades to the per-replica limit instead of failing requests."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from server_support import ADMIN_KEY
from tcp_proxy import TcpProxy

from roost.core import Msg
from roost.server import AgentApp, AgentContext
from roost.server.ratelimit import LocalRateLimiter, RedisRateLimiter


def make_app(name: str, redis_url: str, rate_limit: str) -> AgentApp:
    app = AgentApp(name, admin_key=ADMIN_KEY, redis_url=redis_url, rate_limit=rate_limit)

    @app.agent
    async def echo(msg: Msg, ctx: AgentContext) -> Any:
        yield msg.text

    return app


@pytest.fixture
def proxy(redis_url: str) -> Iterator[TcpProxy]:
    p = TcpProxy(redis_url)
    yield p
    p.close()


def test_two_apps_on_one_redis_enforce_one_combined_limit(served, redis_url, roost_home):
    name = "rl" + uuid.uuid4().hex[:10]  # its own buckets on the shared Redis
    a = served(make_app(name, redis_url, "5/minute"))
    b = served(make_app(name, redis_url, "5/minute"))
    with a.client() as ca, b.client() as cb:
        made = ca.post("/v1/keys", json={"name": "u", "role": "user"})
        assert made.status_code == 201
        codes = [(cb if i % 2 else ca).get("/v1/sessions").status_code for i in range(4)]
        assert codes == [200, 200, 200, 200]  # 1 + 4 = the 5 of the minute, across both
        for c in (ca, cb):
            r = c.get("/v1/sessions")
            assert r.status_code == 429
            assert r.json()["error"]["code"] == "rate_limited"
            assert int(r.headers["retry-after"]) >= 1
        with b.client(key=made.json()["key"]) as user:  # another key, its own bucket
            assert user.get("/v1/sessions").status_code == 200


async def test_concurrent_checks_on_two_limiters_allow_exactly_the_limit(redis_url):
    name = "rl" + uuid.uuid4().hex[:10]
    one = RedisRateLimiter("10/minute", redis_url, namespace=name)
    two = RedisRateLimiter("10/minute", redis_url, namespace=name)
    try:
        waits = await asyncio.gather(*(lim.check("k") for lim in [one, two] * 15))
        assert sum(1 for w in waits if w == 0) == 10
        assert all(w >= 1 for w in waits if w)
        assert await one.check("other") == 0
        ttl = await one._redis.pttl(one.prefix + "k")
        assert 0 < ttl <= 60_000  # the bucket expires once it would be full again
    finally:
        await one.aclose()
        await two.aclose()


async def test_redis_bucket_refills_like_the_local_one(redis_url):
    limiter = RedisRateLimiter("2/second", redis_url, namespace="rl" + uuid.uuid4().hex[:10])
    local = LocalRateLimiter("2/second")
    try:
        assert [await limiter.check("k") for _ in range(3)] == [0, 0, 1]
        assert [await local.check("k") for _ in range(3)] == [0, 0, 1]
        await asyncio.sleep(0.6)  # > one interval (0.5 s): one request's worth came back
        assert await limiter.check("k") == 0
        assert await local.check("k") == 0
    finally:
        await limiter.aclose()


async def test_redis_down_falls_back_to_the_local_bucket_and_comes_back(proxy, caplog):
    caplog.set_level(logging.WARNING, logger="roost.server.ratelimit")
    name = "rl" + uuid.uuid4().hex[:10]
    limiter = RedisRateLimiter("3/minute", proxy.url, namespace=name, retry_after=0.2)
    try:
        assert await limiter.check("k") == 0  # shared bucket: 1 of 3 used
        proxy.cut()
        # the local bucket answers: 3 more allowed in this process, then limited
        assert [await limiter.check("k") for _ in range(4)][:3] == [0, 0, 0]
        assert await limiter.check("k") >= 1
        warnings = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
        assert len(warnings) == 1  # once, not once per request
        proxy.restore()
        await asyncio.sleep(0.3)  # past retry_after: Redis is asked again
        assert await limiter.check("k") == 0  # shared bucket: 2 of 3
        assert await limiter.check("k") == 0  # 3 of 3
        assert await limiter.check("k") >= 1
    finally:
        await limiter.aclose()


async def test_a_refused_key_is_refused_again_without_asking_redis(proxy):
    name = "rl" + uuid.uuid4().hex[:10]
    limiter = RedisRateLimiter("1/minute", proxy.url, namespace=name)
    try:
        assert await limiter.check("k") == 0
        assert await limiter.check("k") >= 1  # Redis: about a minute to wait
        proxy.cut()
        # answered from what Redis said: the local bucket (still full) would have allowed it
        assert 1 <= await limiter.check("k") <= 60
        assert await limiter.check("other") == 0  # others: Redis is down, local bucket
    finally:
        await limiter.aclose()


def test_api_stays_up_when_redis_goes_away_mid_traffic(served, proxy, roost_home, caplog):
    caplog.set_level(logging.WARNING, logger="roost.server.ratelimit")
    name = "rl" + uuid.uuid4().hex[:10]
    s = served(make_app(name, proxy.url, "4/minute"))
    with s.client() as c:
        assert c.get("/v1/sessions").status_code == 200
        proxy.cut()
        codes = [c.get("/v1/sessions").status_code for _ in range(5)]
        assert codes == [200, 200, 200, 200, 429]  # served, limited per replica
        proxy.restore()
        time.sleep(2.5)  # the limiter tries Redis again 2 s after a failure
        codes = [c.get("/v1/sessions").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]  # the shared bucket had 1 of 4 used
    assert any("Redis unreachable" in r.getMessage() for r in caplog.records)
