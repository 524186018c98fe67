"""Observability: OpenTelemetry tracing (GenAI conventions) to the local trace store and
OTLP, structured logs, Prometheus metrics, cost, and alert rules with webhooks.

Names load on first access (the OTel SDK, httpx, YAML and the alert engine are heavy):
``roost serve`` needs only ``configure_logging`` at start (docs/decisions/0097).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from roost._lazy import lazy_names

_LAZY = {
    "Alert": "roost.observe.notifiers",
    "AlertEvaluator": "roost.observe.alert_evaluator",
    "AlertRule": "roost.observe.alerts",
    "AlertRuleInvalid": "roost.observe.errors",
    "AlertState": "roost.observe.alert_evaluator",
    "CostCalculator": "roost.observe.cost",
    "LocalStoreSpanExporter": "roost.observe.store_exporter",
    "LogNotifier": "roost.observe.notifiers",
    "MetricExpr": "roost.observe.alerts",
    "MetricsObserver": "roost.observe.observer",
    "Notifier": "roost.observe.notifiers",
    "Observability": "roost.observe.instrument",
    "RoostMetrics": "roost.observe.metrics",
    "StoreUsageSource": "roost.observe.usage",
    "TraceNotFound": "roost.observe.errors",
    "Transition": "roost.observe.alert_evaluator",
    "UsageExpr": "roost.observe.alerts",
    "UsageSource": "roost.observe.alert_evaluator",
    "WebhookNotifier": "roost.observe.notifiers",
    "add_redactor": "roost.observe.redaction",
    "builtin_rules": "roost.observe.alerts",
    "configure_logging": "roost.observe.logging",
    "content_capture_enabled": "roost.observe.tracing",
    "default_redactor": "roost.observe.redaction",
    "get_metrics": "roost.observe.metrics",
    "instrument_app": "roost.observe.instrument",
    "instrument_sandbox_manager": "roost.observe.sandbox_metrics",
    "load_rules": "roost.observe.alerts",
    "parse_rules": "roost.observe.alerts",
    "prometheus_rule": "roost.observe.alerts",
    "prometheus_rule_yaml": "roost.observe.alerts",
    "promql": "roost.observe.alerts",
    "redact": "roost.observe.redaction",
    "remove_redactor": "roost.observe.redaction",
    "run_context": "roost.observe.tracing",
    "setup_tracing": "roost.observe.tracing",
    "shutdown_tracing": "roost.observe.tracing",
    "trace_tree": "roost.observe.tree",
    "webhook_payload": "roost.observe.notifiers",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_names(__name__, _LAZY)


if TYPE_CHECKING:
    from roost.observe.alert_evaluator import AlertEvaluator as AlertEvaluator
    from roost.observe.alert_evaluator import AlertState as AlertState
    from roost.observe.alert_evaluator import Transition as Transition
    from roost.observe.alert_evaluator import UsageSource as UsageSource
    from roost.observe.alerts import AlertRule as AlertRule
    from roost.observe.alerts import MetricExpr as MetricExpr
    from roost.observe.alerts import UsageExpr as UsageExpr
    from roost.observe.alerts import builtin_rules as builtin_rules
    from roost.observe.alerts import load_rules as load_rules
    from roost.observe.alerts import parse_rules as parse_rules
    from roost.observe.alerts import prometheus_rule as prometheus_rule
    from roost.observe.alerts import prometheus_rule_yaml as prometheus_rule_yaml
    from roost.observe.alerts import promql as promql
    from roost.observe.cost import CostCalculator as CostCalculator
    from roost.observe.errors import AlertRuleInvalid as AlertRuleInvalid
    from roost.observe.errors import TraceNotFound as TraceNotFound
    from roost.observe.instrument import Observability as Observability
    from roost.observe.instrument import instrument_app as instrument_app
    from roost.observe.logging import configure_logging as configure_logging
    from roost.observe.metrics import RoostMetrics as RoostMetrics
    from roost.observe.metrics import get_metrics as get_metrics
    from roost.observe.notifiers import Alert as Alert
    from roost.observe.notifiers import LogNotifier as LogNotifier
    from roost.observe.notifiers import Notifier as Notifier
    from roost.observe.notifiers import WebhookNotifier as WebhookNotifier
    from roost.observe.notifiers import webhook_payload as webhook_payload
    from roost.observe.observer import MetricsObserver as MetricsObserver
    from roost.observe.redaction import add_redactor as add_redactor
    from roost.observe.redaction import default_redactor as default_redactor
    from roost.observe.redaction import redact as redact
    from roost.observe.redaction import remove_redactor as remove_redactor
    from roost.observe.sandbox_metrics import (
        instrument_sandbox_manager as instrument_sandbox_manager,
    )
    from roost.observe.store_exporter import LocalStoreSpanExporter as LocalStoreSpanExporter
    from roost.observe.tracing import content_capture_enabled as content_capture_enabled
    from roost.observe.tracing import run_context as run_context
    from roost.observe.tracing import setup_tracing as setup_tracing
    from roost.observe.tracing import shutdown_tracing as shutdown_tracing
    from roost.observe.tree import trace_tree as trace_tree
    from roost.observe.usage import StoreUsageSource as StoreUsageSource
