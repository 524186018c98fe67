"""``RunSpanObserver``: a root span per server run, and the run's ids in OTel baggage.

``run_started`` is awaited inside the run's own task, so the context it attaches (the
run span and the baggage) stays current for the whole run: the agent's ``invoke_agent``,
``chat`` and ``execute_tool`` spans become its children and carry the run's ids, and so
do log records. The context dies with the task; it is never detached.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import baggage, context, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from roost.core import Usage
from roost.observe.observer import RunLike

_tracer = trace.get_tracer("roost.server")


class RunSpanObserver:
    """Opens ``run {agent}`` at run start, closes it with status, tokens and cost at the end."""

    def __init__(self) -> None:
        self._spans: dict[str, trace.Span] = {}

    async def run_started(self, run: RunLike) -> None:
        ctx = context.get_current()
        ids = {
            "roost.run_id": run.id,
            "roost.session_id": run.session_id,
            "roost.user_id": run.user_id,
            "roost.tenant_id": run.tenant_id,
        }
        for key, value in ids.items():
            if value is not None:
                ctx = baggage.set_baggage(key, value, ctx)
        attrs: dict[str, Any] = {k: v for k, v in ids.items() if v is not None}
        attrs["gen_ai.agent.name"] = run.agent
        attrs["gen_ai.conversation.id"] = run.session_id
        span = _tracer.start_span(
            f"run {run.agent}", context=ctx, kind=SpanKind.SERVER, attributes=attrs
        )
        self._spans[run.id] = span
        context.attach(trace.set_span_in_context(span, ctx))

    async def event(self, run: RunLike, envelope: dict[str, Any]) -> None:
        if envelope.get("type") != "error":
            return
        span = self._spans.get(run.id)
        if span is not None:
            span.add_event(
                "roost.error",
                {
                    "code": str(envelope.get("code", "")),
                    "recoverable": bool(envelope.get("recoverable")),
                },
            )

    async def run_finished(self, run: RunLike, status: str, usage: Usage | None) -> None:
        span = self._spans.pop(run.id, None)
        if span is None:
            return
        span.set_attribute("roost.run.status", status)
        if usage is not None:
            span.set_attribute("roost.run.input_tokens", usage.input_tokens)
            span.set_attribute("roost.run.output_tokens", usage.output_tokens)
            if usage.cost is not None:
                span.set_attribute("roost.run.cost", usage.cost)
                span.set_attribute("roost.run.currency", usage.currency or "")
        if status == "failed":
            span.set_status(Status(StatusCode.ERROR, "run failed"))
        elif status == "succeeded":
            span.set_status(Status(StatusCode.OK))
        span.end()
