"""Observability: OpenTelemetry tracing (GenAI conventions) to the local trace store and
OTLP, structured logs, Prometheus metrics, cost, and alert rules with webhooks."""

from roost.observe.alert_evaluator import AlertEvaluator, AlertState, Transition, UsageSource
from roost.observe.alerts import (
    AlertRule,
    MetricExpr,
    UsageExpr,
    builtin_rules,
    load_rules,
    parse_rules,
    prometheus_rule,
    prometheus_rule_yaml,
    promql,
)
from roost.observe.cost import CostCalculator
from roost.observe.errors import AlertRuleInvalid, TraceNotFound
from roost.observe.instrument import Observability, instrument_app
from roost.observe.logging import configure_logging
from roost.observe.metrics import RoostMetrics, get_metrics
from roost.observe.notifiers import Alert, LogNotifier, Notifier, WebhookNotifier, webhook_payload
from roost.observe.observer import MetricsObserver
from roost.observe.redaction import add_redactor, default_redactor, redact, remove_redactor
from roost.observe.sandbox_metrics import instrument_sandbox_manager
from roost.observe.store_exporter import LocalStoreSpanExporter
from roost.observe.trace_tree import trace_tree
from roost.observe.tracing import (
    content_capture_enabled,
    run_context,
    setup_tracing,
    shutdown_tracing,
)
from roost.observe.usage import StoreUsageSource

__all__ = [
    "Alert",
    "AlertEvaluator",
    "AlertRule",
    "AlertRuleInvalid",
    "AlertState",
    "CostCalculator",
    "LocalStoreSpanExporter",
    "LogNotifier",
    "MetricExpr",
    "MetricsObserver",
    "Notifier",
    "Observability",
    "RoostMetrics",
    "StoreUsageSource",
    "TraceNotFound",
    "Transition",
    "UsageExpr",
    "UsageSource",
    "WebhookNotifier",
    "add_redactor",
    "builtin_rules",
    "configure_logging",
    "content_capture_enabled",
    "default_redactor",
    "get_metrics",
    "instrument_app",
    "instrument_sandbox_manager",
    "load_rules",
    "parse_rules",
    "prometheus_rule",
    "prometheus_rule_yaml",
    "promql",
    "redact",
    "remove_redactor",
    "run_context",
    "setup_tracing",
    "shutdown_tracing",
    "trace_tree",
    "webhook_payload",
]
