"""Request parsing and response helpers shared by the route modules."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from roost.core import InvalidRequest, RoostError

T = TypeVar("T", bound=BaseModel)

JSON_TYPE = "application/json"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = (
        data.model_dump_json(exclude_none=True)
        if isinstance(data, BaseModel)
        else json.dumps(data, separators=(",", ":"), default=str)
    )
    return Response(body, status_code=status, media_type=JSON_TYPE, headers=headers)


def error_body(err: RoostError) -> dict[str, Any]:
    return {"error": err.to_dict()}


def error_response(err: RoostError, headers: dict[str, str] | None = None) -> Response:
    return json_response(error_body(err), status=err.status, headers=headers)


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors as ``[{"field": "a.b", "message": ..., "type": ...}]``."""
    out = []
    for item in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in item["loc"]) or "body"
        out.append({"field": loc, "message": item["msg"], "type": item["type"]})
    return out


def validate(model: type[T], data: Any) -> T:
    """Validate ``data`` or raise ``InvalidRequest`` listing every bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = field_errors(exc)
        first = fields[0]
        raise InvalidRequest(
            f"invalid field {first['field']!r}: {first['message']}",
            hint="fix the listed fields and retry",
            fields=fields,
        ) from None


async def read_json(request: Request) -> Any:
    """The request body parsed as JSON (an empty body is ``{}``)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(
            f"the body is not valid JSON: {exc}",
            hint="send a JSON object with Content-Type: application/json",
            fields=[{"field": "body", "message": str(exc), "type": "json_invalid"}],
        ) from None


async def parse_body(request: Request, model: type[T]) -> T:
    return validate(model, await read_json(request))
