"""``roost alerts list|check|export``."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from roost.cli.alerts import app

runner = CliRunner()

CUSTOM = """
rules:
  - name: SupportBotSlow
    level: service
    expr: {fn: quantile, q: 0.99, metric: roost_run_duration_seconds, match: {agent: support}}
    window: 10m
    threshold: 5
    for: 10m
    severity: critical
    labels: {team: support}
    message: "p99 of the support bot is {value}s"
"""


def test_list_shows_the_builtin_templates() -> None:
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    for name in ("LocalModelDown", "ToolErrorRateHigh", "ConversationCostHigh"):
        assert name in result.output
    result = runner.invoke(app, ["list", "--level", "business", "--yaml"])
    rules = yaml.safe_load(result.output)["rules"]
    assert {r["level"] for r in rules} == {"business"} and len(rules) >= 3


def test_check_accepts_good_files_and_explains_bad_ones(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(CUSTOM, encoding="utf-8")
    result = runner.invoke(app, ["check", str(good)])
    assert result.exit_code == 0 and "1 rule(s) valid" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n  - name: X\n    expr: {fn: rate, metric: roost_queue_depth}\n    threshold: 1\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["check", str(bad)])
    assert result.exit_code == 1
    assert "alert_rule_invalid" in result.output and "_total" in result.output


def test_export_prints_a_prometheus_rule_manifest(tmp_path: Path) -> None:
    custom = tmp_path / "custom.yaml"
    custom.write_text(CUSTOM, encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "export",
            "--rules",
            str(custom),
            "--namespace",
            "monitoring",
            "-l",
            "release=kube-prometheus",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load(result.output)
    assert doc["apiVersion"] == "monitoring.coreos.com/v1" and doc["kind"] == "PrometheusRule"
    assert doc["metadata"]["namespace"] == "monitoring"
    assert doc["metadata"]["labels"]["release"] == "kube-prometheus"
    rules = {r["alert"]: r for g in doc["spec"]["groups"] for r in g["rules"]}
    assert "LocalModelDown" in rules  # built-ins are included by default
    mine = rules["SupportBotSlow"]
    assert mine["expr"] == (
        'histogram_quantile(0.99, sum by (le) (rate(roost_run_duration_seconds_bucket{agent="support"}[10m]))) > 5'
    )
    assert mine["for"] == "10m" and mine["labels"]["team"] == "support"
    out = tmp_path / "rule.yaml"
    result = runner.invoke(app, ["export", "--no-builtin", "--rules", str(custom), "-o", str(out)])
    assert result.exit_code == 0
    only = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert [r["alert"] for g in only["spec"]["groups"] for r in g["rules"]] == ["SupportBotSlow"]


def test_export_rejects_bad_labels_and_nothing_to_export() -> None:
    result = runner.invoke(app, ["export", "-l", "novalue"])
    assert result.exit_code == 1 and "key=value" in result.output
    result = runner.invoke(app, ["export", "--no-builtin"])
    assert result.exit_code == 1 and "no rules to export" in result.output
