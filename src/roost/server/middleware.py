"""The one ASGI middleware in front of the router: errors, auth, limits and metrics.

Kept as a single pure-ASGI layer (no per-request task or BaseHTTPMiddleware) because it
runs on every request and the server's CPU budget per streamed run is tight.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from starlette.routing import Match, Route

from roost.core import PayloadTooLarge, RateLimited, RoostError
from roost.server import console
from roost.server._http import error_body
from roost.server.auditing import record_refusal, set_actor
from roost.server.auth import ANONYMOUS, PUBLIC
from roost.server.errors import MethodNotAllowed, RouteNotFound

if TYPE_CHECKING:
    from starlette.routing import Router

    from roost.server.services import Services

log = logging.getLogger("roost.server.http")


def wrap(router: Router, services: Services) -> Callable[..., Awaitable[None]]:
    """The router behind the service middleware, behind CORS when origins are allowed."""
    app: Callable[..., Awaitable[None]] = ServiceMiddleware(router, services)
    origins = services.config.cors_origins
    if origins:
        from starlette.middleware.cors import CORSMiddleware

        app = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=[
                "authorization",
                "content-type",
                "last-event-id",
                "x-api-key",
                "x-session-id",
                "traceparent",
                "tracestate",
            ],
            allow_credentials=True,
            expose_headers=["x-run-id", "x-session-id", "retry-after"],
        )
    return app


class ServiceMiddleware:
    def __init__(self, app: Router, services: Services) -> None:
        self.app = app
        self.services = services
        self.public = services.public_paths

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        services = self.services
        start = time.perf_counter()
        status_box = [500]
        started = [False]

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
                started[0] = True
            await send(message)

        limit = services.config.max_body_bytes
        received = [0]

        async def receive_limited() -> dict[str, Any]:
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                received[0] += len(message.get("body", b""))
                if received[0] > limit:
                    raise PayloadTooLarge(
                        f"the request body exceeds {limit} bytes",
                        hint="send a smaller body (the limit is max_body_bytes)",
                    )
            return message

        try:
            headers = _headers(scope)
            length = headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > limit:
                raise PayloadTooLarge(
                    f"the request body ({length} bytes) exceeds {limit} bytes",
                    hint="send a smaller body (the limit is max_body_bytes)",
                )
            path = scope["path"]
            if (
                path not in self.public
                and not console.is_public(path)
                and scope["method"] != "OPTIONS"
            ):
                auth = services.authenticator
                client = scope.get("client")
                if auth is not None:
                    principal = await auth.authenticate(headers, client[0] if client else "")
                else:
                    principal = ANONYMOUS
                scope["roost.principal"] = principal
                if services.audit is not None:
                    set_actor(principal, headers, client[0] if client else None)
                limiter = services.rate_limiter
                if limiter is not None:
                    wait = await limiter.check(principal.key_id)
                    if wait:
                        raise RateLimited(
                            f"rate limit of {limiter.spec} per key exceeded",
                            hint=f"retry after {int(wait)} s",
                            retry_after=int(wait),
                        )
            else:  # a public route, or a CORS preflight: nobody is authenticated
                public = services.authenticator is not None
                scope["roost.principal"] = PUBLIC if public else ANONYMOUS
            scope["roost.headers"] = headers
            scope["roost.quotas"] = services.quotas
            if "traceparent" in headers:  # the caller's trace continues here (runs inherit it)
                from roost.observe.propagation import join_caller_trace, leave_caller_trace

                token = join_caller_trace(headers)
                try:
                    await self.app(scope, receive_limited, send_wrapper)
                finally:
                    leave_caller_trace(token)
            else:
                await self.app(scope, receive_limited, send_wrapper)
        except Exception as exc:
            if started[0]:
                log.exception(
                    "error after the response started: %s %s", scope["method"], scope["path"]
                )
                return
            err = _as_roost_error(exc)
            if services.audit is not None and err.status in (401, 403):
                try:  # the refusal is on record before the client hears of it
                    await record_refusal(services, err, scope, _headers(scope))
                except Exception:
                    log.exception("could not record a refused request in the audit trail")
            extra: list[tuple[bytes, bytes]] = []
            if isinstance(err, MethodNotAllowed):  # what every route on this path allows
                allowed = _allowed(self.app, scope)
                extra.append((b"allow", ", ".join(allowed).encode()))
            if err.status == 401 and scope["path"].startswith("/mcp/agents/"):
                # MCP clients discover how to authenticate from this header (MCP auth spec)
                from roost.server.routes.mcp_agents import www_authenticate

                host = _headers(scope).get("host", "localhost")
                hint = www_authenticate(scope["path"], f"{scope.get('scheme', 'http')}://{host}")
                extra.append((b"www-authenticate", (hint or "Bearer").encode("latin-1")))
            if isinstance(err, RateLimited):
                extra.append((b"retry-after", str(err.details.get("retry_after", 1)).encode()))
            run_id = err.details.get("run_id")
            if isinstance(run_id, str):  # a run that failed: named as a successful one is
                extra.append((b"x-run-id", run_id.encode()))
            await _send_error(send_wrapper, err, extra)
        finally:
            route = scope.get("roost.route")  # set by the route Starlette matched
            if route is None:  # refused before routing (401, 413, 429): still its route
                route = _template(self.app, scope) or _unmatched(status_box[0])
            services.metrics.observe(
                route, scope["method"], status_box[0], time.perf_counter() - start
            )


def _template(router: Router, scope: dict[str, Any]) -> str | None:
    """The path template of the route the router would take (the first that matches the
    path, whatever the method)."""
    for route in router.routes:
        if isinstance(route, Route) and route.matches(scope)[0] is not Match.NONE:
            return route.path
    return None


def _allowed(router: Router, scope: dict[str, Any]) -> list[str]:
    methods: set[str] = set()
    for route in router.routes:
        if isinstance(route, Route) and route.matches(scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)


def _unmatched(status: int) -> str:
    return "unmatched" if status == 404 else "other"


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


def _as_roost_error(exc: Exception) -> RoostError:
    if isinstance(exc, RoostError):
        return exc
    from starlette.exceptions import HTTPException

    if isinstance(exc, HTTPException):
        if exc.status_code == 404:
            return RouteNotFound("no route matches this path", hint="see GET /openapi.json")
        if exc.status_code == 405:
            return MethodNotAllowed("this route does not accept this HTTP method")
        err = RoostError(str(exc.detail))
        err.status = exc.status_code  # type: ignore[misc]
        return err
    log.exception("unhandled error", exc_info=exc)
    return RoostError("internal server error", hint="the server log has the details")


async def _send_error(send: Any, err: RoostError, extra: list[tuple[bytes, bytes]]) -> None:
    import json

    body = json.dumps(error_body(err), separators=(",", ":"), default=str).encode()
    await send(
        {
            "type": "http.response.start",
            "status": err.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
