"""What an app registers: agents, custom endpoints and durable tasks."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from roost.server._generator_agent import GeneratorAgent
from roost.server.context import AgentContext
from roost.server.errors import AgentNotFound

if TYPE_CHECKING:
    from roost.server.auth import Principal

AgentRouter = Callable[["str | None", "Principal", Mapping[str, str]], Awaitable["str | None"]]
"""Picks the agent (version) a new session runs: ``(asked, principal, headers) -> name``.
Set by roost.evals for gray release; sessions stay on what it picked."""


@dataclass
class AgentSpec:
    """A registered agent: a factory ``(ctx) -> Agent`` or an async generator ``(msg, ctx)``."""

    name: str
    fn: Callable[..., Any]
    kind: Literal["factory", "generator"]
    description: str = ""


@dataclass
class EndpointSpec:
    path: str
    fn: Callable[..., Any]
    methods: tuple[str, ...]
    public: bool = False


@dataclass
class TaskSpec:
    path: str
    fn: Callable[..., Any]
    name: str


class Agents:
    """The app's agents by name; the first one registered is the default."""

    def __init__(self) -> None:
        self._specs: dict[str, AgentSpec] = {}
        self.router: AgentRouter | None = None

    async def route(
        self, name: str | None, principal: Principal, headers: Mapping[str, str]
    ) -> str | None:
        """The agent a new session asked for ``name`` runs (the release router's pick)."""
        if self.router is None:
            return name
        return await self.router(name, principal, headers)

    def add(self, spec: AgentSpec) -> None:
        self._specs[spec.name] = spec

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def spec(self, name: str | None) -> AgentSpec:
        if not self._specs:
            raise AgentNotFound("this app has no agent", hint="register one with @app.agent")
        if name is None:
            return next(iter(self._specs.values()))
        spec = self._specs.get(name)
        if spec is None:
            raise AgentNotFound(
                f"no agent named {name!r}", hint=f"known agents: {', '.join(self._specs)}"
            )
        return spec

    async def build(self, spec: AgentSpec, ctx: AgentContext) -> Any:
        """The agent for one run, with the session's saved state loaded."""
        if spec.kind == "generator":
            return GeneratorAgent(spec.name, spec.fn, ctx)
        agent = spec.fn(ctx)
        if inspect.isawaitable(agent):
            agent = await agent
        if ctx.state and not ctx.state_loaded:
            agent.load_state_dict(ctx.state)
        return agent
