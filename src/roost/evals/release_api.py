"""``/v1/releases/{agent}``: the release policy of a versioned agent, its per-version
metrics and history; set weights, promote, roll back. Admin keys only: a release moves
everyone's traffic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.evals.release import Percent, ReleasePolicy
from roost.evals.rollout import Releases
from roost.server._http import json_response, parse_body, read_json
from roost.server.auth import Principal
from roost.server.router import Doc, api_route

if TYPE_CHECKING:
    from roost.evals.host import EvalHost


class WeightsSet(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    weights: dict[str, Percent] = Field(min_length=1, max_length=32)


class Promote(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    version: str | None = Field(None, min_length=1, max_length=64)


class Rollback(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    reason: str | None = Field(None, max_length=500)


_OBJECT = {"type": "object"}


def routes(evals: EvalHost) -> list[BaseRoute]:
    def releases(principal: Principal) -> Releases:
        principal.require_admin()
        assert evals.releases is not None, "set at start-up"
        return evals.releases

    def actor(principal: Principal) -> str:
        return principal.user_id or principal.key_id

    async def changed(ops: Releases, agent: str, revision: int) -> Response:
        out: dict[str, Any] = await ops.status(agent)
        out["revision"] = revision
        return json_response(out)

    async def status(request: Request, principal: Principal) -> Response:
        ops = releases(principal)
        return json_response(await ops.status(request.path_params["agent"]))

    async def put_policy(request: Request, principal: Principal) -> Response:
        ops = releases(principal)
        agent = request.path_params["agent"]
        revision = await ops.set_policy(agent, await read_json(request), actor(principal))
        return await changed(ops, agent, revision)

    async def set_weights(request: Request, principal: Principal) -> Response:
        ops = releases(principal)
        agent = request.path_params["agent"]
        body = await parse_body(request, WeightsSet)
        return await changed(
            ops, agent, await ops.set_weights(agent, body.weights, actor(principal))
        )

    async def promote(request: Request, principal: Principal) -> Response:
        ops = releases(principal)
        agent = request.path_params["agent"]
        body = await parse_body(request, Promote)
        return await changed(ops, agent, await ops.promote(agent, body.version, actor(principal)))

    async def rollback(request: Request, principal: Principal) -> Response:
        ops = releases(principal)
        agent = request.path_params["agent"]
        body = await parse_body(request, Rollback)
        detail = {"reason": body.reason} if body.reason else None
        return await changed(ops, agent, await ops.rollback(agent, actor(principal), detail=detail))

    path = "/v1/releases/{agent}"
    return [
        api_route(
            path,
            status,
            ["GET"],
            Doc("Policy, per-version metrics and history", response=_OBJECT, admin=True),
        ),
        api_route(
            path,
            put_policy,
            ["PUT"],
            Doc("Set the release policy", body=ReleasePolicy, response=_OBJECT, admin=True),
        ),
        api_route(
            f"{path}/weights",
            set_weights,
            ["POST"],
            Doc("Change the traffic weights", body=WeightsSet, response=_OBJECT, admin=True),
        ),
        api_route(
            f"{path}/promote",
            promote,
            ["POST"],
            Doc(
                "Make a version stable with all traffic", body=Promote, response=_OBJECT, admin=True
            ),
        ),
        api_route(
            f"{path}/rollback",
            rollback,
            ["POST"],
            Doc(
                "Send every new session to the stable version",
                body=Rollback,
                response=_OBJECT,
                admin=True,
            ),
        ),
    ]
