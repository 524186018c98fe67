"""``MetricsObserver``: turns the run executor's hooks into Prometheus metrics and costs.

It matches the server's ``RunObserver`` protocol structurally (observe sits above server
in the layer order and cannot import it): ``run_started``, ``event`` and ``run_finished``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from roost.core import Usage
from roost.observe.cost import CostCalculator
from roost.observe.metrics import RoostMetrics, get_metrics

log = logging.getLogger("roost.observe")


class RunLike(Protocol):
    """The fields of the server's ``RunInfo`` that the observer reads."""

    id: str
    session_id: str
    agent: str
    user_id: str | None
    tenant_id: str | None


@dataclass
class _RunState:
    started: float
    first_token: bool = False
    model: str | None = None


class MetricsObserver:
    """Counts runs, latency, time to first token, tokens and cost, tool calls and errors."""

    def __init__(
        self, metrics: RoostMetrics | None = None, *, costs: CostCalculator | None = None
    ) -> None:
        self.metrics = metrics if metrics is not None else get_metrics()
        self.costs = costs if costs is not None else CostCalculator()
        self._runs: dict[str, _RunState] = {}
        self._sessions: dict[str, int] = {}

    async def run_started(self, run: RunLike) -> None:
        self._runs[run.id] = _RunState(started=time.monotonic())
        self.metrics.runs_started.labels(run.agent or "unknown").inc()
        self._sessions[run.session_id] = self._sessions.get(run.session_id, 0) + 1
        self.metrics.active_sessions.set(len(self._sessions))

    async def event(self, run: RunLike, envelope: dict[str, Any]) -> None:
        state = self._runs.get(run.id)
        kind = envelope.get("type")
        if kind == "text.delta" and state is not None and not state.first_token:
            state.first_token = True
            self.metrics.time_to_first_token.labels(run.agent or "unknown").observe(
                time.monotonic() - state.started
            )
        elif kind == "usage":
            usage = Usage.model_validate(envelope.get("usage") or {})
            model = envelope.get("model")
            if state is not None and model:
                state.model = model
            self.metrics.record_usage(model, run.tenant_id, self.costs.price(model, usage))
        elif kind == "tool.result":
            result = envelope.get("result") or {}
            name = str(envelope.get("name") or result.get("name") or "unknown")
            code = None
            if result.get("is_error"):
                code = str(result.get("code") or "tool_failed")
            self.metrics.record_tool_call(name, error_code=code)

    async def run_finished(self, run: RunLike, status: str, usage: Usage | None) -> None:
        state = self._runs.pop(run.id, None)
        agent = run.agent or "unknown"
        self.metrics.runs_finished.labels(agent, status).inc()
        if state is not None:
            self.metrics.run_duration.labels(agent).observe(time.monotonic() - state.started)
        left = self._sessions.get(run.session_id, 0) - 1
        if left > 0:
            self._sessions[run.session_id] = left
        else:
            self._sessions.pop(run.session_id, None)
        self.metrics.active_sessions.set(len(self._sessions))
