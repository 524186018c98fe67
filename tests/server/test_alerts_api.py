"""``GET /v1/alerts``'s body: the rules, each instance's state and the latest state
changes, newest first, from a real evaluator over a real metrics registry."""

from __future__ import annotations

from roost.observe import AlertEvaluator, RoostMetrics, parse_rules
from roost.server.routes.alerts import alerts_body

RULE = {
    "name": "ToolErrors",
    "expr": {"fn": "increase", "metric": "roost_tool_errors_total"},
    "window": "5m",
    "op": ">",
    "threshold": 0,
}


async def test_the_body_lists_rules_states_and_changes_newest_first() -> None:
    metrics = RoostMetrics()
    ev = AlertEvaluator(parse_rules([RULE]), metrics=metrics, interval=60)
    t = 1_000_000.0
    await ev.evaluate_once(now=t)
    metrics.record_tool_call("search", error_code="tool_timeout")
    await ev.evaluate_once(now=t + 60)
    await ev.evaluate_once(now=t + 1000)  # no errors in the window: resolved
    body = alerts_body(ev)
    assert [r["name"] for r in body["rules"]] == ["ToolErrors"]
    assert body["states"] == []  # resolved instances are dropped
    changes = [(h["old"], h["new"], h["at"]) for h in body["history"]]
    assert changes == [("firing", "resolved", t + 1000), ("inactive", "firing", t + 60)]


def test_without_an_evaluator_the_lists_are_empty() -> None:
    assert alerts_body(None) == {"rules": [], "states": [], "history": []}
