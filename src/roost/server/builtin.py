"""The built-in assistant that ``roost serve`` runs when no app is given."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from roost.agents.assistant import MAX_ITERS, SYSTEM_PROMPT, question_rules, tool_filter
from roost.core.settings import get_settings
from roost.server.app import AgentApp
from roost.server.context import AgentContext

KNOWLEDGE_PROMPT = (
    " Questions about the organisation (its policies, products, people) are answered from "
    "the knowledge-base passages given below, not from memory: when a passage holds the "
    "answer, answer at once without calling any tool, quoting the figure or fact it states "
    "and citing its id; call search_knowledge only when the passages do not answer."
)

log = logging.getLogger("roost.server")


def create_app(
    model: str | None = None,
    *,
    name: str = "assistant",
    sandbox: bool | None = None,
    knowledge_base: str | None = None,
    memory: bool | None = None,
    **app_options: Any,
) -> AgentApp:
    """An :class:`AgentApp` serving one ``ReActAgent`` on ``model`` (a model spec; default
    ``ROOST_MODEL`` or the local model) with the built-in tools and, unless ``sandbox`` is
    false (or ``ROOST_SANDBOX=0``), a bubblewrap sandbox per session. With
    ``knowledge_base`` (a name or id, or ``ROOST_KNOWLEDGE_BASE``) the assistant searches
    that knowledge base for every question and has the ``search_knowledge`` tool; with
    ``memory`` (or ``ROOST_MEMORY=1``) it remembers facts about each user (the ``remember``
    tool) and recalls them in later sessions."""
    from roost.agents import ReActAgent
    from roost.models.resolve import resolve_model
    from roost.tools import Toolkit
    from roost.tools.builtin import builtin_tools

    if sandbox is None:
        sandbox = get_settings().sandbox
    app = AgentApp(name, description="Roost built-in assistant", **app_options)
    chat_model = resolve_model(model)
    sandboxes: dict[str, Any] = {}

    if sandbox:

        @app.on_startup
        async def _start_sandboxes() -> None:
            from roost.sandbox import SandboxManager, SandboxUnavailable

            manager = SandboxManager(pool_size=1, bindings=app.store.sandbox_bindings)
            try:
                await manager.start(wait_warm=False)
            except SandboxUnavailable as exc:
                # fail closed: no sandbox tools rather than unisolated code execution
                log.warning("sandbox tools disabled: %s", exc)
                return
            sandboxes["manager"] = manager
            if app.observability is not None:
                app.observability.watch_sandbox_manager(manager)

        @app.on_shutdown
        async def _stop_sandboxes() -> None:
            manager = sandboxes.pop("manager", None)
            if manager is not None:
                await manager.aclose()

    settings = get_settings()
    knowledge_base = knowledge_base or settings.knowledge_base or None
    remember = memory if memory is not None else settings.memory
    attached: dict[str, Any] = {}
    if knowledge_base:

        @app.on_startup
        async def _open_knowledge_base() -> None:
            from roost.server.routes.knowledge import knowledge_store

            attached["kb"] = await knowledge_store(app.services).open_recorded(
                knowledge_base, tenant_id=None
            )

    def assistant(ctx: AgentContext) -> ReActAgent:
        toolkit = Toolkit(builtin_tools())
        manager = sandboxes.get("manager")
        if manager is not None:
            from roost.sandbox.tools import manager_provider, register_sandbox_tools

            register_sandbox_tools(toolkit, manager_provider(manager, ctx.session_id))
        user_memory = None
        if remember and ctx.user_id:
            from roost.server.routes.knowledge import memory_for

            user_memory = memory_for(app.services, ctx.tenant_id or "default")
        has_kb = "kb" in attached
        if not has_kb and user_memory is None:
            return ReActAgent(
                name,
                chat_model,
                toolkit=toolkit,
                sys_prompt=SYSTEM_PROMPT,
                max_iters=MAX_ITERS,
                tool_filter=tool_filter(chat_model),
                **question_rules(chat_model),
            )
        from roost.agents.knowledge import KnowledgeRetrieval

        knowledge = KnowledgeRetrieval(
            [attached["kb"]] if has_kb else [],
            mode="both",
            k=3,
            memory=user_memory,
            user_id=ctx.user_id,
        )
        return ReActAgent(
            name,
            chat_model,
            toolkit=toolkit,
            sys_prompt=SYSTEM_PROMPT + (KNOWLEDGE_PROMPT if has_kb else ""),
            knowledge=knowledge,
            max_iters=MAX_ITERS,
            tool_filter=tool_filter(chat_model),
            **question_rules(chat_model),
            # answers from documents: no sampling
            model_options={"temperature": 0} if has_kb else None,
        )

    app.agent(assistant, name=name)

    if getattr(chat_model, "provider", None) == "local":

        @app.on_startup
        def _watch_local_model() -> None:
            if app.observability is not None:
                app.observability.watch_local_model(chat_model)

        @app.on_startup
        def _prestart_local_model() -> None:
            # Load the model while the server comes up, not on the first question (~2 s).
            # Not awaited: the API is healthy meanwhile, and a first request simply waits
            # for the same start; /readyz says when it is loaded. A failure is logged;
            # that request reports it, typed.
            loading = _ModelLoading(chat_model)
            app.services.readiness["model"] = loading.check
            task = asyncio.get_running_loop().create_task(chat_model.start())  # type: ignore[attr-defined]
            _background.add(task)
            task.add_done_callback(loading.done)
            task.add_done_callback(_prestart_done)

    @app.on_shutdown
    async def _close_model() -> None:
        closer = getattr(chat_model, "aclose", None)
        if closer is not None:
            await closer()

    return app


_background: set[asyncio.Task[Any]] = set()


class _ModelLoading:
    """The ``/readyz`` check of the local model: loading, ready or failed."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.started = time.monotonic()
        self.error: str | None = None
        self.finished = False

    def done(self, task: asyncio.Task[Any]) -> None:
        self.finished = True
        if not task.cancelled() and task.exception() is not None:
            self.error = str(task.exception())

    def check(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.model.model_name}
        server = self.model.server if self.finished else None
        if server is not None and server.running():
            out.update(ready=True, state="ready", ready_seconds=server.ready_seconds)
        elif server is not None and self.error is None:
            # stopped since (crash, idle): the next run starts it again
            out.update(ready=True, state="stopped")
        elif self.error is not None:
            out.update(ready=False, state="failed", error=self.error[:300])
        else:
            out.update(
                ready=False, state="loading", seconds=round(time.monotonic() - self.started, 1)
            )
        return out


def _prestart_done(task: asyncio.Task[Any]) -> None:
    _background.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.warning("the local model did not start ahead of use: %s", task.exception())


def app_from_env() -> AgentApp:
    """Factory for ``roost serve`` (also with several workers): the model spec comes from
    ``ROOST_SERVE_MODEL`` (set by ``--model``) or else ``ROOST_MODEL``/the local model."""
    return create_app(get_settings().serve_model or None)
