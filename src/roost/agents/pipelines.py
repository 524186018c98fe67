"""Pipelines: run agents one after another, or the same input through several at once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from roost.agents.base import Agent
from roost.core import Msg


async def sequential_pipeline(agents: Sequence[Agent], msg: Msg | str | None = None) -> Msg | None:
    """Each agent's reply is the next agent's input; returns the last reply."""
    current: Msg | str | None = msg
    for agent in agents:
        current = await agent(current)
    return current if isinstance(current, Msg) or current is None else Msg.user(current)


async def fanout_pipeline(
    agents: Sequence[Agent],
    msg: Msg | str | None = None,
    *,
    concurrent: bool = True,
) -> list[Msg]:
    """Send the same input to every agent (each gets its own copy); returns all replies."""

    def copy() -> Msg | str | None:
        return msg.model_copy(deep=True) if isinstance(msg, Msg) else msg

    if concurrent:
        return list(await asyncio.gather(*(agent(copy()) for agent in agents)))
    return [await agent(copy()) for agent in agents]
