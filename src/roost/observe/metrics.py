"""Prometheus metrics: one registry the server exposes on ``/metrics``.

Names follow Prometheus conventions (base units, ``_total`` for counters); every metric
is documented in docs/metrics.md. Labels are low-cardinality on purpose (agent, model,
tenant, tool — never session or user ids); per-session/user figures come from the store.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from roost.core import Usage

RUN_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
TTFT_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Sample:
    """One sample of the registry: ``name`` (with ``_total``/``_bucket`` suffix), labels, value."""

    name: str
    labels: tuple[tuple[str, str], ...]
    value: float

    def label(self, key: str) -> str | None:
        return dict(self.labels).get(key)


class RoostMetrics:
    """Roost's run, model, tool, sandbox and alert metrics on one ``CollectorRegistry``.

    Pass the server's registry so one ``/metrics`` exposes these next to the HTTP metrics
    (``roost_http_requests_total``, ``roost_http_request_duration_seconds``) it owns.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.runs_started = Counter(
            "roost_runs_started", "Runs started, by agent.", ["agent"], registry=r
        )
        self.runs_finished = Counter(
            "roost_runs_finished",
            "Runs finished, by agent and final status (succeeded, failed, canceled).",
            ["agent", "status"],
            registry=r,
        )
        self.run_duration = Histogram(
            "roost_run_duration_seconds",
            "Wall-clock time from run start to its final status.",
            ["agent"],
            buckets=RUN_DURATION_BUCKETS,
            registry=r,
        )
        self.time_to_first_token = Histogram(
            "roost_time_to_first_token_seconds",
            "Time from run start to the first streamed text delta.",
            ["agent"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.model_tokens = Counter(
            "roost_model_tokens",
            "Model tokens, by model, tenant and direction (input, output).",
            ["model", "tenant", "direction"],
            registry=r,
        )
        self.model_cost = Counter(
            "roost_model_cost",
            "Model cost in the price table's currency, by model and tenant.",
            ["model", "tenant", "currency"],
            registry=r,
        )
        self.tool_calls = Counter(
            "roost_tool_calls",
            "Tool calls, by tool and status (success, error).",
            ["tool", "status"],
            registry=r,
        )
        self.tool_errors = Counter(
            "roost_tool_errors",
            "Failed tool calls, by tool and stable error code.",
            ["tool", "code"],
            registry=r,
        )
        self.sandbox_pool_size = Gauge(
            "roost_sandbox_pool_size",
            "Warm sandboxes ready in the pool, by sandbox type.",
            ["type"],
            registry=r,
        )
        self.sandbox_acquires = Counter(
            "roost_sandbox_acquires",
            "Sandbox acquisitions, by type and result (warm, cold, exhausted, error).",
            ["type", "result"],
            registry=r,
        )
        self.active_sessions = Gauge(
            "roost_active_sessions", "Sessions with a run in progress.", registry=r
        )
        self.queue_depth = Gauge(
            "roost_queue_depth", "Background runs waiting in the queue.", registry=r
        )
        self.local_model_up = Gauge(
            "roost_local_model_up",
            "1 while the watched local model server process runs, else 0 (no series when "
            "no local model is watched, so LocalModelDown stays quiet).",
            ["model"],
            registry=r,
        )
        self.store_up = Gauge(
            "roost_store_up", "1 when the database answered the last probe, else 0.", registry=r
        )
        self.spans_exported = Counter(
            "roost_trace_spans_exported",
            "Spans handed to an exporter, by exporter and result (ok, failed).",
            ["exporter", "result"],
            registry=r,
        )
        self.usage_max = Gauge(
            "roost_usage_max",
            "Largest usage aggregate in a window (e.g. cost per session over 1h), published "
            "by the in-process alert evaluator so cluster Prometheus can alert on it.",
            ["measure", "per", "window", "currency"],
            registry=r,
        )
        self.alerts_firing = Gauge(
            "roost_alerts_firing",
            "1 while an in-process alert rule is firing.",
            ["alertname", "severity"],
            registry=r,
        )
        self._lock = threading.Lock()

    # -- recording helpers (what the run observer and the sandbox pool call) ------------
    def record_usage(self, model: str | None, tenant: str | None, usage: Usage) -> None:
        model_l, tenant_l = model or UNKNOWN, tenant or "default"
        if usage.input_tokens:
            self.model_tokens.labels(model_l, tenant_l, "input").inc(usage.input_tokens)
        if usage.output_tokens:
            self.model_tokens.labels(model_l, tenant_l, "output").inc(usage.output_tokens)
        if usage.cost:
            self.model_cost.labels(model_l, tenant_l, usage.currency or UNKNOWN).inc(usage.cost)

    def record_tool_call(self, tool: str, *, error_code: str | None = None) -> None:
        if error_code is None:
            self.tool_calls.labels(tool, "success").inc()
        else:
            self.tool_calls.labels(tool, "error").inc()
            self.tool_errors.labels(tool, error_code).inc()

    # -- reading --------------------------------------------------------------------------
    def samples(self) -> list[Sample]:
        """Every current sample (used by the in-process alert evaluator)."""
        out: list[Sample] = []
        for family in self.registry.collect():
            for s in family.samples:
                if s.name.endswith("_created"):
                    continue
                out.append(Sample(s.name, tuple(sorted(s.labels.items())), float(s.value)))
        return out

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition format and its content type, for ``GET /metrics``."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def value_of(samples: Iterable[Sample], name: str, **labels: str) -> float:
    """Sum of samples named ``name`` whose labels include ``labels`` (test/CLI helper)."""
    want = set(labels.items())
    return sum(s.value for s in samples if s.name == name and want <= set(s.labels))


_default_lock = threading.Lock()
_default: RoostMetrics | None = None


def get_metrics() -> RoostMetrics:
    """The process-wide metrics object (created on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = RoostMetrics()
        return _default
