"""``MsgHub``: a group chat where every participant sees the others' replies."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from roost.agents.base import Agent
from roost.core import Msg


class MsgHub:
    """Inside ``async with MsgHub([a, b, c], announcement=...)``, each reply a participant
    produces is observed by the others (agents that expose ``_hubs`` broadcast
    automatically; for any other agent call :meth:`broadcast` yourself)."""

    def __init__(
        self,
        participants: Sequence[Agent],
        announcement: Msg | Sequence[Msg] | str | None = None,
    ) -> None:
        self.participants: list[Agent] = list(participants)
        self.announcement = announcement
        self.history: list[Msg] = []

    async def __aenter__(self) -> MsgHub:
        for agent in self.participants:
            self._attach(agent)
        if self.announcement is not None:
            msgs = (
                [Msg(role="user", name="announcement", content=self.announcement)]
                if isinstance(self.announcement, str)
                else [self.announcement]
                if isinstance(self.announcement, Msg)
                else list(self.announcement)
            )
            for msg in msgs:
                await self.broadcast(msg)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for agent in self.participants:
            self._detach(agent)

    def _attach(self, agent: Agent) -> None:
        hubs: list[Any] | None = getattr(agent, "_hubs", None)
        if hubs is not None and self not in hubs:
            hubs.append(self)

    def _detach(self, agent: Agent) -> None:
        hubs: list[Any] | None = getattr(agent, "_hubs", None)
        if hubs is not None and self in hubs:
            hubs.remove(self)

    def add(self, agent: Agent) -> None:
        if agent not in self.participants:
            self.participants.append(agent)
            self._attach(agent)

    def remove(self, agent: Agent) -> None:
        if agent in self.participants:
            self.participants.remove(agent)
            self._detach(agent)

    async def broadcast(self, msg: Msg, *, sender: Agent | None = None) -> None:
        """Let every participant but ``sender`` observe ``msg``."""
        self.history.append(msg)
        await asyncio.gather(*(a.observe(msg) for a in self.participants if a is not sender))
