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
    route = Route(path, endpoint, methods=methods)
    route.roost_handler = handler  # type: ignore[attr-defined]  # for RouteTable
    return route


class RouteTable:
    """The api routes matched segment by segment, ahead of Starlette's router.

    Starlette tries every route's regex in turn, then wraps the endpoint in its request
    and exception-handling layers; for the two requests of a streamed run that was a
    tenth of the server's CPU. The table gives the same answer as the router for the
    routes it holds: they are the router's routes in its order, up to the first one it
    cannot match by plain segments (a convertor, a mount, a route another layer added),
    and anything it does not match fully (a wrong method: 405; a trailing slash) goes
    on to the router.
    """

    def __init__(self, routes: list[BaseRoute]) -> None:
        self._by_length: dict[int, list[_Entry]] = {}
        for route in routes:
            handler = getattr(route, "roost_handler", None)
            if handler is None or not isinstance(route, Route):
                break  # keep the router's order: from here on, the router decides
            segments: list[str | None] = []
            names: list[str] = []
            for part in route.path.split("/"):
                if part.startswith("{") and part.endswith("}") and ":" not in part:
                    segments.append(None)
                    names.append(part[1:-1])
                elif "{" in part or "}" in part:
                    break  # a convertor or a partial parameter
                else:
                    segments.append(part)
            else:
                entry = _Entry(tuple(segments), tuple(names), frozenset(route.methods or ()))
                entry.handler, entry.template = handler, route.path
                self._by_length.setdefault(len(segments), []).append(entry)
                continue
            break

    def match(self, method: str, path: str) -> tuple[Handler, str, dict[str, str]] | None:
        """``(handler, route template, path params)``, or None for the router to decide."""
        parts = path.split("/")
        for entry in self._by_length.get(len(parts), ()):
            values: list[str] = []
            for part, want in zip(parts, entry.segments, strict=True):
                if want is None:
                    if not part:
                        break
                    values.append(part)
                elif part != want:
                    break
            else:
                if method in entry.methods:
                    return (
                        entry.handler,
                        entry.template,
                        dict(zip(entry.names, values, strict=True)),
                    )
        return None


class _Entry:
    __slots__ = ("handler", "methods", "names", "segments", "template")

    def __init__(
        self, segments: tuple[str | None, ...], names: tuple[str, ...], methods: frozenset[str]
    ) -> None:
        self.segments = segments
        self.names = names
        self.methods = methods
        self.handler: Handler
        self.template = ""


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
