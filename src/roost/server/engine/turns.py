"""Turns: the runs of a session start in the order they were submitted (decision 0110).

A run starts only when no older active run of its session exists in the store
(``created_at``, then id). It waits for its turn without holding the session's lock,
woken when a run of the session ends in this process, otherwise polling the store (other
replicas end runs too).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Container
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roost.store import RunRecord, RunStatus, SessionLock, SessionLocks, Store

_POLL = (0.05, 1.0)
"""First and longest wait (s) between two looks at the store for a run waiting its turn;
a run ending in this process wakes the waiters at once, the polls see other replicas."""
ACTIVE: list[RunStatus] = ["queued", "running", "waiting_approval"]
"""The statuses of a run that has not ended."""


class SessionTurns:
    """Whose turn it is in each session. ``running`` holds the ids of the runs this
    process executes (the executor's, shared)."""

    def __init__(
        self,
        store: Store,
        locks: SessionLocks,
        running: Container[str],
        *,
        remote: bool,
        instance_id: str,
    ) -> None:
        self.store = store
        self.locks = locks
        self.running = running
        self.remote = remote
        self.instance_id = instance_id
        self._queued: dict[str, set[str]] = {}
        """Single node: per session, the runs known to wait for their turn; a session not
        in it has none, so a new run on it starts without asking the store."""
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}

    def may_wait(self, session_id: str) -> bool:
        """Whether runs may be waiting for this session (then the store is asked)."""
        return self.remote or session_id in self._queued

    def note_queued(self, session_id: str, run_id: str) -> None:
        """``run_id`` waits for its turn (single node: runs are resumed in this process;
        with replicas the store is asked every time)."""
        if not self.remote:
            self._queued.setdefault(session_id, set()).add(run_id)

    def forget_queued(self, session_id: str, run_id: str) -> None:
        waiting = self._queued.get(session_id)
        if waiting is not None:
            waiting.discard(run_id)
            if not waiting:
                del self._queued[session_id]

    async def ahead(self, session_id: str, me: tuple[datetime, str] | None) -> RunRecord | None:
        """The oldest active run of the session submitted before ``me`` (``(created_at,
        id)``; ``None``: before a run not created yet), or None when ``me`` is next.

        A queued foreground run counts only while its task waits in this process: its
        client is attached to the server that took it, and one that died left it queued
        for good (a background run is durable: some worker runs it). Nor does a run this
        process no longer executes but could not mark finished (the store failed).
        """
        oldest: RunRecord | None = None
        cursor = None
        while True:
            page = await self.store.list_runs(
                session_id=session_id, status=ACTIVE, limit=100, cursor=cursor
            )
            for r in page.items:  # newest first
                if me is not None and (r.created_at, r.id) >= me:
                    continue
                if r.id not in self.running:
                    if r.status == "queued" and not r.metadata.get("background"):
                        continue  # a foreground run queued by another (or a dead) server
                    if r.status != "queued" and r.owner == self.instance_id:
                        continue  # ours, but its end could not be stored
                oldest = r
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        if me is None and oldest is None:
            self._queued.pop(session_id, None)  # nothing waits: the hot path skips the store
        return oldest

    async def take(
        self,
        session_id: str,
        run_id: str,
        created_at: datetime,
        *,
        patience: float | None = None,
    ) -> SessionLock | None:
        """The session's lock, once no run submitted before ``run_id`` is pending.

        Waits without holding the lock (runs ahead must get it), woken when a run of the
        session ends here, else polling the store (runs end on other replicas too).
        ``patience``: None after that many seconds with only queued runs ahead.
        """
        me = (created_at, run_id)
        loop = asyncio.get_running_loop()
        delay, longest = _POLL
        stalled_since: float | None = None
        while True:
            ahead = await self.ahead(session_id, me)
            if ahead is None:
                lock = await self.locks.try_acquire(session_id)
                if lock is not None:
                    return lock
                # held a moment longer (a run committing its end, a newer run about to
                # step back): wait for it, then make sure no older run came back meanwhile
                lock = await self.locks.acquire(session_id, wait=True)
                try:
                    ahead = await self.ahead(session_id, me)
                except BaseException:
                    await lock.release()
                    raise
                if ahead is None:
                    return lock
                await lock.release()
            if patience is not None and ahead.status == "queued":
                stalled_since = loop.time() if stalled_since is None else stalled_since
                if loop.time() - stalled_since >= patience:
                    return None
            else:
                stalled_since = None
            await self._wait_change(session_id, delay)
            delay = min(delay * 2, longest)

    async def _wait_change(self, session_id: str, timeout: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(session_id, [])
        waiters.append(fut)
        try:
            await asyncio.wait([fut], timeout=timeout)
        finally:
            with contextlib.suppress(ValueError):
                waiters.remove(fut)
            if not waiters and self._waiters.get(session_id) is waiters:
                del self._waiters[session_id]

    def changed(self, session_id: str) -> None:
        """A run of the session ended or left the queue: the next one may start."""
        for fut in self._waiters.pop(session_id, []):
            if not fut.done():
                fut.set_result(None)
