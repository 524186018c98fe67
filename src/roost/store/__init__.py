"""Persistence: sessions, messages, agent state, runs, run events, API keys, sandbox
bindings and spans in SQLite (default, under ``ROOST_HOME``) or PostgreSQL, with Alembic
migrations shipped in the package; Redis (optional) for cross-replica session locks and
event fan-out; retention that prunes what ages out (:mod:`roost.store.retention`).

``Store.open()`` is the entry point; ``locks_from_settings()`` and
``bus_from_settings()`` pick in-process or Redis coordination from ``ROOST_REDIS_URL``.
"""

from typing import Any

from roost.store.bus import EventBus, LocalEventBus, RedisEventBus, Subscription, bus_from_settings
from roost.store.errors import (
    ApiKeyNotFound,
    BusOverflow,
    ContentSealed,
    EventSeqConflict,
    InvalidCursor,
    InvalidStoreArgument,
    LockLost,
    MessageIdConflict,
    MessageNotFound,
    MigrationError,
    RunExists,
    RunFinished,
    RunNotFound,
    SecretNotFound,
    SessionExists,
    SessionNotFound,
    StateVersionConflict,
    StoreError,
    StoreUnavailable,
    TenantExists,
    TenantNotFound,
)
from roost.store.locks import (
    LocalSessionLocks,
    RedisSessionLocks,
    SessionLock,
    SessionLocks,
    locks_from_settings,
)
from roost.store.records import (
    ACTIVE_RUN_STATUSES,
    FINAL_RUN_STATUSES,
    RUN_STATUSES,
    ApiKeyRecord,
    ApiKeyRole,
    EventRecord,
    MessagePage,
    MessageRecord,
    Page,
    QuotaRecord,
    RunRecord,
    RunStatus,
    SessionRecord,
    TenantRecord,
    UsageGroup,
)
from roost.store.store import Store

__all__ = [
    "ACTIVE_RUN_STATUSES",
    "FINAL_RUN_STATUSES",
    "RUN_STATUSES",
    "ApiKeyNotFound",
    "ApiKeyRecord",
    "ApiKeyRole",
    "BusOverflow",
    "ContentSealed",
    "EventBus",
    "EventRecord",
    "EventSeqConflict",
    "InvalidCursor",
    "InvalidStoreArgument",
    "LocalEventBus",
    "LocalSessionLocks",
    "LockLost",
    "MessageIdConflict",
    "MessageNotFound",
    "MessagePage",
    "MessageRecord",
    "MigrationError",
    "Page",
    "QuotaRecord",
    "RedisEventBus",
    "RedisSessionLocks",
    "RunExists",
    "RunFinished",
    "RunNotFound",
    "RunRecord",
    "RunStatus",
    "SecretNotFound",
    "SessionExists",
    "SessionLock",
    "SessionLocks",
    "SessionNotFound",
    "SessionRecord",
    "StateVersionConflict",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "Subscription",
    "TenantExists",
    "TenantNotFound",
    "TenantRecord",
    "UsageGroup",
    "bus_from_settings",
    "locks_from_settings",
    "metadata",
]


def __getattr__(name: str) -> Any:
    if name == "metadata":  # the SQLAlchemy tables: imported only by who needs them
        from roost.store.schema import metadata

        return metadata
    raise AttributeError(f"module 'roost.store' has no attribute {name!r}")
