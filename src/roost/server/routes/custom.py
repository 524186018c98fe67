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

from roost.core import RoostError
from roost.server._http import error_body, json_response, read_json
from roost.server.auth import Principal
from roost.server.router import api_route
from roost.server.sse import EventStreamResponse, sse_data

if TYPE_CHECKING:
    from roost.server.app import AgentApp, EndpointSpec

log = logging.getLogger("roost.server")


def _frame(item: Any) -> bytes:
    if isinstance(item, bytes):
        item = item.decode()
    if isinstance(item, BaseModel):
        return sse_data(item.model_dump_json())
    if isinstance(item, str):
        return b"".join(sse_data(line) for line in item.split("\n"))
    return sse_data(json.dumps(item, separators=(",", ":"), default=str))


def _handler(spec: EndpointSpec) -> Callable[[Request, Principal], Any]:
    fn = spec.fn
    params = list(inspect.signature(fn).parameters)
    wants_body = "body" in params

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


def routes(app: AgentApp) -> list[BaseRoute]:
    return [api_route(s.path, _handler(s), list(s.methods)) for s in app.endpoints]
