"""Session records cached for a few seconds: a session is created, then run in many times."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roost.store import SessionRecord, Store

_TTL = 5.0
_MAX = 10_000


class SessionCache:
    """Runs need only a session's owner and agent, which never change (a deletion in this
    process applies at once, on other replicas within :data:`_TTL` seconds)."""

    def __init__(self, store: Store, *, remote: bool) -> None:
        self.store = store
        self.remote = remote
        self._records: dict[str, tuple[SessionRecord, float]] = {}
        self._fresh: set[str] = set()

    async def get(self, session_id: str, *, fresh: bool = False) -> SessionRecord:
        """The record; ``fresh`` reads the store, for those who show it (its
        ``updated_at`` and message count move with every run)."""
        hit = None if fresh else self._records.get(session_id)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        record = await self.store.get_session(session_id)
        self.remember(record, fresh=False)
        return record

    def remember(self, record: SessionRecord, *, fresh: bool) -> None:
        if len(self._records) > _MAX:
            self._records.clear()
            self._fresh.clear()
        self._records[record.id] = (record, time.monotonic() + _TTL)
        if fresh and not self.remote:  # with replicas, a run may happen elsewhere first
            self._fresh.add(record.id)

    def forget(self, session_id: str) -> None:
        self._records.pop(session_id, None)
        self._fresh.discard(session_id)

    def take_fresh(self, session_id: str) -> bool:
        """True once for a session created by this process: it has no saved state yet."""
        if session_id in self._fresh:
            self._fresh.discard(session_id)
            return True
        return False
