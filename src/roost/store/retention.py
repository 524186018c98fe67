"""Retention: what ages out of the database, and the job that prunes it (decision 0123).

The policy, from ``ROOST_RETENTION_*`` settings (days; ``0`` keeps forever):

- ``run_events_days`` (7): the stream events of a run, counted from when it finished.
  They are the replay log for clients that reconnect (one row per token delta, most of
  the database's growth); the run, its messages and its usage stay.
- ``spans_days`` (14): spans in the local trace store, counted from when they started.
- ``sessions_days`` (0, off): sessions idle that long, with everything hanging off them
  (messages, agent states, runs, run events — and so the usage of those runs).
  Conversations are users' data, so deleting them is opt-in.
- ``interval_seconds`` (3600): time between passes; the first runs a minute after start.

Each pass deletes in short batches (one transaction each), so the server's own writes
wait at most one batch. SQLite reuses the pages freed for new rows: the file stops
growing once the ages have passed, at its high-water mark (``VACUUM`` offline gives the
space back to the filesystem). Every replica may run the job: deletes are idempotent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from roost.core.errors import ConfigError
from roost.core.settings import Settings
from roost.store.store import Store

log = logging.getLogger("roost.store.retention")

FIRST_PASS_AFTER = 60.0
"""Seconds from start to the first pass (not at start: start-up stays fast)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each kind of row is kept; ``None``: forever."""

    run_events: timedelta | None = timedelta(days=7)
    spans: timedelta | None = timedelta(days=14)
    sessions: timedelta | None = None
    interval: timedelta = timedelta(hours=1)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        def age(name: str) -> timedelta | None:
            days = _number(settings, name)
            return timedelta(days=days) if days > 0 else None

        interval = _number(settings, "retention_interval_seconds")
        if interval <= 0:
            raise ConfigError(
                f"ROOST_RETENTION_INTERVAL_SECONDS must be positive, got {interval}",
                hint="seconds between retention passes, e.g. 3600",
            )
        return cls(
            run_events=age("retention_run_events_days"),
            spans=age("retention_spans_days"),
            sessions=age("retention_sessions_days"),
            interval=timedelta(seconds=interval),
        )


def _number(settings: Settings, name: str) -> float:
    raw = getattr(settings, name)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = float("nan")
    if not value >= 0:  # also NaN
        raise ConfigError(
            f"ROOST_{name.upper()} must be a number of 0 or more, got {raw!r}",
            hint="0 keeps the rows forever",
        )
    return value


@dataclass(frozen=True)
class RetentionReport:
    """What one pass deleted."""

    at: datetime
    run_events: int = 0
    spans: int = 0
    sessions: int = 0


class RetentionJob:
    """Prunes ``store`` by ``policy``: :meth:`run` is the background task the server
    starts with the app (and cancels at shutdown). ``clock`` and ``sleep`` are
    injectable, so tests drive passes without waiting."""

    def __init__(
        self,
        store: Store,
        policy: RetentionPolicy | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.policy = policy or RetentionPolicy()
        self._clock = clock
        self._sleep = sleep
        self._events_mark: datetime | None = None

    @classmethod
    def from_settings(cls, store: Store, settings: Settings) -> RetentionJob:
        return cls(store, RetentionPolicy.from_settings(settings))

    async def run_once(self) -> RetentionReport:
        """One pass: delete what is older than the policy's ages, as of ``clock()``."""
        now = self._clock()
        policy = self.policy
        report = RetentionReport(at=now)
        if policy.sessions is not None:
            gone = await self.store.prune_sessions(idle_before=now - policy.sessions)
            report = dataclasses.replace(report, sessions=gone)
        if policy.run_events is not None:
            cutoff = now - policy.run_events
            # runs finished before the last pass's cutoff were pruned by it
            gone = await self.store.prune_run_events(
                finished_before=cutoff, finished_after=self._events_mark
            )
            self._events_mark = cutoff
            report = dataclasses.replace(report, run_events=gone)
        if policy.spans is not None:
            cutoff_ns = (now - policy.spans - _EPOCH) // timedelta(microseconds=1) * 1000
            gone = await self.store.delete_spans_before(cutoff_ns)
            report = dataclasses.replace(report, spans=gone)
        if report.run_events or report.spans or report.sessions:
            log.info(
                "retention: deleted %d run events, %d spans, %d sessions",
                report.run_events,
                report.spans,
                report.sessions,
            )
        return report

    async def run(self) -> None:
        """Pass after pass until cancelled; a failed pass is logged and retried later."""
        delay = min(FIRST_PASS_AFTER, self.policy.interval.total_seconds())
        while True:
            await self._sleep(delay)
            delay = self.policy.interval.total_seconds()
            try:
                await self.run_once()
            except Exception:
                log.exception("retention pass failed; retrying in %.0f s", delay)
