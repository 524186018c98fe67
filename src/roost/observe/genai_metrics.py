"""GenAI client metrics (``gen_ai.client.token.usage``, ``gen_ai.client.operation.duration``).

Agents record them through the OTel metrics API (:mod:`roost.agents._tracing`); this module
installs the process's meter provider once: its data goes to OTLP when an endpoint is
configured and is always readable on ``/metrics`` (a Prometheus collector reads the same
cumulative histograms at scrape time, as ``gen_ai_client_token_usage`` and
``gen_ai_client_operation_duration_seconds``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricReader
from opentelemetry.sdk.resources import Resource

log = logging.getLogger("roost.observe")

_lock = threading.Lock()
_reader: InMemoryMetricReader | None = None

_PROM_NAMES = {
    "gen_ai.client.token.usage": "gen_ai_client_token_usage",
    "gen_ai.client.operation.duration": "gen_ai_client_operation_duration_seconds",
}


def setup_genai_metrics(
    resource: Resource, otlp_endpoint: str | None = None, protocol: str = "http/protobuf"
) -> InMemoryMetricReader | None:
    """Install the global meter provider (first call only: OTel allows one per process)."""
    global _reader
    with _lock:
        if _reader is not None:
            return _reader
        if type(metrics.get_meter_provider()).__name__ != "_ProxyMeterProvider":
            return None  # the application installed its own: its exporters get the data
        readers: list[MetricReader] = [InMemoryMetricReader()]
        if otlp_endpoint:
            exporter = _otlp_metric_exporter(otlp_endpoint, protocol)
            if exporter is not None:
                from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

                readers.append(PeriodicExportingMetricReader(exporter))
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
        _reader = readers[0]  # type: ignore[assignment]
        return _reader


def _otlp_metric_exporter(endpoint: str, protocol: str) -> Any:
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc import metric_exporter as grpc

            return grpc.OTLPMetricExporter(endpoint=endpoint, insecure=endpoint.startswith("http:"))
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        base = endpoint.rstrip("/").removesuffix("/v1/traces")
        return OTLPMetricExporter(endpoint=base + "/v1/metrics")
    except ImportError:
        log.warning("GenAI metrics are not sent over OTLP: install roost[otlp]")
        return None


class GenAIPrometheusCollector:
    """Exposes the GenAI histograms of the in-memory reader in Prometheus' format."""

    def __init__(self, reader: InMemoryMetricReader) -> None:
        self.reader = reader

    def describe(self) -> list[Any]:
        return []  # not known before the first model call: collected at scrape time

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import HistogramMetricFamily

        data = self.reader.get_metrics_data()
        for rm in data.resource_metrics if data is not None else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    name = _PROM_NAMES.get(metric.name)
                    if name is None:
                        continue
                    points = list(getattr(metric.data, "data_points", ()))
                    labels = sorted({k for p in points for k in (p.attributes or {})})
                    family = HistogramMetricFamily(
                        name,
                        metric.description or metric.name,
                        labels=[k.replace(".", "_") for k in labels],
                    )
                    for p in points:
                        attrs = p.attributes or {}
                        cumulative, buckets = 0, []
                        for bound, count in zip(
                            [*p.explicit_bounds, float("inf")], p.bucket_counts, strict=True
                        ):
                            cumulative += count
                            edge = "+Inf" if bound == float("inf") else repr(float(bound))
                            buckets.append((edge, cumulative))
                        family.add_metric([str(attrs.get(k, "")) for k in labels], buckets, p.sum)
                    yield family
