"""The in-process evaluator: windows over the real registry, `for` state, usage from the
store, and notifications to a real webhook receiver on 127.0.0.1 (with retries)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from roost.core import Usage
from roost.observe import (
    AlertEvaluator,
    LogNotifier,
    RoostMetrics,
    StoreUsageSource,
    WebhookNotifier,
    parse_rules,
)
from roost.observe.alert_evaluator import histogram_quantile
from roost.store import Store

from ._webhook_receiver import WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver(fail_first=1)
    yield r
    r.close()


TOOL_RULE = {
    "name": "ToolErrorRateHigh",
    "expr": {
        "fn": "ratio",
        "metric": "roost_tool_errors_total",
        "denominator": "roost_tool_calls_total",
        "by": ["tool"],
    },
    "window": "5m",
    "op": ">",
    "threshold": 0.05,
    "for": "5m",
    "labels": {"team": "agents"},
    "message": "Tool {tool} fails {value} of its calls",
}


async def test_tool_error_rate_goes_pending_firing_resolved(
    metrics: RoostMetrics, receiver: WebhookReceiver
) -> None:
    hook = WebhookNotifier(receiver.url, backoff=0.01)
    ev = AlertEvaluator(parse_rules([TOOL_RULE]), metrics=metrics, notifiers=[hook], interval=60)
    t = 1_000_000.0
    assert await ev.evaluate_once(now=t) == []  # first snapshot: no window yet
    for _ in range(18):
        metrics.record_tool_call("search")
    metrics.record_tool_call("search", error_code="tool_timeout")
    metrics.record_tool_call("search", error_code="tool_timeout")  # 2/20 = 10 %
    for _ in range(20):
        metrics.record_tool_call("calculator")  # healthy tool: no alert

    [tr] = await ev.evaluate_once(now=t + 60)
    assert (tr.rule, tr.labels, tr.old, tr.new) == (
        "ToolErrorRateHigh",
        {"tool": "search"},
        "inactive",
        "pending",
    )
    assert tr.value == pytest.approx(0.1)
    assert receiver.bodies == []  # pending does not notify
    # condition holds for the `for` duration: still in the window since t, fires at t+360
    for _ in range(2):
        metrics.record_tool_call("search", error_code="tool_timeout")
    assert await ev.evaluate_once(now=t + 200) == []
    [tr] = await ev.evaluate_once(now=t + 360)
    assert (tr.old, tr.new) == ("pending", "firing")
    assert receiver.attempts == 2  # the first POST got 503 and was retried
    [body] = receiver.bodies
    assert body["version"] == "4" and body["status"] == "firing"
    [alert] = body["alerts"]
    assert alert["labels"] == {
        "alertname": "ToolErrorRateHigh",
        "severity": "warning",
        "level": "service",
        "team": "agents",
        "tool": "search",
    }
    # the 5m window now starts at the t+60 snapshot: 2 calls since, both failed
    assert alert["annotations"]["summary"] == "Tool search fails 1.0 of its calls"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert body["commonLabels"]["alertname"] == "ToolErrorRateHigh"
    assert [s.rule for s in ev.firing()] == ["ToolErrorRateHigh"]
    firing = [s for s in metrics.samples() if s.name == "roost_alerts_firing"]
    assert firing[0].value == 1
    # no new calls for a whole window: the ratio has no data, the alert resolves
    [tr] = await ev.evaluate_once(now=t + 1000)
    assert (tr.old, tr.new) == ("firing", "resolved")
    assert receiver.bodies[-1]["status"] == "resolved"
    assert receiver.bodies[-1]["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"


async def test_pending_alert_that_clears_never_notifies(
    metrics: RoostMetrics, receiver: WebhookReceiver
) -> None:
    rule = parse_rules(
        [
            {
                "name": "Backlog",
                "expr": {"fn": "value", "metric": "roost_queue_depth"},
                "threshold": 50,
                "for": "5m",
            }
        ]
    )
    ev = AlertEvaluator(
        rule, metrics=metrics, notifiers=[WebhookNotifier(receiver.url, backoff=0.01)]
    )
    metrics.queue_depth.set(80)
    [tr] = await ev.evaluate_once(now=100.0)
    assert tr.new == "pending"
    metrics.queue_depth.set(3)
    [tr] = await ev.evaluate_once(now=200.0)
    assert (tr.old, tr.new) == ("pending", "inactive")
    assert receiver.attempts == 0


async def test_latency_quantile_rule_and_log_notifier(
    metrics: RoostMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    rule = parse_rules(
        [
            {
                "name": "RunLatencyP95High",
                "expr": {"fn": "quantile", "q": 0.95, "metric": "roost_run_duration_seconds"},
                "threshold": 2,
                "message": "p95 {value}s",
            }
        ]
    )
    ev = AlertEvaluator(rule, metrics=metrics, notifiers=[LogNotifier()])
    await ev.evaluate_once(now=0.0)
    for _ in range(90):
        metrics.run_duration.labels("bot").observe(0.3)
    for _ in range(10):
        metrics.run_duration.labels("bot").observe(8.0)
    with caplog.at_level(logging.WARNING, logger="roost.alerts"):
        [tr] = await ev.evaluate_once(now=30.0)
    assert tr.new == "firing" and 5.0 < tr.value <= 10.0
    assert "alert RunLatencyP95High firing: p95" in caplog.text


def test_histogram_quantile_matches_prometheus_interpolation() -> None:
    buckets = [(0.5, 50.0), (1.0, 90.0), (2.0, 100.0), (float("inf"), 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.5)
    assert histogram_quantile(0.95, buckets) == pytest.approx(1.5)
    assert histogram_quantile(0.25, buckets) == pytest.approx(0.25)
    assert str(histogram_quantile(0.9, [])) == "nan"


async def test_conversation_cost_rule_reads_runs_from_the_store(
    store: Store, metrics: RoostMetrics, receiver: WebhookReceiver
) -> None:
    cheap = await store.create_session(app="a", agent="bot", user_id="u1", tenant_id="t1")
    pricey = await store.create_session(app="a", agent="bot", user_id="u2", tenant_id="t1")
    for session, cost in ((cheap, 0.01), (pricey, 0.04), (pricey, 0.03)):
        run = await store.create_run(
            session_id=session.id, agent="bot", user_id=session.user_id, tenant_id="t1"
        )
        await store.flush_run(
            run.id,
            [],
            None,
            session_id=session.id,
            status="succeeded",
            usage=Usage(input_tokens=1000, output_tokens=100, cost=cost, currency="CNY"),
            model="qwen-plus",
        )
    rules = parse_rules(
        [
            {
                "name": "ConversationCostHigh",
                "level": "business",
                "usage": {"measure": "cost", "per": "session", "currency": "CNY"},
                "window": "1d",
                "threshold": 0.05,
                "message": "Conversation {session} cost {value} CNY",
            },
            {
                "name": "UsdSpend",
                "usage": {"measure": "cost", "per": "session", "currency": "USD"},
                "window": "1d",
                "threshold": 0,
            },
        ]
    )
    ev = AlertEvaluator(
        rules,
        metrics=metrics,
        usage=StoreUsageSource(store),
        notifiers=[WebhookNotifier(receiver.url, backoff=0.01)],
    )
    transitions = await ev.evaluate_once(now=datetime.now(UTC).timestamp() + 1)
    assert [(t.rule, t.labels, t.new) for t in transitions] == [
        ("ConversationCostHigh", {"session": pricey.id}, "firing")
    ]
    assert transitions[0].value == pytest.approx(0.07)
    alert = receiver.bodies[0]["alerts"][0]
    assert alert["annotations"]["summary"] == f"Conversation {pricey.id} cost 0.07 CNY"
    top = [
        s for s in metrics.samples() if s.name == "roost_usage_max" and s.label("currency") == "CNY"
    ]
    assert top[0].value == pytest.approx(0.07) and top[0].label("per") == "session"


async def test_evaluator_background_task_runs_and_stops(metrics: RoostMetrics) -> None:
    import asyncio

    rule = parse_rules(
        [
            {
                "name": "Down",
                "expr": {"fn": "value", "metric": "roost_local_model_up"},
                "op": "<",
                "threshold": 1,
            }
        ]
    )
    ev = AlertEvaluator(rule, metrics=metrics, notifiers=[], interval=0.01)
    metrics.local_model_up.labels("qwen2.5-coder-0.5b").set(0)
    ev.start()
    for _ in range(200):
        if ev.firing():
            break
        await asyncio.sleep(0.01)
    await ev.stop()
    assert [s.rule for s in ev.firing()] == ["Down"]
