"""The routes of the API, one module per resource, and the router they make."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, Router

if TYPE_CHECKING:
    from roost.server.services import Services


def build_router(services: Services, extra: list[BaseRoute]) -> Router:
    """The app's routes, then ``extra`` (other layers')."""
    from roost.server import console
    from roost.server.routes import (
        a2a,
        ag_ui,
        alerts,
        audit,
        custom,
        health,
        keys,
        knowledge,
        mcp_agents,
        openai_compat,
        responses,
        run_list,
        runs,
        secrets,
        sessions,
        tasks,
        tenants,
        traces,
        usage,
    )

    routes: list[BaseRoute] = []
    for module in (
        health,
        sessions,
        runs,
        run_list,
        traces,
        usage,
        keys,
        tenants,
        secrets,
        openai_compat,
        responses,
        tasks,
        knowledge,
        alerts,
        audit,
        a2a,
        mcp_agents,
        ag_ui,
        custom,
        console,
    ):
        routes.extend(module.routes(services))
    routes.extend(extra)
    return Router(routes=routes)
