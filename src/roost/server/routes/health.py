"""``/healthz`` (process up), ``/readyz`` (store reachable, model loaded), ``/metrics``,
``/openapi.json``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.core import RoostError
from roost.server._http import error_response, json_response
from roost.server.auth import Principal
from roost.server.router import Doc, api_route

if TYPE_CHECKING:
    from roost.server.services import Services


class NotReady(RoostError):
    """A part the app needs to answer (e.g. its model) is not ready yet."""

    code = "not_ready"
    status = 503
    retryable = True


def routes(services: Services) -> list[BaseRoute]:
    async def healthz(request: Request, principal: Principal) -> Response:
        return json_response({"status": "ok", "app": services.config.name})

    async def readyz(request: Request, principal: Principal) -> Response:
        try:
            await services.store.ping()
        except RoostError as exc:
            return error_response(exc)
        except Exception:
            from roost.store import StoreUnavailable

            return error_response(StoreUnavailable("the database is not reachable"))
        checks = {name: check() for name, check in services.readiness.items()}
        waiting = {name: c for name, c in checks.items() if not c.get("ready", False)}
        if waiting:
            states = ", ".join(
                f"{name} is {c.get('state', 'not ready')}" for name, c in waiting.items()
            )
            return error_response(
                NotReady(
                    f"not ready: {states}",
                    hint="retry shortly; a model that failed to load is retried on the next run",
                    checks=checks,
                )
            )
        return json_response({"status": "ready", "app": services.config.name, "checks": checks})

    async def metrics(request: Request, principal: Principal) -> Response:
        # the whole service's figures (agents, tools, error rates): an operator's view,
        # unless metrics_public (any key); the route's permission says which
        body, content_type = services.metrics.exposition()
        return Response(body, media_type=content_type)

    async def openapi(request: Request, principal: Principal) -> Response:
        from roost.server.openapi import openapi_schema

        return json_response(openapi_schema(request.scope["router"].routes, services))

    text = {"text/plain": {"schema": {"type": "string"}}}
    return [
        api_route(
            "/healthz",
            healthz,
            ["GET"],
            Doc("Liveness (no key needed)", permission="authenticated"),
        ),
        api_route(
            "/readyz",
            readyz,
            ["GET"],
            Doc(
                "Readiness: the store is reachable and the model loaded (no key needed)",
                errors={"503": "store_unavailable, or not_ready (details.checks says what)"},
                permission="authenticated",
            ),
        ),
        api_route(
            "/metrics",
            metrics,
            ["GET"],
            Doc(
                "Prometheus exposition (roles operator and metrics; any key if metrics_public)",
                response=text,
                permission="authenticated" if services.config.metrics_public else "metrics.read",
            ),
        ),
        api_route(
            "/openapi.json",
            openapi,
            ["GET"],
            Doc("This document", response={"type": "object"}, permission="api.docs"),
        ),
    ]
