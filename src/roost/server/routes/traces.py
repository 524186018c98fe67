"""``GET /v1/runs/{id}/trace``: the run's span tree from the local trace store (JSON)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.server._http import json_response
from roost.server.auth import Principal
from roost.server.router import Doc, api_route
from roost.server.routes._common import load_run

if TYPE_CHECKING:
    from roost.server.services import Services


def routes(services: Services) -> list[BaseRoute]:
    async def run_trace(request: Request, principal: Principal) -> Response:
        from roost.observe.tree import trace_tree

        run_id = request.path_params["run_id"]
        await load_run(services, principal, run_id)  # 404 unless the caller may see the run
        if services.flush_traces is not None:
            # spans of a run that just ended may still sit in the batch queue
            import asyncio

            await asyncio.to_thread(services.flush_traces)
        tree = await trace_tree(services.store, run_id)
        if not principal.is_admin:
            for span in tree["spans"]:
                _redact(span)
        if not principal.allows("content.read"):  # operators: timings, not what was said
            from roost.observe.tracing import CONTENT_ATTRIBUTES, CONTENT_EVENT_PREFIXES

            for span in tree["spans"]:
                _strip_content(span, CONTENT_ATTRIBUTES, CONTENT_EVENT_PREFIXES)
        return json_response(tree)

    doc = Doc(
        "The run's span tree (roost.observe; without prompts and replies for operators)",
        response={"type": "object"},
        permission="traces.read",
    )
    return [api_route("/v1/runs/{run_id}/trace", run_trace, ["GET"], doc)]


_SERVER_ONLY = ("exception.message", "exception.stacktrace")
"""Span event attributes an exception records: its text and the server's stack (paths,
queries, someone's data). A user key sees the exception's type; the operator, with an
admin key, all of it."""


def _redact(span: dict[str, Any]) -> None:
    for event in span.get("events") or ():
        attrs = event.get("attributes") if isinstance(event, dict) else None
        if isinstance(attrs, dict) and any(key in attrs for key in _SERVER_ONLY):
            for key in _SERVER_ONLY:
                if key in attrs:
                    attrs[key] = "(shown to admin keys only)"
            # OpenTelemetry also writes "Type: text" into the status of the span it left
            span["status_message"] = attrs.get("exception.type") or "error"
    for child in span.get("children") or ():
        _redact(child)


def _strip_content(span: dict[str, Any], keys: frozenset[str], prefixes: tuple[str, ...]) -> None:
    """Drop the attributes and events that hold prompts, replies and tool payloads."""
    attrs = span.get("attributes")
    if isinstance(attrs, dict):
        for key in [k for k in attrs if k in keys]:
            del attrs[key]
    events = span.get("events")
    if isinstance(events, list):
        span["events"] = [
            e
            for e in events
            if not (isinstance(e, dict) and str(e.get("name")).startswith(prefixes))
        ]
    for child in span.get("children") or ():
        _strip_content(child, keys, prefixes)
