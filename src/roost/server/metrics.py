"""HTTP metrics in Prometheus exposition format (a registry per app, so tests stay isolated).

The counts live in plain dicts and ``prometheus_client`` is only imported when the
registry is first needed (a ``/metrics`` scrape, or ``roost.observe`` sharing it): a
server nobody scrapes never loads it (idle memory, docs/decisions/0097). The exposition
is the one ``Counter`` and ``Histogram`` objects would give, ``_created`` samples included.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

_REQUESTS = ("roost_http_requests", "HTTP requests by route template, method and status.")
_LATENCY = (
    "roost_http_request_duration_seconds",
    "Time to the end of the response (streams: until the stream ends).",
)
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, float("inf"))


class _Latency:
    """One histogram series: per-bucket (not cumulative) counts, sum, creation time."""

    __slots__ = ("counts", "created", "sum")

    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS)
        self.sum = 0.0
        self.created = time.time()


class HttpMetrics:
    """Request count and latency by route template, method and status."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, str], list[float]] = {}  # [count, created]
        self._latency: dict[tuple[str, str], _Latency] = {}
        self._registry: Any = None

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, str(status))
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = [0.0, time.time()]
        counter[0] += 1.0
        series = self._latency.get((route, method))
        if series is None:
            series = self._latency[(route, method)] = _Latency()
        series.sum += seconds
        index = bisect_left(BUCKETS, seconds)  # the first bucket with seconds <= bound
        if index < len(BUCKETS):
            series.counts[index] += 1

    @property
    def registry(self) -> Any:
        """The app's ``CollectorRegistry`` (created, with prometheus_client, on first use)."""
        if self._registry is None:
            from prometheus_client import CollectorRegistry

            registry = CollectorRegistry(auto_describe=True)
            registry.register(_Collector(self))
            self._registry = registry
        return self._registry

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def families(self, *, samples: bool = True) -> Iterator[Any]:
        """The two metric families (empty ones with ``samples=False``, to describe them)."""
        from prometheus_client import metrics as client_metrics
        from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily
        from prometheus_client.samples import Sample
        from prometheus_client.utils import floatToGoString

        requests = CounterMetricFamily(*_REQUESTS, labels=("route", "method", "status"))
        latency = HistogramMetricFamily(*_LATENCY, labels=("route", "method"))
        # PROMETHEUS_DISABLE_CREATED_SERIES / disable_created_metrics(), as Counter obeys it
        with_created = getattr(client_metrics, "_use_created", True)
        if samples:
            for labels, (count, created) in list(self._requests.items()):
                requests.add_metric(labels, count, created=created if with_created else None)
            bounds = [floatToGoString(b) for b in BUCKETS]  # type: ignore[no-untyped-call]
            for (route, method), series in list(self._latency.items()):
                cumulative, acc = [], 0.0
                for bound, count in zip(bounds, series.counts, strict=True):
                    acc += count
                    cumulative.append((bound, acc))
                latency.add_metric((route, method), cumulative, series.sum)
                if not with_created:
                    continue
                latency.samples.append(
                    Sample(
                        latency.name + "_created",
                        {"route": route, "method": method},
                        series.created,
                        None,
                    )
                )
        yield requests
        yield latency


class _Collector:
    def __init__(self, metrics: HttpMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Any]:
        return self._metrics.families()

    def describe(self) -> Iterator[Any]:
        return self._metrics.families(samples=False)
