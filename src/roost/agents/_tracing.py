"""OpenTelemetry spans with the GenAI semantic conventions, through the OTel *API* only.

The agents layer never configures exporters (that is ``roost.observe``); without a
configured provider these spans are no-ops and cost next to nothing. The OTel API is
imported at the first reply, not with ``roost.agents`` (idle server memory, decision 0097).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer


@functools.cache
def tracer() -> Tracer:
    """The ``roost`` tracer (a proxy until ``roost.observe`` installs a provider)."""
    from opentelemetry import trace

    return trace.get_tracer("roost")


def start_span(
    name: str, attributes: Mapping[str, Any], *, client: bool = False
) -> contextlib.AbstractContextManager[Span]:
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
    if client:  # a call to another service (a model server): SpanKind.CLIENT by semconv
        return tracer().start_as_current_span(
            name, kind=trace.SpanKind.CLIENT, attributes=attributes
        )
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


def server_attributes(model: Any) -> dict[str, Any]:
    """``server.address``/``server.port`` of a model reached over HTTP (semconv)."""
    base_url = getattr(model, "base_url", None)
    if not isinstance(base_url, str):
        return {}
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    if not parts.hostname:
        return {}
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return {"server.address": parts.hostname, "server.port": port}


FINISH_REASONS = {
    "end_turn": "stop",
    "stop": "stop",
    "tool_use": "tool_call",
    "tool_calls": "tool_call",
    "max_tokens": "length",
    "length": "length",
    "content_filter": "content_filter",
    "error": "error",
}


def finish_reason(stop_reason: str | None) -> str:
    """A provider's stop reason as a GenAI semantic-convention finish reason."""
    return FINISH_REASONS.get(stop_reason or "", stop_reason or "stop")


def genai_messages(msgs: Any, finish: str | None = None) -> list[dict[str, Any]]:
    """Messages in the GenAI semantic conventions' parts schema (``gen_ai.input.messages``
    / ``gen_ai.output.messages``): ``{"role", "parts": [{"type": "text", ...}]}``."""
    out = []
    for m in msgs:
        entry: dict[str, Any] = {"role": m.role, "parts": [_part(b) for b in m.content]}
        if m.name:
            entry["name"] = m.name
        if finish is not None:
            entry["finish_reason"] = finish
        out.append(entry)
    return out


def _part(block: Any) -> dict[str, Any]:
    kind = block.type
    if kind == "text":
        return {"type": "text", "content": block.text}
    if kind == "thinking":
        return {"type": "reasoning", "content": block.thinking}
    if kind == "tool_use":
        return {"type": "tool_call", "id": block.id, "name": block.name, "arguments": block.input}
    if kind == "tool_result":
        return {"type": "tool_call_response", "id": block.tool_use_id, "response": block.text}
    if kind in ("image", "audio"):
        if block.url:
            return {
                "type": "uri",
                "modality": kind,
                "uri": block.url,
                "mime_type": block.media_type,
            }
        return {
            "type": "blob",
            "modality": kind,
            "mime_type": block.media_type,
            "content": block.data,
        }
    return {"type": "text", "content": _json(block.data)}


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, default=str)


@functools.cache
def _instruments() -> tuple[Any, Any]:
    from opentelemetry import metrics

    meter = metrics.get_meter("roost")
    tokens = meter.create_histogram(
        "gen_ai.client.token.usage",
        unit="{token}",
        description="Number of input and output tokens used",
        explicit_bucket_boundaries_advisory=[
            1,
            4,
            16,
            64,
            256,
            1024,
            4096,
            16384,
            65536,
            262144,
            1048576,
            4194304,
            16777216,
        ],
    )
    duration = meter.create_histogram(
        "gen_ai.client.operation.duration",
        unit="s",
        description="GenAI operation duration",
        explicit_bucket_boundaries_advisory=[
            0.01,
            0.02,
            0.04,
            0.08,
            0.16,
            0.32,
            0.64,
            1.28,
            2.56,
            5.12,
            10.24,
            20.48,
            40.96,
            81.92,
        ],
    )
    return tokens, duration


def record_model_call(
    attributes: Mapping[str, Any],
    seconds: float,
    usage: tuple[int, int] | None,
    error_type: str | None = None,
) -> None:
    """The GenAI client metrics of one model call (OTel metrics API: a no-op until a
    meter provider is installed, e.g. by ``roost.observe``)."""
    from opentelemetry import metrics

    if type(metrics.get_meter_provider()).__name__ in ("_ProxyMeterProvider", "NoOpMeterProvider"):
        return
    keys = (
        "gen_ai.operation.name",
        "gen_ai.provider.name",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "server.address",
        "server.port",
    )
    attrs = {k: attributes[k] for k in keys if k in attributes}
    tokens, duration = _instruments()
    if error_type is not None:
        attrs["error.type"] = error_type
    duration.record(seconds, attrs)
    if usage is not None and error_type is None:
        tokens.record(usage[0], {**attrs, "gen_ai.token.type": "input"})
        tokens.record(usage[1], {**attrs, "gen_ai.token.type": "output"})


@contextlib.contextmanager
def model_call_metrics(attributes: Mapping[str, Any], started: float) -> Iterator[list[Any]]:
    """Records :func:`record_model_call` when the block ends; the block appends the
    ``ModelResponse`` to the yielded list (no response: an error)."""
    import time

    outcome: list[Any] = []
    error: str | None = None
    try:
        yield outcome
    except BaseException as exc:
        error = str(getattr(exc, "code", None) or type(exc).__name__)
        raise
    finally:
        response = outcome[0] if outcome else None
        attrs = dict(attributes)
        if response is not None and response.model:
            attrs["gen_ai.response.model"] = response.model
        usage = (
            (response.usage.input_tokens, response.usage.output_tokens)
            if response is not None
            else None
        )
        record_model_call(
            attrs,
            time.perf_counter() - started,
            usage,
            error or (None if response else "no_response"),
        )
