"""Builds the Starlette router from the route modules (one per resource)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, Router

from roost.server.auth import ANONYMOUS, Principal

if TYPE_CHECKING:
    from pydantic import BaseModel

    from roost.server.app import AgentApp

Handler = Callable[[Request, Principal], Awaitable[Response]]


@dataclass(frozen=True)
class Doc:
    """What the OpenAPI document says of a route: the document is built from the routes
    the router serves (:mod:`roost.server.openapi`), so it cannot miss one.

    ``response``: a body model, ``"sse"`` (an event stream, or the run as JSON when not
    streamed), ``"stream"`` (an SSE stream of JSON items) or a JSON schema; ``params``:
    query and header parameters; ``errors``: ``{status: description}`` besides the ones
    every route may answer; ``codes``: other success statuses and their bodies.
    """

    summary: str
    body: type[BaseModel] | dict[str, Any] | None = None
    response: Any = None
    status: int = 200
    params: tuple[dict[str, Any], ...] = ()
    errors: dict[str, str] = field(default_factory=dict)
    codes: dict[str, Any] = field(default_factory=dict)
    admin: bool = False


def api_route(path: str, handler: Handler, methods: list[str], doc: Doc | None = None) -> Route:
    """A route whose handler gets ``(request, principal)`` and is labelled for metrics."""

    async def endpoint(request: Request) -> Response:
        scope = request.scope
        scope["roost.route"] = path
        principal: Principal = scope.get("roost.principal", ANONYMOUS)
        return await handler(request, principal)

    endpoint.__name__ = getattr(handler, "__name__", "endpoint")
    route = Route(path, endpoint, methods=methods)
    route.roost_handler = handler  # type: ignore[attr-defined]  # for RouteTable
    route.roost_doc = doc or Doc(getattr(handler, "__name__", path))  # type: ignore[attr-defined]
    return route


class RouteTable:
    """The api routes matched segment by segment, ahead of Starlette's router.

    Starlette tries every route's regex in turn, then wraps the endpoint in its request
    and exception-handling layers (3 % of the app's instructions per streamed run,
    ``bench/inprocess.py --callgrind``). The table gives the same answer as the router
    for the routes it holds: they are the router's routes in its order, up to the first
    one it cannot match by plain segments (a convertor, a mount, a route another layer
    added), and anything it does not match fully (a wrong method: 405; a trailing
    slash) goes on to the router.
    """

    def __init__(self, routes: list[BaseRoute]) -> None:
        self._by_length: dict[int, list[_Entry]] = {}
        for route in routes:
            handler = getattr(route, "roost_handler", None)
            parsed = _segments(route.path) if isinstance(route, Route) else None
            if handler is None or parsed is None or not isinstance(route, Route):
                break  # keep the router's order: from here on, the router decides
            segments, names = parsed
            entry = _Entry(segments, names, frozenset(route.methods or ()), handler, route.path)
            self._by_length.setdefault(len(segments), []).append(entry)

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
                    params = dict(zip(entry.names, values, strict=True))
                    return entry.handler, entry.template, params
        return None


def _segments(template: str) -> tuple[tuple[str | None, ...], tuple[str, ...]] | None:
    """A route template as segments (None for ``{name}``) and its parameter names; None
    when a segment is anything else with braces (``{name:path}``, ``a{b}``)."""
    segments: list[str | None] = []
    names: list[str] = []
    for part in template.split("/"):
        if part.startswith("{") and part.endswith("}") and ":" not in part:
            segments.append(None)
            names.append(part[1:-1])
        elif "{" in part or "}" in part:
            return None
        else:
            segments.append(part)
    return tuple(segments), tuple(names)


class _Entry:
    __slots__ = ("handler", "methods", "names", "segments", "template")

    def __init__(
        self,
        segments: tuple[str | None, ...],
        names: tuple[str, ...],
        methods: frozenset[str],
        handler: Handler,
        template: str,
    ) -> None:
        self.segments = segments
        self.names = names
        self.methods = methods
        self.handler = handler
        self.template = template


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
