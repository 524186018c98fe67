"""The console's routes: the page shell and its files (public: no data in them) and
``/v1/console/session`` (sign-in: authenticated like every API route).

Every figure the console shows comes from the ordinary ``/v1`` API with the signed-in
key, so the console can never show what the API would refuse that key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from roost.core import NotFound
from roost.server._http import json_response
from roost.server.auth import CONSOLE_COOKIE, Principal, bearer_token, console_token
from roost.server.console.assets import asset
from roost.server.router import Doc, api_route

if TYPE_CHECKING:
    from roost.server.services import Services

PREFIX = "/console"
SHELL_PATHS = ("/", PREFIX)
COOKIE_MAX_AGE = 12 * 3600
"""A sign-in lasts a working day; the browser forgets the cookie after that."""

PAGES: dict[str, str] = {
    "chat": "/v1/sessions",
    "sessions": "/v1/sessions",
    "runs": "/v1/runs",
    "usage": "/v1/usage",
    "metrics": "/metrics",
    "alerts": "/v1/alerts",
    "knowledge": "/v1/knowledge-bases",
    "keys": "/v1/keys",
    "audit": "/v1/audit",
    "tenants": "/v1/tenants",
    "roles": "/v1/roles",
    "secrets": "/v1/secrets",
    "evals": "/v1/evals",
}
"""Console page → the API path (prefix) it reads. A page is offered when the server has a
``GET`` route under it that the signed-in key may call (the permission table says), so
pages of APIs added later (audit, tenants, secrets, evaluation) appear once they land."""

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def is_public(path: str) -> bool:
    """The console's shell and files: public, because they hold no data."""
    return path in SHELL_PATHS or path.startswith(PREFIX + "/")


def _file_response(request: Request, name: str, cache: str) -> Response:
    found = asset(name)
    if found is None:
        raise NotFound(f"no console file {name!r}", hint="open /console/")
    headers = {"etag": found.etag, "cache-control": cache, "vary": "accept-encoding"}
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    body = found.body
    if found.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        body, headers["content-encoding"] = found.gzipped, "gzip"
    return Response(body, media_type=found.media_type, headers=headers)


def pages_for(principal: Principal, routes: list[BaseRoute]) -> list[str]:
    """The console pages whose API this principal may call on this server."""
    served: dict[str, bool] = {}
    for route in routes:
        if isinstance(route, Route) and "GET" in (route.methods or ()):
            doc = getattr(route, "roost_doc", None)
            # the permission table decides, as the router will when the page calls it
            served[route.path] = doc is None or principal.allows(doc.needs)
    out = []
    for page, prefix in PAGES.items():
        if prefix in served:  # the page's own listing decides
            offered = served[prefix]
        else:
            offered = any(ok for path, ok in served.items() if path.startswith(prefix + "/"))
        if offered:
            out.append(page)
    return out


def _whoami(principal: Principal, request: Request, services: Services) -> dict[str, Any]:
    return {
        "role": principal.role,
        "key_id": principal.key_id,
        "user_id": principal.user_id,
        "tenant_id": principal.tenant_id,
        "app": services.config.name,
        "agents": list(services.agents),
        "pages": pages_for(principal, request.scope["router"].routes),
    }


def routes(services: Services) -> list[BaseRoute]:
    async def shell(request: Request, principal: Principal) -> Response:
        response = _file_response(request, "index.html", "no-cache")
        response.headers.update(SECURITY_HEADERS)
        return response

    async def static(request: Request, principal: Principal) -> Response:
        response = _file_response(request, request.path_params["name"], "public, max-age=3600")
        response.headers["x-content-type-options"] = "nosniff"
        return response

    async def get_session(request: Request, principal: Principal) -> Response:
        return json_response(_whoami(principal, request, services))

    async def sign_in(request: Request, principal: Principal) -> Response:
        """Keeps the key that authenticated this request in an HttpOnly cookie."""
        headers = dict(request.scope.get("roost.headers") or {})
        key = bearer_token(headers) or console_token(headers)
        response = json_response(_whoami(principal, request, services), status=201)
        if key:
            response.set_cookie(
                CONSOLE_COOKIE,
                key,
                max_age=COOKIE_MAX_AGE,
                path="/",
                secure=request.url.scheme == "https",
                httponly=True,
                samesite="strict",
            )
        return response

    async def sign_out(request: Request, principal: Principal) -> Response:
        response = Response(status_code=204)
        response.delete_cookie(
            CONSOLE_COOKIE,
            path="/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return response

    html = {"text/html": {"schema": {"type": "string"}}}
    whoami = {
        "type": "object",
        "required": ["role", "pages"],
        "properties": {
            "role": {"type": "string"},
            "pages": {"type": "array", "items": {"type": "string"}},
        },
    }
    shell_doc = Doc("The web console's page (no key needed; no data in it)", response=html)
    return [
        api_route("/", shell, ["GET"], shell_doc),
        api_route(PREFIX, shell, ["GET"], shell_doc),
        api_route(
            PREFIX + "/assets/{name:path}",
            static,
            ["GET"],
            Doc(
                "A file of the web console (no key needed)",
                response={"*/*": {"schema": {"type": "string"}}},
                errors={"404": "not_found (no such file)"},
            ),
        ),
        api_route(PREFIX + "/{page:path}", shell, ["GET"], shell_doc),
        api_route(
            "/v1/console/session",
            get_session,
            ["GET"],
            Doc("Who the console is signed in as, and the pages it may show", response=whoami),
        ),
        api_route(
            "/v1/console/session",
            sign_in,
            ["POST"],
            Doc(
                "Sign the console in: keep this request's key in an HttpOnly, SameSite=Strict"
                " cookie (honoured only with the X-Roost-Console header)",
                response=whoami,
                status=201,
            ),
        ),
        api_route(
            "/v1/console/session",
            sign_out,
            ["DELETE"],
            Doc("Sign the console out (forget its cookie)", status=204),
        ),
    ]
