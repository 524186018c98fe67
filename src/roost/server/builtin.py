"""The built-in assistant that ``roost serve`` runs when no app is given."""

from __future__ import annotations

from typing import Any

from roost.server.app import AgentApp
from roost.server.context import AgentContext

SYSTEM_PROMPT = (
    "You are Roost's built-in assistant. Answer concisely. Use the tools when a "
    "calculation or the current time is needed."
)


def create_app(
    model: str | None = None, *, name: str = "assistant", **app_options: Any
) -> AgentApp:
    """An :class:`AgentApp` serving one ``ReActAgent`` on ``model`` (a model spec; default
    ``ROOST_MODEL`` or the local model) with the built-in tools."""
    from roost.agents import ReActAgent
    from roost.models.resolve import resolve_model
    from roost.tools import Toolkit
    from roost.tools.builtin import builtin_tools

    app = AgentApp(name, description="Roost built-in assistant", **app_options)
    chat_model = resolve_model(model)

    def assistant(ctx: AgentContext) -> ReActAgent:
        return ReActAgent(
            name,
            chat_model,
            toolkit=Toolkit(builtin_tools()),
            sys_prompt=SYSTEM_PROMPT,
        )

    app.agent(assistant, name=name)

    @app.on_shutdown
    async def _close_model() -> None:
        closer = getattr(chat_model, "aclose", None)
        if closer is not None:
            await closer()

    return app


def app_from_env() -> AgentApp:
    """Factory for ``roost serve`` (also with several workers): the model spec comes from
    ``ROOST_SERVE_MODEL`` (set by ``--model``) or else ``ROOST_MODEL``/the local model."""
    import os

    return create_app(os.environ.get("ROOST_SERVE_MODEL") or None)
