"""An API route: a handler of ``(request, principal)`` and what the OpenAPI document says
of it (the router is built in :mod:`roost.server.routes`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from roost.server.auth import ANONYMOUS, Principal

if TYPE_CHECKING:
    from pydantic import BaseModel

    from roost.govern.quotas import QuotaGate


Handler = Callable[[Request, Principal], Awaitable[Response]]


@dataclass(frozen=True)
class Doc:
    """What the OpenAPI document says of a route: the document is built from the routes
    the router serves (:mod:`roost.server.openapi`), so it cannot miss one.

    ``response``: a body model, ``"sse"`` (an event stream, or the run as JSON when not
    streamed), ``"stream"`` (an SSE stream of JSON items), media types, or a JSON schema;
    ``params``: query and header parameters; ``errors``: ``{status: description}``
    besides the ones every route may answer; ``codes``: other success statuses and their
    bodies; ``permission``: what the caller's role must grant (:mod:`roost.govern.roles`;
    default ``admin`` for an ``admin`` route, else ``api.use``); ``quota``: what the
    call spends (``run`` or ``session``), admitted by the quota gate first.
    """

    summary: str
    body: type[BaseModel] | dict[str, Any] | None = None
    response: Any = None
    status: int = 200
    params: tuple[dict[str, Any], ...] = ()
    errors: dict[str, str] = field(default_factory=dict)
    codes: dict[str, Any] = field(default_factory=dict)
    admin: bool = False
    permission: str | None = None
    quota: Literal["run", "session"] | None = None

    @property
    def needs(self) -> str:
        """The permission the route is served under."""
        return self.permission or ("admin" if self.admin else "api.use")

    path: dict[str, dict[str, Any]] = field(default_factory=dict)
    """JSON schemas of path parameters that are more than any string (a pattern)."""


def api_route(path: str, handler: Handler, methods: list[str], doc: Doc | None = None) -> Route:
    """A route whose handler gets ``(request, principal)``; it labels the request's
    metrics with its path template.

    This is where the permission table is enforced, for every route alike: the caller's
    role must grant the route's permission (403 otherwise), and the principal the
    handler gets carries it, so :meth:`Principal.can_access` uses that permission's
    reach. A route that spends a quota is admitted by the quota gate (429/403) first.
    """
    doc = doc or Doc(getattr(handler, "__name__", "endpoint"))
    needs = doc.needs

    async def endpoint(request: Request) -> Response:
        scope = request.scope
        scope["roost.route"] = path
        principal: Principal = scope.get("roost.principal", ANONYMOUS)
        if principal.role != "public":  # a public route's caller reaches nobody's data
            principal = principal.acting(needs)
            gate: QuotaGate | None = scope.get("roost.quotas")
            if doc.quota is not None and gate is not None:
                await gate.admit(principal, doc.quota)
        return await handler(request, principal)

    endpoint.__name__ = getattr(handler, "__name__", "endpoint")
    route = Route(path, endpoint, methods=methods)
    route.roost_doc = doc  # type: ignore[attr-defined]
    return route
