"""Plain, frozen records the store returns (never ORM objects bound to a DB session)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from roost.core.msg import Msg

RunStatus = Literal["queued", "running", "waiting_approval", "succeeded", "failed", "canceled"]
RUN_STATUSES: tuple[RunStatus, ...] = (
    "queued",
    "running",
    "waiting_approval",
    "succeeded",
    "failed",
    "canceled",
)
ACTIVE_RUN_STATUSES: frozenset[str] = frozenset({"queued", "running", "waiting_approval"})
FINAL_RUN_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "canceled"})

ApiKeyRole = Literal["admin", "tenant_admin", "developer", "operator", "viewer", "user", "metrics"]
API_KEY_ROLES: tuple[ApiKeyRole, ...] = (
    "admin",
    "tenant_admin",
    "developer",
    "operator",
    "viewer",
    "user",
    "metrics",
)
UsageGroup = Literal["session", "user", "tenant", "model", "agent"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A conversation: its messages, agent states and runs hang off ``id``."""

    id: str
    app: str
    agent: str | None
    user_id: str | None
    tenant_id: str | None
    title: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """A stored message with its place in the session (``seq``) and its run."""

    msg: Msg
    session_id: str
    seq: int
    run_id: str | None
    partial: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MessagePage:
    """One page of a session's messages, oldest first; pass ``next_cursor`` to continue."""

    items: list[Msg]
    next_cursor: str | None
    records: list[MessageRecord] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing; ``next_cursor`` is ``None`` on the last page."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One agent run (a user turn or a background job) and its accounting."""

    id: str
    session_id: str | None
    agent: str | None
    user_id: str | None
    tenant_id: str | None
    status: RunStatus
    input_message_id: str | None
    error_code: str | None
    error_message: str | None
    model: str | None
    input_tokens: int
    output_tokens: int
    cost: float | None
    currency: str | None
    metadata: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    owner: str | None
    heartbeat_at: datetime | None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_RUN_STATUSES


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One stream event of a run, in ``seq`` order; ``payload`` is the event JSON."""

    run_id: str
    seq: int
    type: str
    payload: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An API key without its secret: only ``prefix`` (for display) is kept in clear."""

    id: str
    name: str
    prefix: str
    role: ApiKeyRole
    tenant_id: str | None
    user_id: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    expires_at: datetime | None = None
    hash_scheme: str = "hmac-sha256"
    """``sha256`` for a key stored before keyed hashing, until its first use (0181)."""

    @property
    def display(self) -> str:
        """What a console shows: ``rk_ab12cd34…``."""
        return f"rk_{self.prefix}…"

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def expired(self, at: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= at


@dataclass(frozen=True, slots=True)
class TenantRecord:
    """A tenant: a team whose keys, sessions, usage and quotas are kept apart."""

    id: str
    name: str
    metadata: dict[str, Any]
    created_at: datetime
    disabled_at: datetime | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True, slots=True)
class QuotaRecord:
    """The limits of a tenant (``user_id`` ``""``) or of one user of it; a limit left out
    is unlimited."""

    tenant_id: str
    user_id: str
    limits: dict[str, float]
    updated_at: datetime
