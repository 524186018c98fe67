"""The OpenAPI 3.1 document of an app, built from the routes its router serves.

Each route carries a :class:`~roost.server.router.Doc`; bodies come from the pydantic
models in ``schemas``. The document says exactly what the server accepts (schemathesis
checks it in the test suite): any JSON value is :data:`JSON_VALUE` (integers within 64
bits, as the input checks want), bodies without a required field may be left out, and
an event stream is described event by event (``itemSchema``, OpenAPI 3.2's keyword).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from starlette.routing import Route

from roost.core.digits import MAX_INT64

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from roost.server.router import Doc
    from roost.server.services import Services

_REF = "#/components/schemas/"
JSON_VALUE: dict[str, Any] = {
    "description": "Any JSON value; integers (also 1e20) within the signed 64-bit range.",
    "anyOf": [
        {"type": "null"},
        {"type": "boolean"},
        {"type": "string"},
        {"type": "integer", "minimum": -MAX_INT64 - 1, "maximum": MAX_INT64},
        {"type": "number", "not": {"type": "integer"}},
        {"type": "array", "items": {"$ref": _REF + "JsonValue"}},
        {"type": "object", "additionalProperties": {"$ref": _REF + "JsonValue"}},
    ],
}
JSON_ANY = {"$ref": _REF + "JsonValue"}
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "hint": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}
_EVENT = {
    "type": "object",
    "required": ["seq", "type", "run_id", "session_id"],
    "properties": {
        "seq": {"type": "integer", "minimum": 1},
        "type": {"type": "string"},
        "run_id": {"type": "string"},
        "session_id": {"type": "string"},
    },
    "description": "An event envelope (docs/protocol.md)",
}
SSE_EVENTS = {
    "text/event-stream": {
        "itemSchema": {
            "type": "object",
            "required": ["data"],
            "properties": {
                "id": {"type": "string", "pattern": "^[0-9]+$"},
                "event": {"type": "string"},
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": _EVENT,
                },
            },
        }
    }
}
"""A run's stream: one event per SSE frame (``id`` = ``seq``, ``data`` = the envelope)."""
SSE_DATA = {
    "text/event-stream": {
        "itemSchema": {
            "type": "object",
            "required": ["data"],
            "properties": {"data": {"type": "string"}, "event": {"type": "string"}},
        }
    }
}
"""An SSE stream of ``data:`` frames (the OpenAI-compatible stream, custom endpoints)."""


def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def header(
    name: str, description: str, schema: dict[str, Any], *, required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "schema": schema,
        "description": description,
    }


PAGE_LIMIT = {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}
SEQ = {"type": "integer", "minimum": 0, "maximum": MAX_INT64}
CURSOR = {
    "type": "string",
    "format": "roost-cursor",
    "description": "a next_cursor you received (opaque; anything else is 422 invalid_cursor)",
}
NON_BLANK = {"type": "string", "pattern": "\\S"}


def openapi_schema(routes: list[BaseRoute], services: Services) -> dict[str, Any]:
    """The document of the ``routes`` the app's router serves."""
    from roost.server import console

    public = services.public_paths | {
        re.sub(r"\{([^}:]+):[^}]+\}", r"{\1}", r.path)
        for r in routes
        if isinstance(r, Route) and console.is_public(r.path)
    }
    components: dict[str, Any] = {"Error": _ERROR, "JsonValue": JSON_VALUE}
    paths: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        if model.__name__ not in components:
            schema = model.model_json_schema(ref_template=_REF + "{model}")
            for name, sub in schema.pop("$defs", {}).items():
                components.setdefault(name, _bounded(sub))
            components[model.__name__] = schema = _bounded(schema)
            patch = _PATCHES.get(model.__name__)
            if patch is not None:
                patch(schema["properties"], ref)
        return {"$ref": _REF + model.__name__}

    def content(value: Any) -> dict[str, Any]:
        if isinstance(value, type) and issubclass(value, BaseModel):
            return {"application/json": {"schema": ref(value)}}
        if isinstance(value, dict) and value and all("/" in k for k in value):
            return value  # media types already
        if value == "sse":
            return {**SSE_EVENTS, "application/json": {"schema": ref(_run_out())}}
        if value == "stream":
            return dict(SSE_DATA)
        return {"application/json": {"schema": value}}

    for route in routes:
        if not isinstance(route, Route):
            continue
        doc: Doc = getattr(route, "roost_doc", None) or _default_doc(route)
        # Starlette's convertors (``{name:path}``) are not OpenAPI's
        path = re.sub(r"\{([^}:]+):[^}]+\}", r"{\1}", route.path)
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue  # implied by GET
            paths.setdefault(path, {})[method.lower()] = _operation(path, doc, content, public)
    for body in (s for s in components.values() if isinstance(s, dict)):
        _require_discriminators(body)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{services.config.name} (Roost agent service)",
            "version": "1",
            "description": services.config.description,
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


def _operation(path: str, doc: Doc, content: Any, public: frozenset[str]) -> dict[str, Any]:
    names = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
    op: dict[str, Any] = {"summary": doc.summary, "responses": {}}
    parameters = [
        {"name": p, "in": "path", "required": True, "schema": doc.path.get(p, {"type": "string"})}
        for p in names
    ] + list(doc.params)
    if parameters:
        op["parameters"] = parameters
    if doc.body is not None:
        body = doc.body
        schema = content(body)["application/json"]["schema"] if isinstance(body, type) else body
        # an empty body is read as {}: it may be left out when {} is a valid body
        required = isinstance(body, type) and any(
            f.is_required() for f in body.model_fields.values()
        )
        op["requestBody"] = {
            "required": required,
            "content": {"application/json": {"schema": schema}},
        }
    ok: dict[str, Any] = {"description": "success"}
    if doc.response is not None:
        ok["content"] = content(doc.response)
    op["responses"][str(doc.status)] = ok
    for status, resp in doc.codes.items():
        op["responses"][status] = {"description": "success", "content": content(resp)}
    errors: dict[str, str] = {}
    if path not in public:
        errors["401"] = "missing or invalid key"
        from roost.govern.roles import TABLE

        needs = doc.needs
        roles = [r for r in TABLE if r != "public" and needs in TABLE[r]]
        op["x-roost-permission"] = needs
        op["description"] = (
            op.get("description", "") + f"\n\nPermission `{needs}`: roles {', '.join(roles)}."
        ).strip()
        if needs != "authenticated":
            errors["403"] = f"the key's role does not grant {needs} (docs/security.md)"
        if doc.quota is not None:
            errors["403"] = errors.get("403", "") + "; quota_limit_reached"
    if names:
        errors["404"] = f"no such {names[0].removesuffix('_id')} (or not yours)"
    if doc.body is not None:
        errors["413"] = "the body is over the size limit (bytes or JSON values)"
        errors["415"] = "the body is not JSON (Content-Type)"
    if doc.body is not None or doc.params or names:
        errors["422"] = "invalid request: the fields at fault are listed"
    if path not in public:
        errors["429"] = "rate limited (see Retry-After)"
        if doc.quota is not None:
            errors["429"] += "; quota_exceeded (details: quota, limit, used, resets_at)"
    errors.update(doc.errors)
    for code in sorted(errors):
        op["responses"][code] = {
            "description": errors[code],
            "content": {"application/json": {"schema": {"$ref": _REF + "Error"}}},
        }
    if path not in public:
        op["security"] = [{"bearer": []}, {"apiKey": []}]
    return op


# What the validators refuse beyond their types (schemas.py, runs' input_messages and
# ChatCompletionCreate.unsupported): the document says it too.
def _message_in(props: dict[str, Any], ref: Any) -> None:
    text, blocks = props["content"]["anyOf"]
    text.update(NON_BLANK)
    blocks["minItems"] = 1
    for option in blocks["items"]["oneOf"]:  # no blank text block
        if option["$ref"].endswith("/TextBlock"):
            option["properties"] = {"text": NON_BLANK}


def _run_create(props: dict[str, Any], ref: Any) -> None:
    from roost.server.schemas import MessageIn

    message = ref(MessageIn)
    props["input"] = {
        "description": props["input"].get("description", ""),
        "anyOf": [NON_BLANK, message, {"type": "array", "items": message, "minItems": 1}],
    }


def _chat_completion(props: dict[str, Any], ref: Any) -> None:
    none = {"type": "null"}
    # client tools and response formats are declared by their models (openai_wire.py);
    # forcing a tool ("required", a name) is accepted only with client tools: not said here
    for name in ("tool_choice", "function_call"):
        props[name] = {"enum": ["none", "auto", None]}
    props["n"] = {"enum": [1, None]}
    props["logprobs"] = {"enum": [False, None]}
    props["top_logprobs"] = {"enum": [0, None]}
    props["modalities"] = {"anyOf": [none, {"type": "array", "items": {"const": "text"}}]}
    props["audio"] = props["web_search_options"] = none


_PATCHES = {
    "MessageIn": _message_in,
    "RunCreate": _run_create,
    "ChatCompletionCreate": _chat_completion,
}


def _default_doc(route: Route) -> Doc:
    from roost.server.router import Doc

    return Doc(getattr(route.endpoint, "__name__", route.path))


def _run_out() -> type[BaseModel]:
    from roost.server.schemas import RunOut

    return RunOut


def _bounded(schema: Any) -> Any:
    """A pydantic JSON schema with "any value" (``{}``, ``additionalProperties: true``)
    as :data:`JSON_VALUE`: what the input checks accept, not every JSON text."""
    if isinstance(schema, list):
        return [_bounded(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if not any(
        k in schema for k in ("type", "$ref", "anyOf", "oneOf", "allOf", "const", "enum", "not")
    ):
        return {**schema, **JSON_ANY}
    out = {k: (v if k in ("properties", "$defs") else _bounded(v)) for k, v in schema.items()}
    for key in ("properties", "$defs"):
        if key in schema:
            out[key] = {n: _bounded(s) for n, s in schema[key].items()}
    if out.get("additionalProperties") is True or (
        out.get("type") == "object"
        and "additionalProperties" not in out
        and "properties" not in out
    ):
        out["additionalProperties"] = JSON_ANY
    return out


def _require_discriminators(schema: Any) -> None:
    """pydantic leaves a discriminator with a default out of ``required``; a union cannot
    be told apart without it, so the server refuses a block that lacks its ``type``."""
    if isinstance(schema, list):
        for item in schema:
            _require_discriminators(item)
        return
    if not isinstance(schema, dict):
        return
    disc = schema.get("discriminator")
    if isinstance(disc, dict):  # here, not in the shared component: plain unions need not
        for option in schema.get("oneOf", []):
            option["required"] = [disc["propertyName"]]
    for value in schema.values():
        if isinstance(value, (dict, list)):
            _require_discriminators(value)
