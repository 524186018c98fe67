"""OpenTelemetry spans with the GenAI semantic conventions, through the OTel *API* only.

The agents layer never configures exporters (that is ``roost.observe``); without a
configured provider these spans are no-ops and cost next to nothing. The OTel API is
imported at the first reply, not with ``roost.agents`` (idle server memory, decision 0097).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer


@functools.cache
def tracer() -> Tracer:
    """The ``roost`` tracer (a proxy until ``roost.observe`` installs a provider)."""
    from opentelemetry import trace

    return trace.get_tracer("roost")


def start_span(name: str, attributes: Mapping[str, Any]) -> contextlib.AbstractContextManager[Span]:
    """``tracer().start_as_current_span(name, attributes=...)``, cheap when tracing is off.

    Without a tracer provider (no ``roost.observe``, no OTel SDK) the no-op tracer would
    only make the current non-recording span current again, through two context
    managers and a context switch (~9 µs a span, several spans a reply): the current span
    is given as-is instead, which is what the block would have seen anyway.
    """
    from opentelemetry import trace

    if isinstance(
        trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider
    ):
        return contextlib.nullcontext(trace.get_current_span())
    return tracer().start_as_current_span(name, attributes=attributes)


def set_error(span: Span, description: str) -> None:
    """Mark ``span`` failed with a stable error code as its description."""
    from opentelemetry.trace import Status, StatusCode

    span.set_status(Status(StatusCode.ERROR, description))


_BAGGAGE_KEYS = {
    "roost.run_id": "roost.run_id",
    "roost.session_id": "gen_ai.conversation.id",
    "roost.user_id": "roost.user_id",
    "roost.tenant_id": "roost.tenant_id",
}


def context_attributes() -> dict[str, Any]:
    """Ids the caller put in OTel baggage (run, session, user, tenant)."""
    from opentelemetry import baggage

    attrs: dict[str, Any] = {}
    bag = baggage.get_all()  # one context read, not one per key
    if not bag:
        return attrs
    for key, attr in _BAGGAGE_KEYS.items():
        value = bag.get(key)
        if value is not None:
            attrs[attr] = str(value)
            if key == "roost.session_id":
                attrs["roost.session_id"] = str(value)
    return attrs


def capture_content() -> bool:
    """Whether prompts and completions are recorded as span events: the provider
    ``roost.observe`` installed says so (some destination of the spans keeps content)."""
    from opentelemetry import trace

    return bool(getattr(trace.get_tracer_provider(), "roost_capture_content", False))
