"""An API route: a handler of ``(request, principal)`` and what the OpenAPI document says
of it (the router is built in :mod:`roost.server.routes`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from roost.server.auth import ANONYMOUS, Principal

if TYPE_CHECKING:
    from pydantic import BaseModel


Handler = Callable[[Request, Principal], Awaitable[Response]]


@dataclass(frozen=True)
class Doc:
    """What the OpenAPI document says of a route: the document is built from the routes
    the router serves (:mod:`roost.server.openapi`), so it cannot miss one.

    ``response``: a body model, ``"sse"`` (an event stream, or the run as JSON when not
    streamed), ``"stream"`` (an SSE stream of JSON items), media types, or a JSON schema;
    ``params``: query and header parameters; ``errors``: ``{status: description}``
    besides the ones every route may answer; ``codes``: other success statuses and their
    bodies.
    """

    summary: str
    body: type[BaseModel] | dict[str, Any] | None = None
    response: Any = None
    status: int = 200
    params: tuple[dict[str, Any], ...] = ()
    errors: dict[str, str] = field(default_factory=dict)
    codes: dict[str, Any] = field(default_factory=dict)
    admin: bool = False
    path: dict[str, dict[str, Any]] = field(default_factory=dict)
    """JSON schemas of path parameters that are more than any string (a pattern)."""


def api_route(path: str, handler: Handler, methods: list[str], doc: Doc | None = None) -> Route:
    """A route whose handler gets ``(request, principal)``; it labels the request's
    metrics with its path template."""

    async def endpoint(request: Request) -> Response:
        scope = request.scope
        scope["roost.route"] = path
        principal: Principal = scope.get("roost.principal", ANONYMOUS)
        return await handler(request, principal)

    endpoint.__name__ = getattr(handler, "__name__", "endpoint")
    route = Route(path, endpoint, methods=methods)
    route.roost_doc = doc or Doc(endpoint.__name__)  # type: ignore[attr-defined]
    return route
