"""The ``a2a-sdk`` side of :mod:`roost.server.routes.a2a`: an ``AgentExecutor`` that runs a
Roost agent as a Roost run, the agent card, and the SDK's JSON-RPC dispatcher.

Imported on the first A2A request only (the SDK pulls in protobuf and more).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from a2a.auth.user import User
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes import ServerCallContextBuilder, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    HTTPAuthSecurityScheme,
    Message,
    Part,
    Role,
    SecurityRequirement,
    SecurityScheme,
    StringList,
    Task,
    TaskState,
    TaskStatus,
)
from starlette.requests import Request
from starlette.responses import Response

import roost
from roost.server.auth import Principal
from roost.server.routes._a2a_common import input_msg, owner_of

if TYPE_CHECKING:
    from roost.server.services import Services
    from roost.store import SessionRecord

CHUNK_INTERVAL = 0.05
"""Seconds between two streamed artifact chunks of one task."""

SessionFor = Callable[[Principal, str, str], Awaitable["SessionRecord"]]


class RoostUser(User):
    """The caller as the SDK sees it: its ``user_name`` scopes the task store."""

    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def user_name(self) -> str:
        return owner_of(self.principal)


class _ContextBuilder(ServerCallContextBuilder):
    def build(self, request: Request) -> ServerCallContext:
        principal: Principal = request.scope["roost.principal"]
        return ServerCallContext(
            user=RoostUser(principal),
            state={"principal": principal, "headers": dict(request.headers)},
        )


def _agent_message(text: str, context_id: str, task_id: str) -> Message:
    from roost.core import new_id

    return Message(
        message_id=new_id("msg"),
        context_id=context_id,
        task_id=task_id,
        role=Role.ROLE_AGENT,
        parts=[Part(text=text)],
    )


class RoostAgentExecutor(AgentExecutor):
    """Runs one A2A task as one Roost run in the context's session, streaming its text
    as artifact chunks; a cancel cancels the run."""

    def __init__(self, services: Services, agent: str, session_for: SessionFor) -> None:
        self.services = services
        self.agent = agent
        self.session_for = session_for
        self.runs: dict[str, str] = {}

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None and context.task_id and context.context_id
        task_id, context_id = context.task_id, context.context_id
        principal: Principal = context.call_context.state["principal"]
        updater = TaskUpdater(event_queue, task_id, context_id)
        if context.current_task is None:
            await event_queue.enqueue_event(
                Task(
                    id=task_id,
                    context_id=context_id,
                    status=TaskStatus(state=TaskState.TASK_STATE_SUBMITTED),
                    history=[context.message],
                )
            )
        session = await self.session_for(principal, context_id, self.agent)
        handle = await self.services.executor.start(
            session, [input_msg(context.message)], metadata={"source": "a2a", "a2a_task": task_id}
        )
        self.runs[task_id] = handle.id
        await updater.start_work()
        try:
            await self._follow(handle.id, updater, context_id, task_id)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await self.services.executor.cancel(handle.id, "canceled over A2A")
            raise
        finally:
            self.runs.pop(task_id, None)

    async def _follow(
        self, run_id: str, updater: TaskUpdater, context_id: str, task_id: str
    ) -> None:
        artifact_id = "answer-" + run_id
        text: list[str] = []
        pending: list[str] = []
        last = 0.0

        async def flush() -> None:
            nonlocal last
            await updater.add_artifact(
                [Part(text="".join(pending))],
                artifact_id=artifact_id,
                name="answer",
                append=bool(text),
                last_chunk=False,
            )
            text.extend(pending)
            pending.clear()
            last = time.monotonic()

        async with contextlib.aclosing(self.services.executor.follow(run_id, 0)) as batches:
            async for batch in batches:
                # deltas go out as artifact chunks at most every CHUNK_INTERVAL (the first
                # at once): each chunk costs the SDK a task-store update and a conversion
                pending.extend(json.loads(d)["delta"] for _s, t, d in batch if t == "text.delta")
                if pending and time.monotonic() - last >= CHUNK_INTERVAL:
                    await flush()
                for _seq, type_, data in batch:
                    if type_ in ("run.completed", "run.failed", "run.canceled") and pending:
                        await flush()
                    if type_ == "run.completed":
                        env = json.loads(data)
                        final = _final_text(env) or "".join(text)
                        if not text and final:
                            await updater.add_artifact(
                                [Part(text=final)], artifact_id=artifact_id, name="answer"
                            )
                        await updater.complete(_agent_message(final, context_id, task_id))
                        return
                    elif type_ == "run.failed":
                        env = json.loads(data)
                        why = f"{env.get('code', 'internal_error')}: {env.get('message', '')}"
                        await updater.failed(_agent_message(why, context_id, task_id))
                        return
                    elif type_ == "run.canceled":
                        await updater.cancel()
                        return

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        run_id = self.runs.get(context.task_id or "")
        if run_id is not None:
            with contextlib.suppress(Exception):
                await self.services.executor.cancel(run_id, "canceled over A2A")
        if context.task_id and context.context_id:
            await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()


def _final_text(env: dict[str, Any]) -> str:
    output = env.get("output") or {}
    return "".join(b.get("text", "") for b in output.get("content", []) if b.get("type") == "text")


class A2ABridge:
    """One agent's A2A server: its card and the SDK's request handler."""

    def __init__(self, services: Services, agent: str, session_for: SessionFor) -> None:
        self.services = services
        self.agent = agent
        self.executor = RoostAgentExecutor(services, agent, session_for)
        self.tasks = InMemoryTaskStore()
        self._endpoint: Callable[[Request], Awaitable[Response]] | None = None

    def card(self, base_url: str) -> AgentCard:
        spec = self.services.agents.spec(self.agent)
        description = spec.description or f"The {self.agent} agent, served by Roost."
        return AgentCard(
            name=self.agent,
            description=description,
            version=getattr(roost, "__version__", "0"),
            supported_interfaces=[
                AgentInterface(
                    url=f"{base_url}/a2a/{self.agent}",
                    protocol_binding="JSONRPC",
                    protocol_version="1.0",
                )
            ],
            capabilities=AgentCapabilities(streaming=True, push_notifications=False),
            security_schemes={
                "roostKey": SecurityScheme(
                    http_auth_security_scheme=HTTPAuthSecurityScheme(
                        scheme="bearer", description="a Roost API key (roost keys create)"
                    )
                )
            },
            security_requirements=[SecurityRequirement(schemes={"roostKey": StringList()})],
            default_input_modes=["text/plain", "image/png", "image/jpeg"],
            default_output_modes=["text/plain"],
            skills=[
                AgentSkill(
                    id=self.agent,
                    name=self.agent,
                    description=description,
                    tags=["roost", "agent"],
                )
            ],
        )

    def card_dict(self, base_url: str) -> dict[str, Any]:
        return agent_card_to_dict(self.card(base_url))

    async def handle(self, request: Request) -> Response:
        if self._endpoint is None:
            base = str(request.base_url).rstrip("/")
            handler = DefaultRequestHandler(
                agent_executor=self.executor, task_store=self.tasks, agent_card=self.card(base)
            )
            [route] = create_jsonrpc_routes(
                handler, f"/a2a/{self.agent}", context_builder=_ContextBuilder()
            )
            self._endpoint = route.endpoint  # type: ignore[assignment]
        assert self._endpoint is not None
        return await self._endpoint(request)
