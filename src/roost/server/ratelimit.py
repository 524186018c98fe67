"""Per-key rate limiting: a token bucket per API key, in process memory.

Each server process enforces the limit on its own share of traffic; behind a load
balancer with N replicas the effective limit is up to N times higher (decision 0063).
"""

from __future__ import annotations

import math
import re
import time

from roost.core import ConfigError

_PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)s?\s*$")


def parse_rate(spec: str) -> tuple[int, float]:
    """``"60/minute"`` → ``(60, 60.0)``: requests allowed per period in seconds."""
    match = _SPEC.match(spec)
    if not match or int(match.group(1)) <= 0:
        raise ConfigError(
            f"invalid rate limit {spec!r}",
            hint='write "N/second", "N/minute", "N/hour" or "N/day" with N > 0, or None',
        )
    return int(match.group(1)), _PERIODS[match.group(2)]


class RateLimiter:
    """Token buckets keyed by API key id; ``check`` returns seconds to wait, 0 if allowed."""

    def __init__(self, spec: str, max_keys: int = 100_000) -> None:
        self.limit, self.period = parse_rate(spec)
        self.rate = self.limit / self.period
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def check(self, key: str) -> float:
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
