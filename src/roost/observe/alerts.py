"""Alert rules: YAML that speaks metrics and business usage, with PromQL export.

A rule has either ``expr`` (a function over the local Prometheus registry: ``value``,
``rate``, ``increase``, ``ratio``, ``quantile``) or ``usage`` (an aggregate of run usage
from the store: cost or tokens per session, user, tenant, model or agent), a ``window``,
``op`` + ``threshold``, a ``for`` duration, labels, a severity and a message template
(``{value}``, ``{threshold}`` and label names such as ``{tool}``). The same rules run
in-process (:mod:`roost.observe.alert_evaluator`) and export as a PrometheusRule.
"""

from __future__ import annotations

import re
import string
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from roost.observe.errors import AlertRuleInvalid

_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_METRIC_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")

Op = Literal[">", ">=", "<", "<=", "==", "!="]
Level = Literal["infrastructure", "service", "business"]
Severity = Literal["info", "warning", "critical"]


def parse_duration(text: str | int | float) -> float:
    """``"30s"``, ``"5m"``, ``"1h"``, ``"1d"`` (or a number of seconds) → seconds."""
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return float(text)
    match = _DURATION_RE.match(text.strip())
    if not match:
        raise ValueError(f"invalid duration {text!r}; write e.g. 30s, 5m, 1h or 1d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def format_duration(seconds: float) -> str:
    """Seconds → the largest whole Prometheus unit (``300`` → ``5m``)."""
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds * 1000)}ms"


def compare(value: float, op: Op, threshold: float) -> bool:
    return {
        ">": value > threshold,
        ">=": value >= threshold,
        "<": value < threshold,
        "<=": value <= threshold,
        "==": value == threshold,
        "!=": value != threshold,
    }[op]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class MetricExpr(_Strict):
    """A function over the local registry, one result per ``by`` group."""

    fn: Literal["value", "rate", "increase", "ratio", "quantile"]
    metric: str
    match: dict[str, str] = Field(default_factory=dict)
    by: tuple[str, ...] = ()
    agg: Literal["sum", "max", "min", "avg"] = "sum"
    denominator: str | None = None
    denominator_match: dict[str, str] = Field(default_factory=dict)
    q: float | None = None

    @field_validator("metric", "denominator")
    @classmethod
    def _metric_name(cls, v: str | None) -> str | None:
        if v is not None and not _METRIC_RE.match(v):
            raise ValueError(f"{v!r} is not a Prometheus metric name")
        return v

    @model_validator(mode="after")
    def _fn_args(self) -> MetricExpr:
        if self.fn == "ratio" and not self.denominator:
            raise ValueError("fn 'ratio' needs 'denominator' (the metric to divide by)")
        if self.fn == "quantile" and (self.q is None or not 0 < self.q < 1):
            raise ValueError("fn 'quantile' needs 'q' between 0 and 1 (e.g. 0.95)")
        if self.fn in ("rate", "increase", "ratio") and not self.metric.endswith("_total"):
            raise ValueError(
                f"fn {self.fn!r} applies to counters; {self.metric!r} must end in _total"
            )
        return self


class UsageExpr(_Strict):
    """An aggregate of run usage in the window, one result per group (``per``)."""

    measure: Literal["cost", "tokens", "input_tokens", "output_tokens", "runs"]
    per: Literal["session", "user", "tenant", "model", "agent"]
    currency: str | None = None
    """For ``cost``: only runs billed in this currency count (prices are not converted)."""

    @model_validator(mode="after")
    def _currency(self) -> UsageExpr:
        if self.measure == "cost" and not self.currency:
            raise ValueError("a cost aggregate needs 'currency' (e.g. CNY or USD)")
        return self


class AlertRule(_Strict):
    """One alert rule (see the module docstring for the fields)."""

    name: str
    level: Level = "service"
    expr: MetricExpr | None = None
    usage: UsageExpr | None = None
    window: str = "5m"
    op: Op = ">"
    threshold: float
    for_: str = Field("0s", alias="for")
    severity: Severity = "warning"
    labels: dict[str, str] = Field(default_factory=dict)
    message: str = "{name}: value {value} {op} {threshold}"
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError(
                f"rule name {v!r} must be letters, digits and _ (e.g. ToolErrorRateHigh)"
            )
        return v

    @field_validator("window", "for_")
    @classmethod
    def _valid_duration(cls, v: str) -> str:
        parse_duration(v)
        return v

    @model_validator(mode="after")
    def _one_source(self) -> AlertRule:
        if (self.expr is None) == (self.usage is None):
            raise ValueError(
                "a rule needs exactly one of 'expr' (a metric) or 'usage' (an aggregate)"
            )
        if self.window_seconds <= 0:
            raise ValueError("window must be > 0")
        _check_template(self.message)
        return self

    @property
    def window_seconds(self) -> float:
        return parse_duration(self.window)

    @property
    def for_seconds(self) -> float:
        return parse_duration(self.for_)

    def render_message(self, value: float, labels: dict[str, str]) -> str:
        fields: dict[str, Any] = {
            **labels,
            "name": self.name,
            "value": round(value, 6),
            "threshold": self.threshold,
            "op": self.op,
            "window": self.window,
            "severity": self.severity,
        }
        return string.Formatter().vformat(self.message, (), _Missing(fields))

    def to_yaml_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_defaults=True, exclude_none=True) | {
            "name": self.name,
            "threshold": self.threshold,
        }


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _check_template(message: str) -> None:
    try:
        list(string.Formatter().parse(message))
    except ValueError as exc:
        raise ValueError(
            f"message template is invalid ({exc}); use {{value}}, {{tool}} …"
        ) from None


def _error_text(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "rule"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def parse_rules(data: Any, *, source: str = "rules") -> list[AlertRule]:
    """Validate rules from parsed YAML: a list, or ``{"rules": [...]}``/``{"groups": ...}``."""
    if isinstance(data, dict) and "rules" in data:
        data = data["rules"]
    if not isinstance(data, list):
        raise AlertRuleInvalid(
            f"{source}: expected a list of rules (or a mapping with 'rules')",
            hint="write 'rules:' followed by '- name: …' items",
        )
    rules: list[AlertRule] = []
    seen: set[str] = set()
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise AlertRuleInvalid(f"{source}: rule #{i + 1} is not a mapping")
        label = item.get("name", f"#{i + 1}")
        try:
            rule = AlertRule.model_validate(item)
        except ValidationError as exc:
            raise AlertRuleInvalid(
                f"{source}: rule {label}: {_error_text(exc)}",
                hint="see docs/observability.md#alert-rules for the rule format",
                rule=str(label),
            ) from None
        except ValueError as exc:
            raise AlertRuleInvalid(f"{source}: rule {label}: {exc}", rule=str(label)) from None
        if rule.name in seen:
            raise AlertRuleInvalid(
                f"{source}: rule name {rule.name!r} is used twice", rule=rule.name
            )
        seen.add(rule.name)
        rules.append(rule)
    return rules


def load_rules(path: str | Path) -> list[AlertRule]:
    """Read and validate a YAML rule file (raises ``AlertRuleInvalid`` saying what to fix)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise AlertRuleInvalid(f"cannot read rule file {p}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AlertRuleInvalid(f"{p} is not valid YAML: {exc}") from None
    return parse_rules(data, source=str(p))


def builtin_rules(level: Level | None = None) -> list[AlertRule]:
    """The built-in templates (infrastructure, service, business)."""
    rules: list[AlertRule] = []
    folder = resources.files("roost.observe") / "alert_templates"
    for name in ("infrastructure.yaml", "service.yaml", "business.yaml"):
        text = (folder / name).read_text(encoding="utf-8")
        rules.extend(parse_rules(yaml.safe_load(text), source=f"builtin:{name}"))
    return [r for r in rules if level is None or r.level == level]


# --- PromQL export -----------------------------------------------------------------------
def _selector(metric: str, match: dict[str, str]) -> str:
    if not match:
        return metric
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(match.items()))
    return f"{metric}{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _by(labels: tuple[str, ...]) -> str:
    return f" by ({', '.join(labels)})" if labels else ""


def _threshold(value: float) -> str:
    return repr(int(value)) if float(value).is_integer() else repr(value)


def promql(rule: AlertRule) -> str:
    """The rule as a PromQL alert expression (``<expr> <op> <threshold>``)."""
    w = format_duration(rule.window_seconds)
    if rule.usage is not None:
        u = rule.usage
        match = {"measure": u.measure, "per": u.per, "window": w}
        if u.currency:
            match["currency"] = u.currency
        expr = f"max({_selector('roost_usage_max', match)})"
    else:
        e = rule.expr
        assert e is not None
        sel = _selector(e.metric, e.match)
        by = _by(e.by)
        if e.fn == "value":
            expr = f"{e.agg}{by} ({sel})"
        elif e.fn in ("rate", "increase"):
            expr = f"sum{by} ({e.fn}({sel}[{w}]))"
        elif e.fn == "ratio":
            den = _selector(e.denominator or "", e.denominator_match)
            expr = f"(sum{by} (rate({sel}[{w}])) / sum{by} (rate({den}[{w}])))"
        else:
            bucket = _selector(f"{e.metric}_bucket", e.match)
            group = ", ".join(("le", *e.by))
            expr = f"histogram_quantile({e.q}, sum by ({group}) (rate({bucket}[{w}])))"
    return f"{expr} {rule.op} {_threshold(rule.threshold)}"


def _prom_template(rule: AlertRule) -> str:
    out = []
    for literal, field, _spec, _conv in string.Formatter().parse(rule.message):
        out.append(literal.replace("{{", "{").replace("}}", "}"))
        if field is None:
            continue
        if field == "value":
            out.append("{{ $value | humanize }}")
        elif field in ("threshold", "op", "window", "severity", "name"):
            out.append(
                str(
                    {
                        "threshold": _threshold(rule.threshold),
                        "op": rule.op,
                        "window": rule.window,
                        "severity": rule.severity,
                        "name": rule.name,
                    }[field]
                )
            )
        else:
            out.append("{{ $labels." + field + " }}")
    return "".join(out)


def prometheus_rule(
    rules: list[AlertRule],
    *,
    name: str = "roost-alerts",
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A ``monitoring.coreos.com/v1`` PrometheusRule manifest, one group per level."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for rule in rules:
        entry: dict[str, Any] = {"alert": rule.name, "expr": promql(rule)}
        if rule.for_seconds > 0:
            entry["for"] = format_duration(rule.for_seconds)
        entry["labels"] = {"severity": rule.severity, "level": rule.level, **rule.labels}
        annotations = {"summary": _prom_template(rule)}
        if rule.description:
            annotations["description"] = rule.description
        entry["annotations"] = annotations
        groups.setdefault(f"roost-{rule.level}", []).append(entry)
    metadata: dict[str, Any] = {
        "name": name,
        "labels": {"app.kubernetes.io/name": "roost", "app.kubernetes.io/component": "alerts"}
        | (labels or {}),
    }
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": metadata,
        "spec": {"groups": [{"name": g, "rules": r} for g, r in groups.items()]},
    }


def prometheus_rule_yaml(rules: list[AlertRule], **kwargs: Any) -> str:
    return yaml.safe_dump(prometheus_rule(rules, **kwargs), sort_keys=False, allow_unicode=True)


def rules_yaml(rules: list[AlertRule]) -> str:
    """Rules back to the Roost YAML format (``roost alerts list --yaml``)."""
    return yaml.safe_dump(
        {"rules": [r.to_yaml_dict() for r in rules]}, sort_keys=False, allow_unicode=True
    )
