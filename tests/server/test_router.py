"""The route table in front of Starlette's router answers as the router would."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import Match

from roost.server import AgentApp
from roost.server.router import RouteTable, build_router


def _app() -> AgentApp:
    app = AgentApp("t", auth=False, observe=False)

    @app.agent
    async def echo(msg: Any, ctx: Any) -> Any:
        yield msg.text

    @app.endpoint("/v1/sessions/special", methods=["GET"])
    def special() -> dict[str, str]:
        return {"ok": "yes"}

    @app.endpoint("/files/{name:path}", methods=["GET"])
    def files(name: str) -> dict[str, str]:
        return {"name": name}

    @app.endpoint("/after/{x}", methods=["GET"])
    def after(x: str) -> dict[str, str]:
        return {"x": x}

    return app


def _router_choice(routes: list[Any], method: str, path: str) -> tuple[Any, dict[str, Any]] | None:
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            return route, child["path_params"]
    return None


PATHS = [
    ("POST", "/v1/sessions"),
    ("GET", "/v1/sessions"),
    ("GET", "/v1/sessions/ses_1"),
    ("DELETE", "/v1/sessions/ses_1"),
    ("PUT", "/v1/sessions/ses_1"),  # a wrong method: the router answers 405
    ("GET", "/v1/sessions/special"),  # a custom endpoint behind a built-in pattern
    ("POST", "/v1/sessions/ses_1/runs"),
    ("GET", "/v1/sessions/ses_1/messages"),
    ("GET", "/v1/sessions//messages"),  # an empty segment is no parameter
    ("GET", "/v1/sessions/ses_1/"),  # a trailing slash: the router redirects
    ("POST", "/v1/runs/run_1/approvals/call_9"),
    ("GET", "/v1/runs/run_1/events"),
    ("HEAD", "/healthz"),
    ("GET", "/files/a/b.txt"),  # a convertor: from here on the router decides
    ("GET", "/after/1"),
    ("GET", "/nowhere"),
]


@pytest.mark.parametrize(("method", "path"), PATHS)
def test_the_table_agrees_with_the_router(method: str, path: str) -> None:
    app = _app()
    router = build_router(app)
    table = RouteTable(router.routes)
    hit = table.match(method, path)
    choice = _router_choice(router.routes, method, path)
    if hit is None:
        # not the table's to answer: the router gives a 404/405, or a route after the
        # first one the table cannot hold
        assert choice is None or choice[0].path in ("/files/{name:path}", "/after/{x}")
        return
    handler, template, params = hit
    assert choice is not None
    route, router_params = choice
    assert (route.roost_handler, route.path, router_params) == (handler, template, params)
