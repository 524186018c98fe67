"""``@app.task`` routes (``POST path`` → 202 + task id) and ``GET /v1/tasks/{id}``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.server._http import json_response, read_json
from roost.server.auth import Principal
from roost.server.openapi import JSON_ANY
from roost.server.router import Doc, api_route
from roost.server.schemas import TaskOut

if TYPE_CHECKING:
    from roost.server.registry import TaskSpec
    from roost.server.services import Services


def _task_out(record: dict[str, Any]) -> TaskOut:
    return TaskOut(
        id=record["id"],
        name=record["name"],
        status=record["status"],
        result=record.get("result"),
        error=record.get("error"),
    )


def routes(services: Services) -> list[BaseRoute]:
    def make(spec: TaskSpec) -> Any:
        async def enqueue(request: Request, principal: Principal) -> Response:
            payload = await read_json(request)
            record = await services.queue.enqueue_call(spec.name, payload, principal)
            return json_response(_task_out(record), status=202, headers={"x-task-id": record["id"]})

        enqueue.__name__ = f"task_{spec.name}"
        return enqueue

    async def get_task(request: Request, principal: Principal) -> Response:
        record = await services.queue.get_call(request.path_params["task_id"], principal)
        return json_response(_task_out(record))

    out: list[BaseRoute] = [
        api_route(
            s.path,
            make(s),
            ["POST"],
            Doc(
                f"Queue task {s.name}",
                body=JSON_ANY,
                response=TaskOut,
                status=202,
                permission="endpoints.call",
                quota="run",
            ),
        )
        for s in services.tasks.values()
    ]
    doc = Doc("Status of a background task", response=TaskOut, permission="endpoints.call")
    out.append(api_route("/v1/tasks/{task_id}", get_task, ["GET"], doc))
    return out
