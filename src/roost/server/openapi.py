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
_SSE = {"text/event-stream": {"schema": {"type": "string", "description": "docs/protocol.md"}}}

# (method, path, summary, request model, response model or "sse", success status)
_OPS: list[tuple[str, str, str, type[BaseModel] | None, Any, int]] = [
    ("get", "/healthz", "Liveness (no key needed)", None, None, 200),
    ("get", "/readyz", "Readiness: the store is reachable (no key needed)", None, None, 200),
    ("get", "/metrics", "Prometheus exposition", None, None, 200),
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


def openapi_schema(app: AgentApp) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": _ERROR}
    paths: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            components.setdefault(name, sub)
        components[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    ops = list(_OPS)
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
        params = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
        if params:
            op["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in params
            ]
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
        error = {
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        }
        for code, text in (
            ("401", "missing or invalid key"),
            ("422", "invalid request"),
            ("429", "rate limited"),
        ):
            op["responses"][code] = {"description": text, **error}
        if path not in ("/healthz", "/readyz"):
            op["security"] = [{"bearer": []}]
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
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
