"""The OpenAPI 3.1 document of an app, built from the pydantic bodies in ``schemas``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from roost.server import schemas as s

if TYPE_CHECKING:
    from roost.server.app import AgentApp

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
_ERROR_CONTENT = {
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
}
_SSE = {"text/event-stream": {"schema": {"type": "string", "description": "docs/protocol.md"}}}

# (method, path, summary, request model, response model or "sse", success status)
_OPS: list[tuple[str, str, str, type[BaseModel] | None, Any, int]] = [
    ("get", "/healthz", "Liveness (no key needed)", None, None, 200),
    ("get", "/readyz", "Readiness: the store is reachable (no key needed)", None, None, 200),
    ("get", "/metrics", "Prometheus exposition", None, None, 200),
    ("get", "/openapi.json", "This document", None, None, 200),
    ("post", "/v1/sessions", "Create a session", s.SessionCreate, s.SessionOut, 201),
    ("get", "/v1/sessions", "List your sessions", None, None, 200),
    ("get", "/v1/sessions/{session_id}", "Get a session", None, s.SessionOut, 200),
    ("delete", "/v1/sessions/{session_id}", "Delete a session and its history", None, None, 204),
    (
        "get",
        "/v1/sessions/{session_id}/messages",
        "Page through messages",
        None,
        s.MessagePageOut,
        200,
    ),
    (
        "post",
        "/v1/sessions/{session_id}/runs",
        "Start a run (SSE when stream=true)",
        s.RunCreate,
        "sse",
        200,
    ),
    (
        "post",
        "/v1/runs",
        "Start a run in the session named by X-Session-ID",
        s.RunCreate,
        "sse",
        200,
    ),
    ("get", "/v1/runs/{run_id}", "Get a run", None, s.RunOut, 200),
    (
        "get",
        "/v1/runs/{run_id}/events",
        "Join or resume a run's stream (Last-Event-ID)",
        None,
        "sse",
        200,
    ),
    ("post", "/v1/runs/{run_id}/cancel", "Interrupt a run", None, None, 202),
    (
        "post",
        "/v1/runs/{run_id}/approvals/{call_id}",
        "Approve or reject a paused tool call",
        s.ApprovalDecision,
        None,
        202,
    ),
    ("get", "/v1/runs/{run_id}/trace", "The run's span tree (roost.observe)", None, None, 200),
    ("get", "/v1/usage", "Token usage and cost, grouped", None, None, 200),
    ("post", "/v1/keys", "Create an API key (admin)", s.KeyCreate, s.KeyOut, 201),
    ("get", "/v1/keys", "List API keys (admin)", None, None, 200),
    ("delete", "/v1/keys/{key_id}", "Revoke an API key (admin)", None, s.KeyOut, 200),
    (
        "post",
        "/v1/chat/completions",
        "OpenAI-compatible chat completions",
        s.ChatCompletionCreate,
        None,
        200,
    ),
    ("get", "/v1/models", "The agents, as OpenAI models", None, None, 200),
    ("get", "/v1/tasks/{task_id}", "Status of a background task", None, s.TaskOut, 200),
]

_PUBLIC = frozenset({"/healthz", "/readyz"})


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


_PAGE_LIMIT = {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}
_SEQ = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
_TIME = {"type": "string", "description": "ISO 8601 time or Unix seconds"}
# query and header parameters, by (method, path)
_PARAMS: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("get", "/v1/sessions"): [
        _query("limit", "page size", _PAGE_LIMIT),
        _query("cursor", "next_cursor of the previous page", {"type": "string"}),
    ],
    ("get", "/v1/sessions/{session_id}/messages"): [
        _query("limit", "page size", _PAGE_LIMIT),
        _query("after", "next_cursor of the previous page", {"type": "string"}),
    ],
    ("get", "/v1/runs/{run_id}/events"): [
        _query("after", "events after this id (the Last-Event-ID header wins)", _SEQ),
        {
            "name": "Last-Event-ID",
            "in": "header",
            "required": False,
            "schema": _SEQ,
            "description": "the id of the last event received: the stream resumes after it",
        },
    ],
    ("post", "/v1/runs"): [
        {
            "name": "X-Session-ID",
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": "the session to run in",
        }
    ],
    ("post", "/v1/chat/completions"): [
        {
            "name": "X-Session-ID",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "the conversation (docs/api.md, OpenAI-compatible)",
        }
    ],
    ("get", "/v1/usage"): [
        _query("group_by", "one of session, user, tenant, model, agent", {"type": "string"}),
        _query("since", "from this time", _TIME),
        _query("until", "until this time", _TIME),
        _query("tenant", "one tenant (admin keys only)", {"type": "string"}),
    ],
}
_EXTRA_ERRORS: dict[tuple[str, str], dict[str, str]] = {
    ("post", "/v1/chat/completions"): {
        "400": "unsupported_parameter (an option the agent cannot honour)",
        "404": "agent_not_found (model names no agent)",
    },
    ("post", "/v1/sessions"): {"404": "agent_not_found"},
}
# errors a route can answer besides 401/429 (and 422/413 where it takes a body)
_CONFLICTS = {
    ("post", "/v1/sessions"): "session_exists",
    ("delete", "/v1/sessions/{session_id}"): "session_busy (a run is active)",
    ("post", "/v1/sessions/{session_id}/runs"): "session_busy (busy_policy reject)",
    ("post", "/v1/runs"): "session_busy (busy_policy reject)",
    ("post", "/v1/runs/{run_id}/cancel"): "run_not_active (it already finished)",
    ("post", "/v1/runs/{run_id}/approvals/{call_id}"): "run_not_active",
    ("post", "/v1/chat/completions"): "session_busy, session_agent_mismatch",
}


def openapi_schema(app: AgentApp) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": _ERROR}
    paths: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            components.setdefault(name, sub)
        components[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    from roost.server.routes.knowledge import OPENAPI_OPS as knowledge_ops

    ops = list(_OPS) + knowledge_ops
    ops += [
        ("post", t.path, f"Queue task {t.name}", None, s.TaskOut, 202) for t in app.tasks.values()
    ]
    ops += [
        (m.lower(), e.path, f"Custom endpoint {e.fn.__name__}", None, None, 200)
        for e in app.endpoints
        for m in e.methods
    ]
    for method, path, summary, body, resp, status in ops:
        op: dict[str, Any] = {"summary": summary, "responses": {}}
        names = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
        parameters = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in names
        ] + _PARAMS.get((method, path), [])
        if parameters:
            op["parameters"] = parameters
        if body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(body)}},
            }
        if resp == "sse":
            content: dict[str, Any] | None = {**_SSE, "application/json": {"schema": ref(s.RunOut)}}
        elif resp is not None:
            content = {"application/json": {"schema": ref(resp)}}
        else:
            content = None
        ok: dict[str, Any] = {"description": "success"}
        if content:
            ok["content"] = content
        op["responses"][str(status)] = ok
        errors: list[tuple[str, str]] = []
        extra = _EXTRA_ERRORS.get((method, path), {})
        if "400" in extra:
            errors.append(("400", extra["400"]))
        if path not in _PUBLIC:
            errors.append(("401", "missing or invalid key"))
            if path.startswith("/v1/keys") or path == "/metrics":
                errors.append(("403", "an admin key is needed"))
        if names:
            errors.append(("404", f"no such {names[0].removesuffix('_id')} (or not yours)"))
        elif "404" in extra:
            errors.append(("404", extra["404"]))
        if (method, path) in _CONFLICTS:
            errors.append(("409", _CONFLICTS[(method, path)]))
        if body is not None:
            errors.append(("413", "the body is over the size limit"))
            errors.append(("415", "the body is not JSON (Content-Type)"))
        if body is not None or (method, path) in _PARAMS or names:
            errors.append(("422", "invalid request: the fields at fault are listed"))
        if path not in _PUBLIC:
            errors.append(("429", "rate limited (see Retry-After)"))
        if path == "/readyz":
            errors.append(("503", "the store is unreachable"))
        for code, text in errors:
            op["responses"][code] = {"description": text, **_ERROR_CONTENT}
        if path not in _PUBLIC:
            op["security"] = [{"bearer": []}, {"apiKey": []}]
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{app.name} (Roost agent service)",
            "version": "1",
            "description": app.description,
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
