"""``instrument_app``: plug tracing, metrics, cost and alerts into an ``AgentApp``.

The server sits below observe in the layer order, so this works on the app by duck
typing: it appends run observers, shares the app's Prometheus registry (one ``/metrics``),
configures tracing to the app's store at startup and runs the alert evaluator as a
background task. Environment: ``ROOST_TRACING=0`` turns tracing off,
``ROOST_ALERT_RULES`` adds a rule file, ``ROOST_ALERT_WEBHOOKS`` (comma-separated URLs)
adds webhook receivers, ``ROOST_ALERT_INTERVAL`` sets the evaluation period (seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from roost.core import ConfigError
from roost.core.settings import get_settings
from roost.observe.alert_evaluator import AlertEvaluator
from roost.observe.alerts import AlertRule, builtin_rules, load_rules
from roost.observe.cost import CostCalculator
from roost.observe.genai_metrics import GenAIPrometheusCollector, setup_genai_metrics
from roost.observe.metrics import RoostMetrics
from roost.observe.notifiers import LogNotifier, Notifier, WebhookNotifier
from roost.observe.observer import MetricsObserver
from roost.observe.run_spans import RunSpanObserver
from roost.observe.tracing import (
    _otlp_from_env,
    current_provider,
    service_resource,
    setup_tracing,
    shutdown_tracing,
)
from roost.observe.usage import StoreUsageSource

log = logging.getLogger("roost.observe")

Probe = Callable[[], Awaitable[None]]


def _is_memory_db(url: str) -> bool:
    return url.startswith("sqlite") and (url.rstrip("/").endswith(":") or ":memory:" in url)


class Observability:
    """What ``instrument_app`` attached to an app (``app.observability``)."""

    def __init__(
        self,
        app: Any,
        *,
        tracing: bool,
        otlp_endpoint: str | None,
        capture_content: bool | None,
        rules: Sequence[AlertRule],
        notifiers: Sequence[Notifier],
        alert_interval: float,
        costs: CostCalculator,
    ) -> None:
        self.app = app
        self.tracing = tracing
        self.otlp_endpoint = otlp_endpoint
        self.capture_content = capture_content
        self.rules = list(rules)
        self.notifiers = list(notifiers)
        self.alert_interval = alert_interval
        self.costs = costs
        self.metrics: RoostMetrics | None = None
        self.evaluator: AlertEvaluator | None = None
        self.provider: Any = None
        self.probes: list[Probe] = []
        self._observers: list[Any] = []
        self._probe_task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        app = self.app
        registry = getattr(getattr(app, "metrics", None), "registry", None)
        self.metrics = RoostMetrics(registry)
        self._observers = [MetricsObserver(self.metrics, costs=self.costs)]
        app.observers.append(self._observers[0])
        if self.tracing:
            url = getattr(app.store, "url", "") or ""
            store = None if _is_memory_db(str(url)) else app.store
            if store is None and not self.otlp_endpoint:
                log.info("tracing: in-memory database, the local trace store is off")
            self.provider = setup_tracing(
                store=store,
                otlp_endpoint=self.otlp_endpoint,
                capture_content=self.capture_content,
                service_name=getattr(app, "name", "roost"),
                cost_fn=self.costs.cost_fn,
                on_export=self._count_export,
            )
            span_observer = RunSpanObserver()
            self._observers.append(span_observer)
            app.observers.insert(0, span_observer)
            provider = self.provider
            # the trace route flushes the spans of a run that just ended first
            app.services.flush_traces = lambda: provider.force_flush(5000)
        self._start_genai_metrics(app)
        self.probes.append(self._probe_store)
        self.probes.append(self._probe_queue)
        self.evaluator = AlertEvaluator(
            self.rules,
            metrics=self.metrics,
            usage=StoreUsageSource(app.store),
            notifiers=self.notifiers,
            interval=self.alert_interval,
        )
        self._probe_task = asyncio.get_running_loop().create_task(
            self._loop(), name="roost-observe"
        )

    def _start_genai_metrics(self, app: Any) -> None:
        """GenAI client metrics: OTLP when configured, and on this app's ``/metrics``."""
        endpoint, protocol = _otlp_from_env()
        resource = service_resource(getattr(app, "name", "roost"))
        reader = setup_genai_metrics(
            resource, self.otlp_endpoint or endpoint, protocol or "http/protobuf"
        )
        if reader is not None and self.metrics is not None:
            self.metrics.registry.register(GenAIPrometheusCollector(reader))  # type: ignore[arg-type]

    def watch_sandbox_manager(self, manager: Any) -> None:
        """Meter a ``SandboxManager``: acquisitions by result, warm pool size per type."""
        from roost.observe.sandbox_metrics import instrument_sandbox_manager, record_pool_sizes

        if self.metrics is None:
            raise ConfigError(
                "watch_sandbox_manager() needs a started app",
                hint="call it from an on_startup hook",
            )
        metrics = self.metrics
        instrument_sandbox_manager(manager, metrics)

        async def probe() -> None:
            record_pool_sizes(manager, metrics)

        self.probes.append(probe)

    def watch_local_model(self, model: Any, name: str | None = None) -> None:
        """Export ``roost_local_model_up{model}`` for a ``LocalModel`` (its server process)."""
        if self.metrics is None:
            raise ConfigError(
                "watch_local_model() needs a started app", hint="call it from an on_startup hook"
            )
        gauge = self.metrics.local_model_up.labels(
            name or str(getattr(model, "model_name", "local"))
        )

        async def probe() -> None:
            try:
                up = bool(model.server.running())
            except Exception:  # not installed, bad path: the model is not serving
                up = False
            gauge.set(1 if up else 0)

        self.probes.append(probe)

    def _count_export(self, exporter: str, spans: int, ok: bool) -> None:
        if self.metrics is not None:
            self.metrics.spans_exported.labels(exporter, "ok" if ok else "failed").inc(spans)

    async def run_probes(self) -> None:
        for probe in self.probes:
            try:
                await probe()
            except Exception as exc:
                log.debug("probe %s failed: %s", getattr(probe, "__name__", probe), exc)

    async def _probe_store(self) -> None:
        assert self.metrics is not None
        try:
            await self.app.store.ping()
            self.metrics.store_up.set(1)
        except Exception:
            self.metrics.store_up.set(0)
            raise

    async def _probe_queue(self) -> None:
        assert self.metrics is not None
        huey = self.app.services.queue.huey
        if huey is not None and hasattr(huey, "pending_count"):
            depth = await asyncio.to_thread(huey.pending_count)
            self.metrics.queue_depth.set(depth)

    async def _loop(self) -> None:
        assert self.evaluator is not None
        while True:
            await self.run_probes()
            try:
                await self.evaluator.evaluate_once()
            except Exception as exc:
                log.warning("alert evaluation failed: %s", exc)
            await asyncio.sleep(self.alert_interval)

    async def shutdown(self) -> None:
        for observer in self._observers:
            if observer in self.app.observers:
                self.app.observers.remove(observer)
        self._observers = []
        self.probes = []
        if self._probe_task is not None:
            self._probe_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe_task
            self._probe_task = None
        if self.provider is not None:
            await asyncio.to_thread(self.provider.force_flush)
            if current_provider() is self.provider:
                await asyncio.to_thread(shutdown_tracing)
            self.provider = None


def _default_rules(path: Path | None) -> list[AlertRule]:
    rules = builtin_rules()
    if path is not None:
        extra = load_rules(path)
        names = {r.name for r in extra}
        rules = [r for r in rules if r.name not in names] + extra
    return rules


def _default_notifiers(webhooks: Sequence[str]) -> list[Notifier]:
    return [LogNotifier(), *(WebhookNotifier(url) for url in webhooks)]


def instrument_app(
    app: Any,
    *,
    tracing: bool | None = None,
    otlp_endpoint: str | None = None,
    capture_content: bool | None = None,
    rules: Sequence[AlertRule] | None = None,
    webhooks: Sequence[str] = (),
    alert_interval: float | None = None,
    costs: CostCalculator | None = None,
) -> Observability:
    """Attach observability to an ``AgentApp`` (call before it starts; idempotent)."""
    existing = getattr(app, "observability", None)
    if isinstance(existing, Observability):
        return existing
    settings = get_settings()
    interval = settings.alert_interval if alert_interval is None else alert_interval
    if interval <= 0:
        raise ConfigError("the alert interval must be > 0 seconds")
    notifiers = _default_notifiers([*settings.alert_webhooks, *webhooks])
    obs = Observability(
        app,
        tracing=settings.tracing if tracing is None else tracing,
        otlp_endpoint=otlp_endpoint,
        capture_content=capture_content,
        rules=_default_rules(settings.alert_rules) if rules is None else rules,
        notifiers=notifiers,
        alert_interval=interval,
        costs=costs or CostCalculator(),
    )
    app.observability = obs
    app.on_startup(obs.startup)
    app.on_shutdown(obs.shutdown)
    return obs
