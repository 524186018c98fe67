"""Tracing setup: one OTel SDK ``TracerProvider`` feeding the local trace store and OTLP.

Agents and the server create spans through the OTel *API* (``trace.get_tracer("roost")``);
this module decides where they go. Content (prompts, completions, tool arguments) is
kept for the embedded store and dropped for OTLP unless asked for, and every exporter
sees content only after the redaction hooks of :mod:`roost.observe.redaction`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from opentelemetry import baggage, context, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Status

from roost.core import ConfigError
from roost.core.settings import get_settings
from roost.observe.redaction import redact, redact_value
from roost.observe.store_exporter import CostFn, LocalStoreSpanExporter

log = logging.getLogger("roost.observe")

OTLP_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""The GenAI semantic-convention switch; ``true`` also sends content over OTLP."""

RUN_CONTEXT_KEYS = ("roost.run_id", "roost.session_id", "roost.user_id", "roost.tenant_id")

CONTENT_ATTRIBUTES = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "gen_ai.tool.definitions",
        "gen_ai.prompt",
        "gen_ai.completion",
    }
)
CONTENT_EVENT_PREFIXES = ("gen_ai.",)

OtlpProtocol = Literal["http/protobuf", "grpc"]
ExportHook = Callable[[str, int, bool], None]
"""``(exporter name, span count, ok)`` after each export (feeds a metric)."""


def _truthy(value: str | None) -> bool | None:
    if value is None or value.strip() == "":
        return None
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _is_content_event(event: Event) -> bool:
    return event.name.startswith(CONTENT_EVENT_PREFIXES)


class ContentFilterExporter(SpanExporter):
    """Wraps an exporter: drops content (``capture_content=False``) or redacts it.

    Exception events and status messages are always redacted, whatever the setting.

    Ended spans are immutable, so the wrapper rebuilds a ``ReadableSpan`` only for spans
    that carry content; the others pass through untouched (cheap on the hot path).
    """

    def __init__(
        self,
        inner: SpanExporter,
        *,
        capture_content: bool,
        on_export: ExportHook | None = None,
        name: str | None = None,
    ) -> None:
        self.inner = inner
        self.capture_content = capture_content
        self.on_export = on_export
        self.name = name or type(inner).__name__

    def _rewrite(self, span: ReadableSpan) -> ReadableSpan:
        attrs = span.attributes or {}
        content_keys = [k for k in attrs if k in CONTENT_ATTRIBUTES]
        content_events = [e for e in span.events if _is_content_event(e)]
        needs_status = bool(span.status.description)
        has_exception = any(e.name == "exception" for e in span.events)
        if not content_keys and not content_events and not needs_status and not has_exception:
            return span
        new_attrs: dict[str, Any] = dict(attrs)
        events: list[Event] = []
        if self.capture_content:
            for k in content_keys:
                new_attrs[k] = redact_value(attrs[k], "traces")
            for e in span.events:
                if _is_content_event(e):
                    events.append(
                        Event(
                            e.name,
                            {k: redact_value(v, "traces") for k, v in (e.attributes or {}).items()},
                            e.timestamp,
                        )
                    )
                else:
                    events.append(e)
        else:
            for k in content_keys:
                del new_attrs[k]
            events = [e for e in span.events if not _is_content_event(e)]
        # exception messages and stack traces are kept everywhere, but never unredacted
        events = [
            Event(
                e.name,
                {k: redact_value(v, "traces") for k, v in (e.attributes or {}).items()},
                e.timestamp,
            )
            if e.name == "exception"
            else e
            for e in events
        ]
        status = span.status
        if status.description:
            status = Status(status.status_code, redact(status.description, "traces"))
        return ReadableSpan(
            name=span.name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=new_attrs,
            events=events,
            links=span.links,
            kind=span.kind,
            status=status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export([self._rewrite(s) for s in spans])
        if self.on_export is not None:
            self.on_export(self.name, len(spans), result is SpanExportResult.SUCCESS)
        return result

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self.inner.shutdown()


class FlushingBatchSpanProcessor(BatchSpanProcessor):
    """A ``BatchSpanProcessor`` whose ``force_flush`` also flushes its exporter.

    The SDK's flush only hands the queue to ``export``; exporters that write
    asynchronously (the trace store keeps one batch in flight) need their own flush for
    "flushed" to mean "stored".
    """

    def __init__(self, exporter: SpanExporter, **kwargs: Any) -> None:
        super().__init__(exporter, **kwargs)
        self._exporter_ref = exporter

    def force_flush(self, timeout_millis: int | None = None) -> bool:
        done = super().force_flush(timeout_millis)
        return self._exporter_ref.force_flush(timeout_millis or 30000) and done


class RunContextSpanProcessor(SpanProcessor):
    """Stamps ``roost.run_id``/``session_id``/``user_id``/``tenant_id`` on every span.

    Values come from OTel baggage (set by the server with :func:`run_context`) or from
    the parent span, so model, tool, retrieval and sandbox spans are all attributable.
    """

    def on_start(self, span: Span, parent_context: context.Context | None = None) -> None:
        bag = baggage.get_all(parent_context)
        parent_attrs: Mapping[str, Any] | None = None
        existing = span.attributes or {}
        for key in RUN_CONTEXT_KEYS:
            value = bag.get(key)
            if value is None:
                if parent_attrs is None:
                    parent = trace.get_current_span(parent_context)
                    parent_attrs = getattr(parent, "attributes", None) or {}
                value = parent_attrs.get(key)
            if value is not None and key not in existing:
                span.set_attribute(key, str(value))

    def on_end(self, span: ReadableSpan) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


@contextmanager
def run_context(
    *,
    run_id: str | None = None,
    session_id: str | None = None,
    user_id: str | None = None,
    tenant_id: str | None = None,
) -> Iterator[None]:
    """Put the run's ids into OTel baggage for the block: spans and logs pick them up."""
    ctx = context.get_current()
    for key, value in zip(RUN_CONTEXT_KEYS, (run_id, session_id, user_id, tenant_id), strict=True):
        if value is not None:
            ctx = baggage.set_baggage(key, value, ctx)
    token = context.attach(ctx)
    try:
        yield
    finally:
        context.detach(token)


# --- a global provider that can be re-configured ----------------------------------------
class _SwitchableTracer(trace.Tracer):
    def __init__(self, owner: _SwitchableTracerProvider, args: tuple[Any, ...]) -> None:
        self._owner = owner
        self._args = args
        self._cache: tuple[trace.TracerProvider | None, trace.Tracer] | None = None

    def _current(self) -> trace.Tracer:
        provider = self._owner.delegate
        cached = self._cache
        if cached is not None and cached[0] is provider:
            return cached[1]
        tracer = provider.get_tracer(*self._args) if provider is not None else trace.NoOpTracer()
        self._cache = (provider, tracer)
        return tracer

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self._current().start_span(*args, **kwargs)

    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self, *args: Any, **kwargs: Any
    ) -> Iterator[trace.Span]:
        with self._current().start_as_current_span(*args, **kwargs) as span:
            yield span


class _SwitchableTracerProvider(trace.TracerProvider):
    """Installed once as the OTel global so ``setup_tracing`` can be called again.

    ``roost_capture_content`` tells the agents (which only see the OTel API) whether to
    record prompts and completions: true when some destination keeps them."""

    def __init__(self) -> None:
        self.delegate: TracerProvider | None = None
        self.roost_capture_content = False

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _SwitchableTracer(self, args)


_global_lock = threading.Lock()
_switch: _SwitchableTracerProvider | None = None


def _install(provider: TracerProvider, capture_content: bool) -> None:
    global _switch
    with _global_lock:
        if _switch is None:
            switch = _SwitchableTracerProvider()
            trace.set_tracer_provider(switch)
            if trace.get_tracer_provider() is not switch:
                log.warning(
                    "another OpenTelemetry TracerProvider is already global; Roost spans "
                    "created through the global API go there, not to the Roost exporters"
                )
            _switch = switch
        old = _switch.delegate
        _switch.delegate = provider
        _switch.roost_capture_content = capture_content
    if old is not None and old is not provider:
        old.shutdown()


def current_provider() -> TracerProvider | None:
    """The provider installed by the last :func:`setup_tracing` (None if off)."""
    return _switch.delegate if _switch is not None else None


def shutdown_tracing() -> None:
    """Flush and stop exporting; spans become no-ops until ``setup_tracing`` runs again."""
    with _global_lock:
        provider = _switch.delegate if _switch is not None else None
        if _switch is not None:
            _switch.delegate = None
            _switch.roost_capture_content = False
    if provider is not None:
        provider.shutdown()


def otlp_exporter(endpoint: str, protocol: OtlpProtocol = "http/protobuf") -> SpanExporter:
    """An OTLP span exporter (HTTP/protobuf or gRPC), imported lazily (extra ``roost[otlp]``)."""
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )

            target = endpoint
            insecure = not endpoint.startswith("https://")
            for scheme in ("http://", "https://"):
                target = target.removeprefix(scheme)
            exporter: SpanExporter = GrpcExporter(endpoint=target, insecure=insecure)
            return exporter
        if protocol == "http/protobuf":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter as HttpExporter,
            )

            url = endpoint if "://" in endpoint else f"http://{endpoint}"
            if not url.rstrip("/").endswith("/v1/traces"):
                url = url.rstrip("/") + "/v1/traces"
            http_exporter: SpanExporter = HttpExporter(endpoint=url)
            return http_exporter
    except ImportError as exc:
        raise ConfigError(
            f"OTLP export needs the exporter package ({exc.name})",
            hint="pip install 'roost[otlp]'",
        ) from exc
    raise ConfigError(f"unknown OTLP protocol {protocol!r}", hint="use 'http/protobuf' or 'grpc'")


def _otlp_from_env() -> tuple[str | None, str | None]:
    """Roost's settings, else OpenTelemetry's own variables (the standard names)."""
    settings = get_settings()
    endpoint = (
        settings.otlp_endpoint
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    protocol = settings.otlp_protocol or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    )
    return endpoint or None, protocol or None


def service_resource(service_name: str) -> Resource:
    """The resource of Roost's telemetry: ``OTEL_SERVICE_NAME`` (and
    ``OTEL_RESOURCE_ATTRIBUTES``) win over the app's name, as OTel users expect."""
    if os.environ.get("OTEL_SERVICE_NAME", "").strip():
        return Resource.create({})
    return Resource.create({"service.name": service_name})


def setup_tracing(
    *,
    store: Any = None,
    otlp_endpoint: str | None = None,
    otlp_protocol: OtlpProtocol | None = None,
    capture_content: bool | None = None,
    service_name: str = "roost",
    cost_fn: CostFn | None = None,
    exporters: Sequence[SpanExporter] = (),
    schedule_delay_millis: int = 500,
    max_export_batch_size: int = 512,
    on_export: ExportHook | None = None,
) -> TracerProvider:
    """Configure where Roost spans go and install the provider globally.

    ``store`` (URL, ``AsyncEngine`` or Store) enables the embedded trace store;
    ``otlp_endpoint`` (or ``ROOST_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_*``) adds OTLP.
    ``capture_content=None`` means: on for the store, off for OTLP unless
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``; ``ROOST_TRACE_CONTENT=0``
    turns it off everywhere. Extra ``exporters`` are treated like OTLP ones. Model spans
    without a ``roost.cost`` attribute are priced with ``cost_fn`` (default: the price
    table of :mod:`roost.models.pricing`). ``on_export`` hears every export's outcome.
    """
    env_endpoint, env_protocol = _otlp_from_env()
    endpoint = otlp_endpoint or env_endpoint
    protocol = otlp_protocol or env_protocol or "http/protobuf"
    if protocol not in ("http/protobuf", "grpc"):
        raise ConfigError(
            f"unknown OTLP protocol {protocol!r}", hint="use 'http/protobuf' or 'grpc'"
        )
    if capture_content is None and get_settings().trace_content is False:
        capture_content = False
    store_content = capture_content if capture_content is not None else True
    remote_content = (
        capture_content
        if capture_content is not None
        else bool(_truthy(os.environ.get(OTLP_CONTENT_ENV)))
    )

    if cost_fn is None:
        from roost.observe.cost import CostCalculator

        cost_fn = CostCalculator().cost_fn
    provider = TracerProvider(resource=service_resource(service_name))
    provider.add_span_processor(RunContextSpanProcessor())
    wants_content = False
    if store is not None:
        provider.add_span_processor(
            FlushingBatchSpanProcessor(
                ContentFilterExporter(
                    LocalStoreSpanExporter(store, cost_fn=cost_fn),
                    capture_content=store_content,
                    on_export=on_export,
                    name="store",
                ),
                schedule_delay_millis=schedule_delay_millis,
                max_export_batch_size=max_export_batch_size,
                max_queue_size=max(16384, max_export_batch_size * 8),
            )
        )
        wants_content = wants_content or store_content
    remote: list[SpanExporter] = list(exporters)
    if endpoint:
        remote.append(otlp_exporter(endpoint, protocol))  # type: ignore[arg-type]
    for exporter in remote:
        provider.add_span_processor(
            BatchSpanProcessor(
                ContentFilterExporter(
                    exporter, capture_content=remote_content, on_export=on_export
                ),
                schedule_delay_millis=schedule_delay_millis,
                max_export_batch_size=max_export_batch_size,
            )
        )
        wants_content = wants_content or remote_content
    _install(provider, wants_content)
    return provider


def content_capture_enabled() -> bool:
    """What agents should do: record content events only when this is true."""
    return _switch is not None and _switch.roost_capture_content
