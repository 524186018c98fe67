"""What one reply of a ``ReActAgent`` carries between its steps: usage, the phase it is
in and what is open (partial text, tool calls without a result), so an interrupt or a
failure can close the reply cleanly from any point."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from roost.core import Msg, ToolResultBlock, ToolUseBlock, Usage


@dataclass
class ReplyState:
    reply_id: str
    usage: Usage = field(default_factory=Usage)
    phase: Literal["model", "tools"] = "model"
    partial_text: list[str] = field(default_factory=list)
    streamed_calls: list[ToolUseBlock] = field(default_factory=list)
    calls: list[ToolUseBlock] = field(default_factory=list)
    results: dict[str, ToolResultBlock] = field(default_factory=dict)
    iterations: int = 0
    model_msg_id: str | None = None
    ctx_attrs: dict[str, Any] = field(default_factory=dict)
    """Run/session/user/tenant ids from OTel baggage, read once per reply."""
    context: str = ""
    """Added to the system prompt for this reply (retrieved passages, memories)."""
    guidance: str = ""
    """Per-reply instructions derived from the question (e.g. answer in Chinese)."""
    answer_pattern: str | None = None
    """Constrains a decision-mode answer (to start in the user's script)."""
    tool_steps: int = 0
    """Tool calls the question asks for: until that many have succeeded (or two more
    than that have been tried), a step must call a tool."""
    last_success: tuple[ToolUseBlock, ToolResultBlock] | None = None
    """The latest call of this reply that succeeded, with its result (for the answer's
    result note)."""
    executed: dict[str, ToolResultBlock] = field(default_factory=dict)
    """Results of the calls made in this reply, by ``call_key``: a repeat is not run."""


def must_call(st: ReplyState) -> bool:
    """Whether the question still needs a tool call before it may be answered."""
    if st.tool_steps <= 0:
        return False
    done = sum(not r.is_error for r in st.executed.values())
    return done < st.tool_steps and len(st.executed) < st.tool_steps + 2


def call_key(call: ToolUseBlock) -> str:
    """Identity of a tool call for the loop guard: name and canonical arguments."""
    import json

    return f"{call.name}:{json.dumps(call.input, sort_keys=True, default=str)}"


def as_msgs(msg: Msg | Sequence[Msg] | str | None) -> list[Msg]:
    if msg is None:
        return []
    if isinstance(msg, str):
        return [Msg.user(msg)]
    if isinstance(msg, Msg):
        return [msg]
    return list(msg)
