"""Persistence: sessions, messages, agent state, runs, run events and API keys in SQLite
(default, under ``ROOST_HOME``) or PostgreSQL, with Alembic migrations shipped in the
package; Redis (optional) for cross-replica session locks and event fan-out.

``Store.open()`` is the entry point; ``locks_from_settings()`` and
``bus_from_settings()`` pick in-process or Redis coordination from ``ROOST_REDIS_URL``.
"""

from roost.store.bus import EventBus, LocalEventBus, RedisEventBus, Subscription, bus_from_settings
from roost.store.errors import (
    ApiKeyNotFound,
    BusOverflow,
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
    SessionExists,
    SessionNotFound,
    StateVersionConflict,
    StoreError,
    StoreUnavailable,
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
    RunRecord,
    RunStatus,
    SessionRecord,
    UsageGroup,
)
from roost.store.schema import metadata
from roost.store.store import Store

__all__ = [
    "ACTIVE_RUN_STATUSES",
    "FINAL_RUN_STATUSES",
    "RUN_STATUSES",
    "ApiKeyNotFound",
    "ApiKeyRecord",
    "ApiKeyRole",
    "BusOverflow",
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
    "RedisEventBus",
    "RedisSessionLocks",
    "RunExists",
    "RunFinished",
    "RunNotFound",
    "RunRecord",
    "RunStatus",
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
    "UsageGroup",
    "bus_from_settings",
    "locks_from_settings",
    "metadata",
]
