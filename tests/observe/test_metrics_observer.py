"""MetricsObserver turns run envelopes into metrics; the registry renders valid exposition."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from prometheus_client.parser import text_string_to_metric_families

from roost.core import Usage
from roost.observe import MetricsObserver, RoostMetrics
from roost.observe.metrics import value_of


@dataclass
class Run:
    id: str
    session_id: str
    agent: str
    user_id: str | None = "u1"
    tenant_id: str | None = "acme"


async def test_observer_counts_runs_tokens_cost_and_tools(metrics: RoostMetrics) -> None:
    obs = MetricsObserver(metrics)
    run = Run("run_1", "ses_1", "bot")
    await obs.run_started(run)
    assert value_of(metrics.samples(), "roost_active_sessions") == 1
    await obs.event(run, {"type": "text.delta", "delta": "hi"})
    await obs.event(run, {"type": "text.delta", "delta": " there"})
    # unpriced usage from the provider gets its cost from the price table
    await obs.event(
        run,
        {
            "type": "usage",
            "model": "gpt-4o-mini",
            "usage": {"input_tokens": 1000, "output_tokens": 1000},
        },
    )
    await obs.event(
        run,
        {
            "type": "tool.result",
            "name": "search",
            "result": {"tool_use_id": "c1", "is_error": False},
        },
    )
    await obs.event(
        run,
        {
            "type": "tool.result",
            "name": "search",
            "result": {"tool_use_id": "c2", "is_error": True, "code": "tool_timeout"},
        },
    )
    await obs.run_finished(run, "succeeded", Usage(input_tokens=1000, output_tokens=1000))
    s = metrics.samples()
    assert value_of(s, "roost_runs_started_total", agent="bot") == 1
    assert value_of(s, "roost_runs_finished_total", agent="bot", status="succeeded") == 1
    assert (
        value_of(s, "roost_time_to_first_token_seconds_count", agent="bot") == 1
    )  # only the first delta
    assert value_of(s, "roost_run_duration_seconds_count", agent="bot") == 1
    assert (
        value_of(
            s, "roost_model_tokens_total", model="gpt-4o-mini", tenant="acme", direction="input"
        )
        == 1000
    )
    assert value_of(
        s, "roost_model_cost_total", model="gpt-4o-mini", currency="USD"
    ) == pytest.approx(0.00015 + 0.0006)
    assert value_of(s, "roost_tool_calls_total", tool="search") == 2
    assert value_of(s, "roost_tool_calls_total", tool="search", status="error") == 1
    assert value_of(s, "roost_tool_errors_total", tool="search", code="tool_timeout") == 1
    assert value_of(s, "roost_active_sessions") == 0


def test_exposition_parses_and_names_follow_conventions(metrics: RoostMetrics) -> None:
    metrics.sandbox_pool_size.labels("bwrap").set(3)
    metrics.sandbox_acquires.labels("bwrap", "warm").inc()
    metrics.local_model_up.labels("qwen2.5-coder-0.5b").set(1)
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    expected = {
        "roost_runs_started": "counter",
        "roost_runs_finished": "counter",
        "roost_run_duration_seconds": "histogram",
        "roost_time_to_first_token_seconds": "histogram",
        "roost_model_tokens": "counter",
        "roost_model_cost": "counter",
        "roost_tool_calls": "counter",
        "roost_tool_errors": "counter",
        "roost_sandbox_pool_size": "gauge",
        "roost_sandbox_acquires": "counter",
        "roost_active_sessions": "gauge",
        "roost_queue_depth": "gauge",
        "roost_local_model_up": "gauge",
    }
    for name, kind in expected.items():
        assert families[name].type == kind, name
    assert 'roost_sandbox_pool_size{type="bwrap"} 3.0' in body.decode()


def test_docs_list_every_metric(metrics: RoostMetrics) -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text(encoding="utf-8")
    for family in metrics.registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        assert f"`{name}`" in doc, f"{name} is not documented in docs/metrics.md"
