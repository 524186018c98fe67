"""Routes for ``@app.endpoint`` handlers: sync, async, generator and async-generator.

Parameters are filled by name: ``body`` (the JSON body), ``request``, ``principal``,
then path and query parameters. Generators stream as SSE (``data:`` = the item as JSON
or text); other handlers return JSON (a ``Response`` is passed through).
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.core import InvalidRequest, RoostError
from roost.server._http import error_body, json_response, read_json
from roost.server.auth import Principal
from roost.server.openapi import JSON_ANY, query
from roost.server.router import Doc, api_route
from roost.server.sse import EventStreamResponse, sse_data

if TYPE_CHECKING:
    from roost.server.registry import EndpointSpec
    from roost.server.services import Services

log = logging.getLogger("roost.server")


def _frame(item: Any) -> bytes:
    if isinstance(item, bytes):
        item = item.decode()
    if isinstance(item, BaseModel):
        return sse_data(item.model_dump_json())
    if isinstance(item, str):
        return b"".join(sse_data(line) for line in item.split("\n"))
    return sse_data(json.dumps(item, separators=(",", ":"), default=str))


_FILLED = frozenset({"body", "request", "principal"})


def _handler(spec: EndpointSpec) -> Callable[[Request, Principal], Any]:
    fn = spec.fn
    signature = inspect.signature(fn).parameters
    params = list(signature)
    wants_body = "body" in params
    required = [n for n, p in signature.items() if p.default is p.empty and n not in _FILLED]

    async def handle(request: Request, principal: Principal) -> Response:
        kwargs: dict[str, Any] = {}
        body = await read_json(request) if wants_body and request.method != "GET" else None
        for name in params:
            if name == "body":
                kwargs[name] = body
            elif name == "request":
                kwargs[name] = request
            elif name == "principal":
                kwargs[name] = principal
            elif name in request.path_params:
                kwargs[name] = request.path_params[name]
            elif name in request.query_params:
                kwargs[name] = request.query_params[name]
        missing = [n for n in required if n not in kwargs]
        if missing:
            raise InvalidRequest(
                f"missing query parameter {missing[0]!r}",
                fields=[{"field": n, "message": "required", "type": "missing"} for n in missing],
            )
        if inspect.isasyncgenfunction(fn):
            return _stream(fn(**kwargs))
        if inspect.isgeneratorfunction(fn):
            return _stream(iterate_in_threadpool(fn(**kwargs)))
        if inspect.iscoroutinefunction(fn):
            result = await fn(**kwargs)
        else:
            result = await run_in_threadpool(fn, **kwargs)
        if isinstance(result, Response):
            return result
        return json_response(result)

    handle.__name__ = getattr(fn, "__name__", "endpoint")
    return handle


def _stream(items: AsyncIterator[Any]) -> Response:
    async def body() -> AsyncIterator[bytes]:
        try:
            async for item in items:
                yield _frame(item)
        except Exception as exc:  # the 200 is sent: report the failure in-band, typed
            err = exc if isinstance(exc, RoostError) else RoostError("the endpoint failed")
            if not isinstance(exc, RoostError):
                log.exception("streaming endpoint failed")
            data = json.dumps(error_body(err), separators=(",", ":"), default=str)
            yield f"event: error\ndata: {data}\n\n".encode()

    return EventStreamResponse(body(), {})


def _doc(spec: EndpointSpec) -> Doc:
    """Query parameters are the handler's own parameters that the path does not fill."""
    signature = inspect.signature(spec.fn).parameters
    in_path = {seg[1:-1].split(":")[0] for seg in spec.path.split("/") if seg.startswith("{")}
    params = tuple(
        {**query(n, "a handler parameter", {"type": "string"}), "required": p.default is p.empty}
        for n, p in signature.items()
        if n not in _FILLED and n not in in_path
    )
    streams = inspect.isasyncgenfunction(spec.fn) or inspect.isgeneratorfunction(spec.fn)
    return Doc(
        f"Custom endpoint {spec.fn.__name__}",
        body=JSON_ANY if "body" in signature and set(spec.methods) - {"GET", "HEAD"} else None,
        response="stream" if streams else None,
        params=params,
        permission="endpoints.call",
    )


def routes(services: Services) -> list[BaseRoute]:
    return [api_route(s.path, _handler(s), list(s.methods), _doc(s)) for s in services.endpoints]
