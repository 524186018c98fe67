"""A run executing in this process: its handle, and the reply it is streaming."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from roost.core import Msg, TextBlock, ThinkingBlock, ToolUseBlock, Usage
from roost.server.observer import RunInfo

if TYPE_CHECKING:
    from roost.server.engine.codec import Envelope, Pending
    from roost.server.registry import AgentSpec
    from roost.store import SessionLock


class PartialReply:
    """Text, thinking and finished tool calls of the message identified by ``msg_id``,
    rebuilt as it streams, so that a flush can persist the reply so far."""

    def __init__(self, msg_id: str, name: str | None) -> None:
        self.msg_id = msg_id
        self.name = name
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.tool_uses: list[ToolUseBlock] = []
        self.dirty = False
        self.saved = False
        """True once any version of it is in the store (a final save must then upsert)."""

    def build(self) -> Msg:
        blocks: list[Any] = []
        if self.thinking:
            blocks.append(ThinkingBlock(thinking="".join(self.thinking)))
        if self.text:
            blocks.append(TextBlock(text="".join(self.text)))
        blocks.extend(self.tool_uses)
        return Msg(id=self.msg_id, role="assistant", name=self.name, content=blocks)

    @property
    def empty(self) -> bool:
        return not (self.text or self.thinking or self.tool_uses)


@dataclass(eq=False)
class RunHandle:
    """A run executing in this process."""

    info: RunInfo
    spec: AgentSpec
    inputs: list[Msg]
    background: bool = False
    created_at: datetime | None = None
    """The stored run's ``created_at``: with the id, its place in its session's queue."""
    status: str = "running"
    seq: int = 0
    events: list[Envelope] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    """Followers blocked until the next event; the others re-read ``events`` before they
    wait. A bare future each: an ``asyncio.Event`` per event cost more than the event."""
    done: asyncio.Event = field(default_factory=asyncio.Event)
    flush_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    agent: Any = None
    task: asyncio.Task[None] | None = None
    lock: SessionLock | None = None
    partial: PartialReply | None = None
    completed: list[Msg] = field(default_factory=list)
    """Assistant messages finished but not yet stored (saved on the next flush)."""
    final: Msg | None = None
    usage: Usage | None = None
    model: str | None = None
    error: tuple[str, str] | None = None
    cancel_reason: str | None = None
    approvals: set[str] = field(default_factory=set)
    abandon: bool = False
    """Set at shutdown for background runs: stop without a final status (resumed later)."""
    unobserved: list[dict[str, Any]] = field(default_factory=list)
    """Envelopes not yet passed to the observers (drained in order by the run task)."""
    held: list[tuple[Envelope, dict[str, Any]]] = field(default_factory=list)
    """The terminal event, stored but not shown until the end of the run is committed."""
    attempt: int = 1
    """2, 3 … for a background run started over after its server stopped."""
    first_seq: int = 1
    """The ``seq`` of this attempt's first event (``events[0]``)."""
    actor: Any = None
    """Who started the run (``roost.govern.audit.Actor``), when auditing."""
    audit: list[Any] = field(default_factory=list)
    """Audit entries not yet committed (with the next flush of the run)."""
    audit_state: Any = None
    """The run's audit bookkeeping (``roost.server.engine.auditing.RunAuditState``)."""

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def session_id(self) -> str:
        return self.info.session_id

    @property
    def followers_waiting(self) -> int:
        return sum(1 for w in self.waiters if not w.done())

    def notify(self) -> None:
        waiters = self.waiters
        if not waiters:
            return
        self.waiters = []
        for waiter in waiters:
            if not waiter.done():  # a follower that left has a cancelled one
                waiter.set_result(None)

    def partial_for(self, msg_id: str | None) -> PartialReply:
        """The reply being built for ``msg_id``; a new message completes the previous one."""
        part = self.partial
        if part is not None and (msg_id is None or msg_id == part.msg_id):
            part.dirty = True
            return part
        if part is not None and not part.empty:
            # a new message started: the previous one is complete; save it on the next flush
            self.completed.append(part.build())
        self.partial = PartialReply(msg_id or f"{self.id}-reply", self.spec.name)
        self.partial.dirty = True
        return self.partial
