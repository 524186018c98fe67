"""``AgentContext``: what an agent factory is told about the session it serves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class AgentContext:
    """Passed to ``@app.agent`` factories (and async-generator agents) per run.

    ``state`` is the agent state saved after the session's previous run (``None`` for a
    new session); the app loads it into the agent when the factory did not.
    """

    session_id: str
    agent: str
    user_id: str | None = None
    tenant_id: str | None = None
    run_id: str | None = None
    state: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    state_loaded: bool = False
    """Set by a factory that restored ``state`` itself, so the app does not load it twice."""
