"""Builds the Starlette router from the route modules (one per resource)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, Router

from roost.server.auth import ANONYMOUS, Principal

if TYPE_CHECKING:
    from roost.server.app import AgentApp

Handler = Callable[[Request, Principal], Awaitable[Response]]


def api_route(path: str, handler: Handler, methods: list[str]) -> Route:
    """A route whose handler gets ``(request, principal)`` and is labelled for metrics."""

    async def endpoint(request: Request) -> Response:
        scope = request.scope
        scope["roost.route"] = path
        principal: Principal = scope.get("roost.principal", ANONYMOUS)
        return await handler(request, principal)

    endpoint.__name__ = getattr(handler, "__name__", "endpoint")
    return Route(path, endpoint, methods=methods)


def build_router(app: AgentApp) -> Router:
    from roost.server.routes import (
        custom,
        health,
        keys,
        openai_compat,
        runs,
        sessions,
        tasks,
        traces,
        usage,
    )

    routes: list[BaseRoute] = []
    for module in (health, sessions, runs, traces, usage, keys, openai_compat, tasks, custom):
        routes.extend(module.routes(app))
    routes.extend(app.extra_routes)
    return Router(routes=routes)


def principal_of(request: Request) -> Principal:
    value: Any = request.scope.get("roost.principal", ANONYMOUS)
    assert isinstance(value, Principal)
    return value
