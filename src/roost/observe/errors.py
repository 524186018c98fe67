"""Errors of the observability layer (stable codes, see docs/observability.md)."""

from __future__ import annotations

from roost.core import ConfigError, NotFound


class TraceNotFound(NotFound):
    """No spans are stored for this run."""

    code = "trace_not_found"


class AlertRuleInvalid(ConfigError):
    """An alert rule file or rule is invalid."""

    code = "alert_rule_invalid"
