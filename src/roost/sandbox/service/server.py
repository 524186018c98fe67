"""The sandbox manager as an HTTP service (``roost sandbox serve``), plus the sandbox
tools over MCP at ``/mcp``.

Every route, MCP included, needs ``Authorization: Bearer <token>``; the app refuses to
be built without a token. Errors are ``{"error": {"code", "message", "hint"?}}`` with
the error's HTTP status, never a bare 500 for bad input.

Routes (JSON unless noted)::

    GET    /v1/health
    GET    /v1/sandboxes                          list
    POST   /v1/sandboxes      {session_id, type}  acquire (same session+type -> same sandbox)
    GET    /v1/sandboxes/{id}                     info
    DELETE /v1/sandboxes/{id}                     release (closes it)
    POST   /v1/sessions/{session_id}/release {type?}
    POST   /v1/sandboxes/{id}/python  {code, timeout}
    POST   /v1/sandboxes/{id}/shell   {command, timeout}
    GET    /v1/sandboxes/{id}/files?path=         list a folder
    GET    /v1/sandboxes/{id}/file?path=          raw bytes
    PUT    /v1/sandboxes/{id}/file?path=          raw bytes in the body
    DELETE /v1/sandboxes/{id}/file?path=
    POST   /v1/sandboxes/{id}/browser/{action}    keyword arguments of the action
    POST   /v1/sandboxes/{id}/gui/{action}
    *      /mcp                                   MCP streamable HTTP
"""

from __future__ import annotations

import contextlib
import hmac
import inspect
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from roost.core import (
    ConfigError,
    ImageBlock,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RoostError,
    Unauthorized,
)
from roost.sandbox.base import Sandbox, SandboxType
from roost.sandbox.manager import SandboxManager

__all__ = [
    "BROWSER_ACTIONS",
    "GUI_ACTIONS",
    "MIN_TOKEN_LENGTH",
    "MethodNotAllowed",
    "create_app",
]

log = logging.getLogger("roost.sandbox.service.server")

MIN_TOKEN_LENGTH = 16
_MAX_JSON = 8 << 20
_MAX_UPLOAD = 512 << 20

_BROWSER = "open click type extract_text extract_links screenshot back forward new_tab"
BROWSER_ACTIONS = (*_BROWSER.split(), "switch_tab", "close_tab", "tabs")
GUI_ACTIONS = ("screenshot", "move", "click", "type", "key", "launch", "windows")


class MethodNotAllowed(RoostError):
    """The route exists but not with this HTTP method."""

    code = "method_not_allowed"
    status = 405


def _error(err: RoostError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
    return JSONResponse({"error": err.to_dict()}, status_code=err.status, headers=headers)


class BearerAuth:
    """Pure-ASGI middleware: every HTTP request needs the bearer token (constant-time
    comparison); lifespan events pass through."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            header = b""
            for key, value in scope.get("headers", []):
                if key == b"authorization":
                    header = value
                    break
            scheme, _, supplied = header.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(
                supplied.strip(), self._token
            ):
                message = "missing bearer token" if not header else "invalid bearer token"
                err = Unauthorized(message, hint="send 'Authorization: Bearer <token>'")
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                await _error(err)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _Acquire(BaseModel):
    model_config = ConfigDict(extra="forbid")
    session_id: str = Field(min_length=1, max_length=200)
    type: SandboxType = "base"


class _Release(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: SandboxType | None = None


class _Python(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str
    timeout: float = Field(30.0, gt=0, le=3600)


class _Shell(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: str
    timeout: float = Field(30.0, gt=0, le=3600)


async def _read_capped(request: Request, limit: int, what: str) -> bytes:
    """The request body, refusing (413) as soon as it grows past ``limit``."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"{what} is larger than {limit} bytes", hint="send a smaller request body"
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def _json(request: Request, model: type[BaseModel] | None = None) -> Any:
    body = await _read_capped(request, _MAX_JSON, "the JSON body")
    try:
        data = json.loads(body) if body else {}
    except ValueError as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}") from None
    if model is None:
        if not isinstance(data, dict):
            raise InvalidRequest("body must be a JSON object of keyword arguments")
        return data
    return _validate(model, data)


def _validate(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        ]
        raise InvalidRequest("; ".join(problems), hint="fix the request body") from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


_ARG_MODELS: dict[tuple[type, str], type[BaseModel]] = {}


def _args_model(sandbox: Sandbox, action: str) -> type[BaseModel]:
    """A pydantic model of the action method's keyword arguments (cached per class)."""
    key = (type(sandbox), action)
    model = _ARG_MODELS.get(key)
    if model is None:
        method = getattr(type(sandbox), action)
        hints = inspect.get_annotations(method, eval_str=True)
        fields: dict[str, Any] = {}
        for name, param in inspect.signature(method).parameters.items():
            if name == "self":
                continue
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[name] = (hints.get(name, Any), default)
        model = create_model(  # type: ignore[call-overload]
            f"{type(sandbox).__name__}_{action}",
            __config__=ConfigDict(extra="forbid"),
            **fields,
        )
        _ARG_MODELS[key] = model
    return model


def create_app(
    manager: SandboxManager | None = None,
    *,
    token: str | None,
    backend: str = "bwrap",
    pool_size: int = 1,
    mcp: bool = True,
    loopback_only: bool = True,
) -> Starlette:
    """The sandbox service. Raises ``ConfigError`` without a token (fail closed).

    ``manager`` defaults to a :class:`SandboxManager` on ``backend``; the app starts
    and closes it in its lifespan."""
    if not token or len(token.strip()) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"the sandbox service needs a bearer token of at least {MIN_TOKEN_LENGTH} characters",
            hint="pass --token or set ROOST_SANDBOX_TOKEN (e.g. `openssl rand -hex 32`)",
        )
    mgr = manager or SandboxManager(backend=backend, pool_size=pool_size)

    def find(sandbox_id: str) -> Sandbox:
        for info in mgr.list_sandboxes():
            if info.id == sandbox_id and info.session_id is not None:
                sandbox = mgr.get(info.session_id, info.type)
                if sandbox is not None:
                    return sandbox
        raise NotFound(
            f"no live sandbox {sandbox_id!r}", hint="GET /v1/sandboxes lists the live ones"
        )

    def handler(
        fn: Callable[[Request], Awaitable[Any]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                result = await fn(request)
            except RoostError as err:
                return _error(err)
            except Exception:
                log.exception("sandbox service error on %s %s", request.method, request.url.path)
                return _error(RoostError("internal error; see the service log"))
            if isinstance(result, Response):
                return result
            if isinstance(result, BaseModel):  # encoded by pydantic-core, not json.dumps
                return Response(result.model_dump_json(), media_type="application/json")
            return JSONResponse(_jsonable(result))

        return endpoint

    async def health(request: Request) -> Any:
        return {"status": "ok", **mgr.status()}

    async def list_sandboxes(request: Request) -> Any:
        return {"sandboxes": mgr.list_sandboxes()}

    async def acquire(request: Request) -> Any:
        body = await _json(request, _Acquire)
        sandbox = await mgr.acquire(body.session_id, body.type)
        return sandbox.info()

    async def info(request: Request) -> Any:
        return find(request.path_params["sandbox_id"]).info()

    async def release(request: Request) -> Any:
        info = find(request.path_params["sandbox_id"]).info()
        assert info.session_id is not None
        await mgr.release(info.session_id, info.type)
        return {"released": 1}

    async def release_session(request: Request) -> Any:
        body = await _json(request, _Release)
        count = await mgr.release(request.path_params["session_id"], body.type)
        return {"released": count}

    async def python(request: Request) -> Any:
        sandbox = find(request.path_params["sandbox_id"])
        body = await _json(request, _Python)
        return await sandbox.run_python(body.code, timeout=body.timeout)

    async def shell(request: Request) -> Any:
        sandbox = find(request.path_params["sandbox_id"])
        body = await _json(request, _Shell)
        return await sandbox.run_shell(body.command, timeout=body.timeout)

    def path_param(request: Request, default: str | None = None) -> str:
        path = request.query_params.get("path", default)
        if path is None:
            raise InvalidRequest("query parameter 'path' is required", hint="?path=notes.txt")
        return path

    async def list_files(request: Request) -> Any:
        sandbox = find(request.path_params["sandbox_id"])
        return {"files": await sandbox.list_files(path_param(request, "."))}

    async def read_file(request: Request) -> Any:
        sandbox = find(request.path_params["sandbox_id"])
        data = await sandbox.read_file(path_param(request))
        return Response(data, media_type="application/octet-stream")

    async def write_file(request: Request) -> Any:
        sandbox = find(request.path_params["sandbox_id"])
        path = path_param(request)
        limit = min(_MAX_UPLOAD, sandbox.spec.limits.max_file_mb << 20)
        data = await _read_capped(request, limit, "the upload")
        return await sandbox.write_file(path, data)

    async def delete_file(request: Request) -> Any:
        sandbox = find(request.path_params["sandbox_id"])
        await sandbox.delete_file(path_param(request))
        return {"deleted": True}

    def action_route(kind: str, allowed: tuple[str, ...]) -> Callable[[Request], Awaitable[Any]]:
        async def act(request: Request) -> Any:
            sandbox = find(request.path_params["sandbox_id"])
            action = request.path_params["action"]
            if action not in allowed:
                raise NotFound(
                    f"no {kind} action {action!r}", hint=f"use one of {', '.join(allowed)}"
                )
            if sandbox.info().type != kind or not hasattr(sandbox, action):
                raise InvalidRequest(
                    f"sandbox {sandbox.id} is of type {sandbox.info().type!r}, not {kind!r}",
                    hint=f"acquire a sandbox of type {kind!r}",
                )
            args = _validate(_args_model(sandbox, action), await _json(request))
            result = await getattr(sandbox, action)(**dict(args))
            if isinstance(result, ImageBlock):
                return {"result": result.model_dump(mode="json")}
            return {"result": _jsonable(result)}

        return act

    sid = "/v1/sandboxes/{sandbox_id}"
    routes = [
        Route("/v1/health", handler(health), methods=["GET"]),
        Route("/v1/sandboxes", handler(list_sandboxes), methods=["GET"]),
        Route("/v1/sandboxes", handler(acquire), methods=["POST"]),
        Route(sid, handler(info), methods=["GET"]),
        Route(sid, handler(release), methods=["DELETE"]),
        Route("/v1/sessions/{session_id}/release", handler(release_session), methods=["POST"]),
        Route(f"{sid}/python", handler(python), methods=["POST"]),
        Route(f"{sid}/shell", handler(shell), methods=["POST"]),
        Route(f"{sid}/files", handler(list_files), methods=["GET"]),
        Route(f"{sid}/file", handler(read_file), methods=["GET"]),
        Route(f"{sid}/file", handler(write_file), methods=["PUT"]),
        Route(f"{sid}/file", handler(delete_file), methods=["DELETE"]),
        Route(
            f"{sid}/browser/{{action}}",
            handler(action_route("browser", BROWSER_ACTIONS)),
            methods=["POST"],
        ),
        Route(f"{sid}/gui/{{action}}", handler(action_route("gui", GUI_ACTIONS)), methods=["POST"]),
    ]

    session_manager: Any = None
    if mcp:
        from mcp.server.streamable_http_manager import StreamableHTTPASGIApp

        from roost.sandbox.service.mcp import (
            ReleaseOnSessionEnd,
            build_mcp_server,
            mcp_session_manager,
        )

        session_manager = mcp_session_manager(build_mcp_server(mgr), loopback_only=loopback_only)
        mcp_app = ReleaseOnSessionEnd(StreamableHTTPASGIApp(session_manager), mgr)
        routes.append(Route("/mcp", mcp_app))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await mgr.start()
        try:
            if session_manager is not None:
                async with session_manager.run():
                    yield
            else:
                yield
        finally:
            await mgr.aclose()

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        if status == 405:
            return _error(
                MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
            )
        return _error(
            NotFound(
                f"no route {request.url.path}", hint="see the API in roost.sandbox.service.server"
            )
        )

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: not_found},
    )
    app.add_middleware(BearerAuth, token=token.strip())
    app.state.manager = mgr
    return app
