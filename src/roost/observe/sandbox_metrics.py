"""Sandbox metrics for a ``SandboxManager``: pool size per type and acquisitions by result.

The sandbox layer sits above observe and records nothing itself; this wraps the manager's
``acquire`` (as OTel instrumentors wrap library calls) and reads ``status()`` for the
warm pool sizes. Results: ``reused`` (the session's sandbox), ``warm`` (from the pool),
``cold`` (started on demand), ``exhausted`` (``max_sandboxes`` reached), ``error``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from roost.core import RoostError
from roost.observe.metrics import RoostMetrics

_tracer = trace.get_tracer("roost.sandbox")


def record_pool_sizes(manager: Any, metrics: RoostMetrics) -> None:
    """Copy the manager's warm pool sizes into ``roost_sandbox_pool_size{type}``."""
    for kind, warm in (manager.status().get("warm") or {}).items():
        metrics.sandbox_pool_size.labels(kind).set(warm)


def instrument_sandbox_manager(manager: Any, metrics: RoostMetrics) -> Any:
    """Meter (and trace) ``manager.acquire``; idempotent. Returns the manager."""
    if getattr(manager, "_roost_observed", False):
        return manager
    original: Callable[..., Awaitable[Any]] = manager.acquire

    @functools.wraps(original)
    async def acquire(session_id: str, type: str = "base") -> Any:
        existing = manager.get(session_id, type)
        warm_before = (manager.status().get("warm") or {}).get(type, 0)
        with _tracer.start_as_current_span(
            f"sandbox.acquire {type}", attributes={"roost.sandbox.type": type}
        ) as span:
            try:
                sandbox = await original(session_id, type)
            except RoostError as exc:
                result = "exhausted" if exc.code == "sandbox_pool_exhausted" else "error"
                metrics.sandbox_acquires.labels(type, result).inc()
                span.set_status(Status(StatusCode.ERROR, exc.code))
                raise
            except Exception:
                metrics.sandbox_acquires.labels(type, "error").inc()
                raise
            if existing is not None and existing is sandbox:
                result = "reused"
            else:
                result = "warm" if warm_before > 0 else "cold"
            span.set_attribute("roost.sandbox.result", result)
            span.set_attribute("roost.sandbox.id", str(getattr(sandbox, "id", "")))
        metrics.sandbox_acquires.labels(type, result).inc()
        record_pool_sizes(manager, metrics)
        return sandbox

    manager.acquire = acquire
    manager._roost_observed = True
    return manager
