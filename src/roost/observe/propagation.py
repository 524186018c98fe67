"""W3C trace context in and out: an incoming ``traceparent`` continues the caller's trace.

Only ``traceparent``/``tracestate`` are read: caller-sent baggage is ignored, since Roost
keeps run, session, user and tenant ids in baggage and a caller must not set them.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()


def join_caller_trace(headers: Mapping[str, str]) -> object | None:
    """Attach the caller's span context (from ``headers``) as the current parent; returns
    the token for :func:`leave_caller_trace`, or ``None`` when there is nothing valid."""
    ctx = _PROPAGATOR.extract(headers)
    if ctx == {} or not _has_span(ctx):
        return None
    return context.attach(ctx)


def leave_caller_trace(token: object | None) -> None:
    if token is not None:
        context.detach(token)  # type: ignore[arg-type]


def _has_span(ctx: context.Context) -> bool:
    from opentelemetry import trace

    return trace.get_current_span(ctx).get_span_context().is_valid
