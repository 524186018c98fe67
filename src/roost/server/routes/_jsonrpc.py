"""The JSON-RPC 2.0 envelope the A2A and MCP routes accept, checked before the SDKs see
it: a malformed envelope is a typed 422 (never an error inside HTTP 200), and the
OpenAPI document says the same (the envelope is a model)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model
from starlette.requests import Request
from starlette.responses import Response

from roost.server._http import parse_body


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("id must be a string, an integer or null")
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 154056.0 is an integer in JSON
    return value


SafeInt = Annotated[int, Field(ge=-(2**53), le=2**53), BeforeValidator(_no_bool)]
"""An integer id (``154056.0`` is one in JSON), not a boolean."""


def envelope_model(name: str, methods: list[str]) -> type[BaseModel]:
    """``{"jsonrpc": "2.0", "method": one of methods, "id"?, "params"?}``."""
    fields: dict[str, Any] = {
        "jsonrpc": (Literal["2.0"], ...),
        "method": (Literal[tuple(methods)], ...),
        "id": (Annotated[str, Field(max_length=200)] | SafeInt | None, None),
        "params": (dict[str, Any] | None, None),
    }
    config = ConfigDict(extra="allow", defer_build=True)
    return create_model(name, __config__=config, **fields)  # type: ignore[no-any-return]


async def check_envelope(request: Request, model: type[BaseModel]) -> Response | None:
    """Raise ``InvalidRequest`` (422) unless the body is one call of the model's methods;
    a notification (no id) is answered 202 here. The request's cached body becomes the
    validated call (an integral ``1.0`` id as ``1``), which the SDK then reads."""
    call = await parse_body(request, model)
    method = str(call.method)  # type: ignore[attr-defined]
    if call.id is None or method.startswith("notifications/"):  # type: ignore[attr-defined]
        return Response(b"", status_code=202, media_type="text/plain")
    request._body = json.dumps(call.model_dump(exclude_none=True)).encode()
    if hasattr(request, "_json"):
        del request._json
    return None
