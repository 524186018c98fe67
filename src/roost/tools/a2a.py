"""Any A2A agent as a tool: ``await a2a_agent_tool(url)`` reads its agent card and gives a
:class:`Tool` that sends the model's ``message`` and returns the remote agent's answer.

The tool keeps one A2A context per tool object, so a conversation with the remote agent
continues across calls of one agent run. Requests carry the current W3C trace context,
so the remote agent's trace joins the caller's. Needs ``a2a-sdk`` (extra ``interop``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from roost.core import ToolError
from roost.tools.tool import Tool

_NAME_OK = re.compile(r"[^A-Za-z0-9_-]")


async def a2a_agent_tool(
    url: str,
    *,
    name: str | None = None,
    description: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 300.0,
) -> Tool:
    """The A2A agent at ``url`` (its base URL: the card is under ``/.well-known``)."""
    import httpx
    from a2a.client import A2ACardResolver

    async with httpx.AsyncClient(headers=dict(headers or {}), timeout=30) as http:
        card = await A2ACardResolver(http, url).get_agent_card()
    skills = "; ".join(f"{s.name}: {s.description}" for s in card.skills)
    text = description or f"Ask the remote agent {card.name!r}. {card.description} {skills}"
    state: dict[str, str] = {}

    async def ask(message: str) -> str:
        """Send one message to the remote agent and return its answer."""
        return await _send(card, message, state, dict(headers or {}), timeout)

    return Tool.from_function(
        ask, name=name or _NAME_OK.sub("_", card.name)[:64] or "a2a_agent", description=text
    )


async def _send(
    card: Any, message: str, state: dict[str, str], headers: dict[str, str], timeout: float
) -> str:
    import httpx
    from a2a.client import ClientConfig, create_client
    from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest, TaskState

    from roost.core import new_id

    async def trace(request: httpx.Request) -> None:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        carrier: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(carrier)
        request.headers.update(carrier)

    async with httpx.AsyncClient(
        headers=headers, timeout=timeout, event_hooks={"request": [trace]}
    ) as http:
        client = await create_client(
            card, client_config=ClientConfig(httpx_client=http, streaming=False)
        )
        request = Message(
            message_id=new_id("msg"),
            role=Role.ROLE_USER,
            parts=[Part(text=message)],
            context_id=state.get("context_id", ""),
        )
        answer = ""
        async for event in client.send_message(SendMessageRequest(message=request)):
            if event.HasField("task"):
                task = event.task
                state["context_id"] = task.context_id
                if task.status.state != TaskState.TASK_STATE_COMPLETED:
                    why = "".join(p.text for p in task.status.message.parts)
                    state_name = TaskState.Name(task.status.state)
                    raise ToolError(f"the remote agent's task ended {state_name}: {why}")
                answer = "".join(p.text for a in task.artifacts for p in a.parts) or "".join(
                    p.text for p in task.status.message.parts
                )
            elif event.HasField("message"):
                state["context_id"] = event.message.context_id
                answer = "".join(p.text for p in event.message.parts)
        return answer
