"""``HttpMetrics`` exposes what prometheus_client's Counter and Histogram would (decision 0097)."""

from __future__ import annotations

from unittest import mock

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from roost.server.metrics import BUCKETS, HttpMetrics

_CALLS = [
    ("/healthz", "GET", 200, 0.003),
    ("/healthz", "GET", 200, 0.25),  # on a bucket bound: counted in that bucket
    ("/v1/sessions", "POST", 201, 0.04),
    ("/healthz", "GET", 500, 100.0),  # above the last finite bucket
    ("/v1/sessions", "POST", 201, 0.01),
]


def _reference() -> bytes:
    registry = CollectorRegistry(auto_describe=True)
    requests = Counter(
        "roost_http_requests",
        "HTTP requests by route template, method and status.",
        ["route", "method", "status"],
        registry=registry,
    )
    latency = Histogram(
        "roost_http_request_duration_seconds",
        "Time to the end of the response (streams: until the stream ends).",
        ["route", "method"],
        registry=registry,
        buckets=BUCKETS[:-1],
    )
    for route, method, status, seconds in _CALLS:
        requests.labels(route, method, str(status)).inc()
        latency.labels(route, method).observe(seconds)
    return generate_latest(registry)


def test_the_exposition_is_the_one_of_prometheus_client_metrics() -> None:
    with mock.patch("time.time", return_value=1_700_000_000.0):
        metrics = HttpMetrics()
        for call in _CALLS:
            metrics.observe(*call)
        assert metrics.exposition()[0] == _reference()


def test_the_registry_is_shared_and_reserves_the_names() -> None:
    metrics = HttpMetrics()
    Counter("roost_other", "another layer's metric", registry=metrics.registry).inc()
    metrics.observe("/healthz", "GET", 200, 0.001)
    body = metrics.exposition()[0].decode()
    assert "roost_other_total 1.0" in body
    assert 'roost_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in body
    try:
        Counter("roost_http_requests", "clash", registry=metrics.registry)
    except ValueError:
        pass
    else:
        raise AssertionError("a second roost_http_requests was accepted")
