"""The routes of the API, one module per resource, and the router they make."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, Router

if TYPE_CHECKING:
    from roost.server.services import Services


def build_router(services: Services, extra: list[BaseRoute]) -> Router:
    """The app's routes, then ``extra`` (other layers')."""
    from roost.server.routes import (
        a2a,
        ag_ui,
        custom,
        health,
        keys,
        knowledge,
        mcp_agents,
        openai_compat,
        responses,
        runs,
        sessions,
        tasks,
        traces,
        usage,
    )

    routes: list[BaseRoute] = []
    for module in (
        health,
        sessions,
        runs,
        traces,
        usage,
        keys,
        openai_compat,
        responses,
        tasks,
        knowledge,
        a2a,
        mcp_agents,
        ag_ui,
        custom,
    ):
        routes.extend(module.routes(services))
    routes.extend(extra)
    return Router(routes=routes)
