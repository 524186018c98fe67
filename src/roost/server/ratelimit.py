"""Per-key rate limiting: one token bucket per API key, shared by all replicas via Redis.

With Redis configured (``redis_url`` / ``ROOST_REDIS_URL``), the bucket of a key lives in
Redis and one Lua script (GCRA, on Redis's clock) checks and updates it atomically, so N
replicas enforce one combined limit. Without Redis each process keeps its buckets in
memory and N replicas allow up to N times the limit (decision 0063). If Redis cannot be
reached, the in-process bucket takes over (the limit is per replica again) and a warning
is logged at most once a minute: losing Redis must not take the API down (decision 0099).
"""

from __future__ import annotations

import logging
import math
import re
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from roost.core import ConfigError

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("roost.server.ratelimit")

_PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)s?\s*$")

# GCRA: the key holds the "theoretical arrival time" (µs, Redis clock) of the next request.
# A request is allowed while that time is at most one period ahead of now (a burst of
# `limit`), which is the token bucket of LocalRateLimiter. The key expires once the
# bucket would be full again. Returns 0 (allowed) or the µs to wait.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - period - now
if wait > 0 then return math.ceil(wait) end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat),
           'PX', math.max(1, math.ceil((new_tat - now) / 1000)))
return 0
"""


def parse_rate(spec: str) -> tuple[int, float]:
    """``"60/minute"`` → ``(60, 60.0)``: requests allowed per period in seconds."""
    match = _SPEC.match(spec)
    if not match or int(match.group(1)) <= 0:
        raise ConfigError(
            f"invalid rate limit {spec!r}",
            hint='write "N/second", "N/minute", "N/hour" or "N/day" with N > 0, or None',
        )
    return int(match.group(1)), _PERIODS[match.group(2)]


class RateLimiter(ABC):
    """Token buckets keyed by API key id; ``check`` returns seconds to wait, 0 if allowed."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.limit, self.period = parse_rate(spec)
        self.rate = self.limit / self.period

    @abstractmethod
    async def check(self, key: str) -> float:
        """Take one request from ``key``'s bucket: 0 if allowed, else whole seconds (≥ 1)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to free locally
        """Free the backend's resources (Redis connections)."""


class LocalRateLimiter(RateLimiter):
    """The buckets of this process (bounded memory): the embedded default."""

    def __init__(self, spec: str, max_keys: int = 100_000) -> None:
        super().__init__(spec)
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    async def check(self, key: str) -> float:
        return self.check_now(key)

    def check_now(self, key: str) -> float:
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (float(self.limit), now))
        tokens = min(float(self.limit), tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            if len(self._buckets) >= self.max_keys and key not in self._buckets:
                self._buckets.clear()  # bounded memory; a reset only ever lets traffic through
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return max(1.0, math.ceil((1.0 - tokens) / self.rate))


class FailureLimiter:
    """Failed authentications per client address, in this process: a token bucket that
    only failures drain. While it is empty, the address's keys that are not known to be
    valid are refused (429) without being looked up, so guessing keys costs the guesser
    time and the database nothing; keys in use (cached as valid) keep working."""

    def __init__(self, spec: str, max_addresses: int = 100_000) -> None:
        self.spec = spec
        self.limit, period = parse_rate(spec)
        self.rate = self.limit / period
        self.max_addresses = max_addresses
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _tokens(self, address: str, now: float) -> float:
        tokens, last = self._buckets.get(address, (float(self.limit), now))
        return min(float(self.limit), tokens + (now - last) * self.rate)

    def wait(self, address: str) -> float:
        """0 while ``address`` may try a key, else whole seconds until it may again."""
        tokens = self._tokens(address, time.monotonic())
        return 0.0 if tokens >= 1.0 else max(1.0, math.ceil((1.0 - tokens) / self.rate))

    def failed(self, address: str) -> None:
        now = time.monotonic()
        self._buckets[address] = (max(0.0, self._tokens(address, now) - 1.0), now)
        self._buckets.move_to_end(address)
        while len(self._buckets) > self.max_addresses:
            self._buckets.popitem(last=False)  # the longest quiet: nearly full again


class RedisRateLimiter(RateLimiter):
    """One bucket per key for every replica on the same Redis; local while Redis is down.

    ``namespace`` (the app name) keeps the buckets of different apps on one Redis apart.
    After a Redis error the local bucket answers for ``retry_after`` seconds before Redis
    is tried again, so an outage costs at most one ``timeout`` per that interval. A key
    Redis refused is refused here until its wait is over without asking Redis again: the
    bucket cannot refill sooner, so a client hammering past its limit costs no round trips.
    """

    def __init__(
        self,
        spec: str,
        url: str | None = None,
        *,
        client: Redis | None = None,
        namespace: str = "roost",
        timeout: float = 0.5,
        retry_after: float = 2.0,
    ) -> None:
        super().__init__(spec)
        if client is None:
            if url is None:
                raise ConfigError("RedisRateLimiter needs a url or a client")
            from redis.asyncio import Redis

            client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
            self._owns_client = True
        else:
            self._owns_client = False
        self._redis = client
        self._script: Any = client.register_script(_GCRA)
        self.prefix = f"roost:ratelimit:{namespace}:"
        self._args = [self.period / self.limit * 1e6, self.period * 1e6]
        self.retry_after = retry_after
        self.local = LocalRateLimiter(spec)
        self._redis_down_until = 0.0
        self._next_warning = 0.0
        self._warned = False
        self._refused: dict[str, float] = {}
        """key → ``time.monotonic()`` before which Redis would refuse it anyway."""

    async def check(self, key: str) -> float:
        until = self._refused.get(key)
        if until is not None:
            left = until - time.monotonic()
            if left > 0:
                return max(1.0, float(math.ceil(left)))
            del self._refused[key]
        if self._redis_down_until and time.monotonic() < self._redis_down_until:
            return self.local.check_now(key)
        try:
            wait_us = int(await self._script(keys=[self.prefix + key], args=self._args))
        except Exception as exc:  # unreachable, timed out, read-only replica …
            self._redis_failed(exc)
            return self.local.check_now(key)
        if self._redis_down_until:
            self._redis_down_until = 0.0
            if self._warned:
                self._warned = False
                log.info("rate limit: Redis is back; the limit is shared by all replicas again")
        if wait_us <= 0:
            return 0.0
        if len(self._refused) >= 100_000:
            self._refused.clear()  # bounded memory; forgetting only costs a round trip
        self._refused[key] = time.monotonic() + wait_us / 1e6
        return max(1.0, float(math.ceil(wait_us / 1e6)))

    def _redis_failed(self, exc: Exception) -> None:
        now = time.monotonic()
        self._redis_down_until = now + self.retry_after
        if now >= self._next_warning:
            self._next_warning = now + 60.0
            self._warned = True
            log.warning(
                "rate limit: Redis unreachable (%s: %s); limiting per replica until it is back",
                type(exc).__name__,
                exc,
            )

    async def aclose(self) -> None:
        if self._owns_client:
            await self._redis.aclose()
