"""``GET /v1/alerts``: the alert rules, the state of each instance and the latest state
changes, as this server's evaluator (:mod:`roost.observe`) sees them (admin only)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.server._http import json_response
from roost.server.auth import Principal
from roost.server.router import Doc, api_route

if TYPE_CHECKING:
    from roost.server.services import Services


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def alerts_body(evaluator: Any) -> dict[str, Any]:
    """Rules, states and history of an ``AlertEvaluator`` (empty without one)."""
    if evaluator is None:
        return {"rules": [], "states": [], "history": []}
    rules = [r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in evaluator.rules]
    states = [
        {
            "rule": s.rule,
            "labels": s.labels,
            "state": s.state,
            "since": s.since,
            "fired_at": s.fired_at,
            "value": _number(s.value),
        }
        for s in evaluator.states.values()
    ]
    history = [
        {
            "at": at,
            "rule": tr.rule,
            "labels": tr.labels,
            "old": tr.old,
            "new": tr.new,
            "value": _number(tr.value),
        }
        for at, tr in reversed(evaluator.transitions)
    ]
    return {"rules": rules, "states": states, "history": history}


def routes(services: Services) -> list[BaseRoute]:
    async def alerts(request: Request, principal: Principal) -> Response:
        principal.require_admin()
        observability = getattr(request.scope.get("app"), "observability", None)
        return json_response(alerts_body(getattr(observability, "evaluator", None)))

    listed = {
        "type": "object",
        "required": ["rules", "states", "history"],
        "properties": {k: {"type": "array"} for k in ("rules", "states", "history")},
    }
    doc = Doc("Alert rules, their state and latest changes (admin)", response=listed, admin=True)
    return [api_route("/v1/alerts", alerts, ["GET"], doc)]
