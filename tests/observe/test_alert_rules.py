"""Alert rule files: validation with useful errors, built-in templates, PrometheusRule export."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from roost.observe import (
    AlertRuleInvalid,
    builtin_rules,
    load_rules,
    parse_rules,
    prometheus_rule,
    promql,
)
from roost.observe.alerts import parse_duration, prometheus_rule_yaml


def test_builtin_templates_cover_three_levels() -> None:
    rules = builtin_rules()
    assert len(rules) >= 10
    by_level = {
        lvl: [r.name for r in rules if r.level == lvl]
        for lvl in ("infrastructure", "service", "business")
    }
    assert {"LocalModelDown", "SandboxPoolExhausted", "StoreUnreachable", "QueueBacklog"} <= set(
        by_level["infrastructure"]
    )
    assert {
        "RunLatencyP95High",
        "RunErrorRateHigh",
        "ToolErrorRateHigh",
        "TimeToFirstTokenP95High",
    } <= set(by_level["service"])
    assert {"ConversationCostHigh", "TenantDailyCostHigh", "UserTokensPerHourHigh"} <= set(
        by_level["business"]
    )
    conv = next(r for r in rules if r.name == "ConversationCostHigh")
    assert conv.usage is not None and conv.usage.per == "session" and conv.usage.currency == "CNY"
    assert conv.threshold == 0.05
    tool = next(r for r in rules if r.name == "ToolErrorRateHigh")
    assert tool.threshold == 0.05 and tool.for_seconds == 300


def test_promql_of_each_function() -> None:
    rules = {r.name: r for r in builtin_rules()}
    assert promql(rules["ToolErrorRateHigh"]) == (
        "(sum by (tool) (rate(roost_tool_errors_total[5m])) / "
        "sum by (tool) (rate(roost_tool_calls_total[5m]))) > 0.05"
    )
    assert promql(rules["RunLatencyP95High"]) == (
        "histogram_quantile(0.95, sum by (le) (rate(roost_run_duration_seconds_bucket[5m]))) > 2"
    )
    assert promql(rules["LocalModelDown"]) == "max (roost_local_model_up) < 1"
    assert promql(rules["ConversationCostHigh"]) == (
        'max(roost_usage_max{currency="CNY",measure="cost",per="session",window="1d"}) > 0.05'
    )


def test_prometheus_rule_manifest_structure() -> None:
    rules = builtin_rules()
    text = prometheus_rule_yaml(rules, namespace="monitoring", labels={"release": "prometheus"})
    doc = yaml.safe_load(text)
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert doc["kind"] == "PrometheusRule"
    assert doc["metadata"]["namespace"] == "monitoring"
    assert doc["metadata"]["labels"]["release"] == "prometheus"
    groups = doc["spec"]["groups"]
    assert [g["name"] for g in groups] == [
        "roost-infrastructure",
        "roost-service",
        "roost-business",
    ]
    exported = [r for g in groups for r in g["rules"]]
    assert len(exported) == len(rules)
    for entry in exported:
        assert set(entry) <= {"alert", "expr", "for", "labels", "annotations"}
        assert isinstance(entry["expr"], str) and entry["expr"].count("(") == entry["expr"].count(
            ")"
        )
        assert entry["labels"]["severity"] in {"info", "warning", "critical"}
        assert "{" not in entry["annotations"]["summary"].replace("{{", "").replace("}}", "")
    tool = next(r for r in exported if r["alert"] == "ToolErrorRateHigh")
    assert tool["for"] == "5m"
    assert "{{ $labels.tool }}" in tool["annotations"]["summary"]
    assert "{{ $value | humanize }}" in tool["annotations"]["summary"]
    assert prometheus_rule(rules)["metadata"]["name"] == "roost-alerts"


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"name": "X", "threshold": 1}, "exactly one of 'expr'"),
        ({"name": "bad name", "threshold": 1, "expr": {"fn": "value", "metric": "m"}}, "rule name"),
        (
            {
                "name": "X",
                "threshold": 1,
                "window": "5 minutes",
                "expr": {"fn": "value", "metric": "m"},
            },
            "invalid duration",
        ),
        (
            {"name": "X", "threshold": 1, "expr": {"fn": "rate", "metric": "roost_queue_depth"}},
            "must end in _total",
        ),
        (
            {"name": "X", "threshold": 1, "expr": {"fn": "ratio", "metric": "a_total"}},
            "needs 'denominator'",
        ),
        ({"name": "X", "threshold": 1, "expr": {"fn": "quantile", "metric": "h"}}, "needs 'q'"),
        (
            {"name": "X", "threshold": 1, "usage": {"measure": "cost", "per": "session"}},
            "needs 'currency'",
        ),
        ({"name": "X", "threshold": 1, "expr": {"fn": "value", "metric": "m"}, "oops": 1}, "oops"),
        ({"name": "X", "expr": {"fn": "value", "metric": "m"}}, "threshold"),
        ({"name": "X", "threshold": 1, "op": "=>", "expr": {"fn": "value", "metric": "m"}}, "op"),
    ],
)
def test_invalid_rules_say_what_to_fix(rule: dict, expected: str) -> None:
    with pytest.raises(AlertRuleInvalid) as err:
        parse_rules([rule])
    assert err.value.code == "alert_rule_invalid"
    assert expected in str(err.value)


def test_duplicate_names_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(AlertRuleInvalid, match="used twice"):
        parse_rules([{"name": "A", "threshold": 1, "expr": {"fn": "value", "metric": "m"}}] * 2)
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [unclosed", encoding="utf-8")
    with pytest.raises(AlertRuleInvalid, match="not valid YAML"):
        load_rules(bad)
    with pytest.raises(AlertRuleInvalid, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")
    good = tmp_path / "good.yaml"
    good.write_text(
        "rules:\n  - name: Busy\n    expr: {fn: value, metric: roost_active_sessions}\n"
        "    op: '>='\n    threshold: 100\n    for: 30s\n    message: '{value} sessions'\n",
        encoding="utf-8",
    )
    [rule] = load_rules(good)
    assert rule.for_seconds == 30 and rule.render_message(120, {}) == "120 sessions"


def test_durations() -> None:
    assert parse_duration("30s") == 30 and parse_duration("5m") == 300
    assert parse_duration("1h") == 3600 and parse_duration("1d") == 86400
    assert parse_duration("250ms") == 0.25
    with pytest.raises(ValueError):
        parse_duration("soon")
