"""Hooks that see every run: the observability layer plugs spans and metrics in here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from roost.core import Usage


@dataclass
class RunInfo:
    """What an observer knows about a run (ids are stable; ``metadata`` is free-form)."""

    id: str
    session_id: str
    agent: str
    user_id: str | None = None
    tenant_id: str | None = None
    started_at: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class RunObserver(Protocol):
    """Called by the run executor; a failing observer is logged and never breaks a run.

    ``envelope`` is the event exactly as clients receive it (``seq``, ``type``,
    ``run_id``, ``session_id`` and the event fields).
    """

    async def run_started(self, run: RunInfo) -> None: ...

    async def event(self, run: RunInfo, envelope: dict[str, Any]) -> None: ...

    async def run_finished(self, run: RunInfo, status: str, usage: Usage | None) -> None: ...
