"""``GET /v1/runs/{id}/trace``: the run's span tree from the local trace store (JSON)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.server._http import json_response
from roost.server.auth import Principal
from roost.server.router import api_route
from roost.server.routes._common import load_run

if TYPE_CHECKING:
    from roost.server.app import AgentApp


def routes(app: AgentApp) -> list[BaseRoute]:
    async def run_trace(request: Request, principal: Principal) -> Response:
        from roost.observe.trace_tree import trace_tree

        run_id = request.path_params["run_id"]
        await load_run(app, principal, run_id)  # 404 unless the caller may see the run
        provider = getattr(getattr(app, "observability", None), "provider", None)
        if provider is not None:
            # spans of a run that just ended may still sit in the batch queue
            import asyncio

            await asyncio.to_thread(provider.force_flush, 5000)
        return json_response(await trace_tree(app.store, run_id))

    return [api_route("/v1/runs/{run_id}/trace", run_trace, ["GET"])]
