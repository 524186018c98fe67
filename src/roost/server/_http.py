"""Request parsing and response helpers shared by the route modules."""

from __future__ import annotations

import json
import math
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from roost.core import InvalidRequest, PayloadTooLarge, RoostError
from roost.server.errors import UnsupportedMediaType

T = TypeVar("T", bound=BaseModel)

JSON_TYPE = "application/json"

MAX_JSON_DEPTH = 64
"""Arrays/objects a request body may nest (the body itself is level 1): far above what an
API body needs, far below where the JSON and pydantic encoders give up (~255)."""
MAX_JSON_VALUES = 10_000
"""Values (objects, arrays, strings, numbers …) a request body may hold: a conversation
of hundreds of messages is far below, 300,000 empty objects in 900 KB are far above."""
MAX_JSON_INT = 2**63 - 1
"""Integers in request JSON fit a signed 64-bit integer (PostgreSQL ``bigint``, OTel)."""


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
    """Validate ``data`` or raise ``InvalidRequest`` listing every bad field. Strictly: a
    boolean is ``true``, a number is not ``"1"`` (what the OpenAPI document says)."""
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as exc:
        fields = field_errors(exc)
        first = fields[0]
        raise InvalidRequest(
            f"invalid field {first['field']!r}: {first['message']}",
            hint="fix the listed fields and retry",
            fields=fields,
        ) from None


def _bad_json(field: str, message: str, type_: str) -> InvalidRequest:
    return InvalidRequest(
        f"invalid field {field!r}: {message}",
        hint="send plain JSON: finite numbers, valid Unicode text, at most "
        f"{MAX_JSON_DEPTH} levels of nesting",
        fields=[{"field": field, "message": message, "type": type_}],
    )


def _field(path: list[str | int]) -> str:
    """The dotted path, with a bad key's surrogates escaped so the error itself is clean."""
    text = ".".join(str(p) for p in path) or "body"
    return text.encode("utf-8", "backslashreplace").decode()


def _check_scalar(value: Any, path: list[str | int]) -> None:
    kind = type(value)
    if kind is str:
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                raise _bad_json(
                    _field(path), "text contains a lone UTF-16 surrogate", "string_unicode"
                ) from None
    elif kind is float and not math.isfinite(value):
        raise _bad_json(
            _field(path), "number must be finite (no NaN, Infinity or overflow)", "finite_number"
        )
    elif (kind is int or kind is float) and _out_of_range(value):
        raise _bad_json(_field(path), "integer out of the signed 64-bit range", "int_range")


def _out_of_range(value: float) -> bool:
    """An integer (JSON Schema counts ``1e20`` as one too) outside 64 bits."""
    return not -MAX_JSON_INT - 1 <= value <= MAX_JSON_INT and (
        type(value) is int or float(value).is_integer()
    )


def _suspect(value: Any) -> bool:
    """Cheap pre-check (no path built): could this scalar fail :func:`_check_scalar`?"""
    kind = type(value)
    if kind is str:
        return not value.isascii()
    if kind is int:
        return not -MAX_JSON_INT - 1 <= value <= MAX_JSON_INT
    return kind is float and (not math.isfinite(value) or _out_of_range(value))


def check_json(value: Any) -> None:
    """Refuse what would be stored but could not be sent back as JSON — non-finite or
    huge numbers, lone surrogates, nesting deeper than :data:`MAX_JSON_DEPTH` — and
    bodies of more than :data:`MAX_JSON_VALUES` values (413: a small body of many empty
    objects costs the server far more than its size says).

    A first walk only counts and looks; the path of a bad value is found by a second,
    slower walk when there is one."""
    count = 1
    suspect = False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if type(node) is dict:
            items: Any = node.values()
            suspect = suspect or not all(type(k) is str and k.isascii() for k in node)
        elif type(node) is list:
            items = node
        else:
            suspect = suspect or _suspect(node)
            continue
        count += len(node)
        if count > MAX_JSON_VALUES:
            raise PayloadTooLarge(
                f"the request body holds more than {MAX_JSON_VALUES} JSON values",
                hint="send fewer items (every object, array, string, number counts)",
            )
        if depth > MAX_JSON_DEPTH:
            suspect = True
            continue
        for item in items:
            kind = type(item)
            if kind is dict or kind is list:
                stack.append((item, depth + 1))
            elif not suspect and _suspect(item):
                suspect = True
    if suspect:
        _find_bad_json(value)


def _find_bad_json(value: Any) -> None:
    """The slow walk of :func:`check_json`: raise for the first bad value, with its path."""
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        node, path = stack.pop()
        if type(node) is not dict and type(node) is not list:
            _check_scalar(node, path)
            continue
        if len(path) >= MAX_JSON_DEPTH:
            raise _bad_json(
                _field(path[:1]), f"nested deeper than {MAX_JSON_DEPTH} levels", "json_depth"
            )
        for key, item in node.items() if type(node) is dict else enumerate(node):
            if type(key) is str and not key.isascii():
                _check_scalar(key, [*path, key])
            kind = type(item)
            if kind is dict or kind is list:
                stack.append((item, [*path, key]))
            elif _suspect(item):
                _check_scalar(item, [*path, key])


def _check_media_type(request: Request) -> None:
    """A body labelled as another format (``text/plain``, or the form encoding ``curl -d``
    sends without ``-H``) is refused, not guessed at; a body with no Content-Type is JSON."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if (
        not media
        or media == JSON_TYPE
        or (media.startswith("application/") and media.endswith("+json"))
    ):
        return
    raise UnsupportedMediaType(
        f"the body must be JSON, not {media!r}",
        hint="send the body with Content-Type: application/json",
    )


async def read_json(request: Request) -> Any:
    """The request body parsed as JSON (an empty body is ``{}``), checked by
    :func:`check_json` so that whatever is accepted can be stored and served back."""
    raw = await request.body()
    if not raw.strip():
        return {}
    _check_media_type(request)
    try:
        value = json.loads(raw)
    except RecursionError:
        raise _bad_json(
            "body", f"nested deeper than {MAX_JSON_DEPTH} levels", "json_depth"
        ) from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int digit limit
        raise InvalidRequest(
            f"the body is not valid JSON: {exc}",
            hint="send a JSON object with Content-Type: application/json",
            fields=[{"field": "body", "message": str(exc), "type": "json_invalid"}],
        ) from None
    check_json(value)
    return value


async def parse_body(request: Request, model: type[T]) -> T:
    return validate(model, await read_json(request))
