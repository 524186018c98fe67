"""The ``Agent`` protocol: what the server, pipelines and MsgHub need from an agent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable

from roost.core import Event, Msg


@runtime_checkable
class Agent(Protocol):
    """An agent streams events for a reply and can be interrupted and checkpointed.

    ``reply(msg)`` yields :mod:`roost.core.events` and always ends with exactly one
    ``ReplyFinished`` (carrying the final assistant ``Msg``) — also after an interrupt,
    which is announced by an ``Interrupted`` event first.
    """

    name: str

    def reply(self, msg: Msg | list[Msg] | str | None = None) -> AsyncIterator[Event]: ...

    async def __call__(self, msg: Msg | list[Msg] | str | None = None) -> Msg: ...

    def interrupt(self, reason: str = "interrupted") -> None: ...

    def approve(self, call_id: str) -> None: ...

    def reject(self, call_id: str, reason: str = "rejected") -> None: ...

    async def observe(self, msg: Msg | list[Msg]) -> None:
        """Add messages to memory without replying (used by MsgHub broadcasts)."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...
