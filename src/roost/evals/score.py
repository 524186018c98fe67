"""What a run of a case produced (:class:`Outcome`) and what a scorer said (:class:`Score`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Outcome:
    """What one run of a case produced."""

    output: str
    status: str
    """The run's status: ``succeeded``, ``failed``, ``canceled``."""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    latency_ms: float = 0.0
    cost: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    error: str | None = None
    run_id: str | None = None
    session_id: str | None = None


@dataclass
class Score:
    name: str
    passed: bool
    value: float
    reason: str = ""
    error: str | None = None
    """Set when the scorer could not score (counted apart, never a pass)."""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "passed": self.passed, "value": self.value}
        if self.reason:
            out["reason"] = self.reason
        if self.error:
            out["error"] = self.error
        return out
