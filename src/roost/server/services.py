"""What an app runs on: the store, locks, fan-out, run executor, queue, auth, limits and
metrics, opened at start-up from the app's options and the settings, and handed to the
routes, the executor and the queue (the app itself is only their composition)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from roost.server.config import AppConfig
from roost.server.engine import RunExecutor
from roost.server.fanout import ORPHANED_AFTER_S, Fanout
from roost.server.metrics import HttpMetrics
from roost.server.sessions import SessionCache
from roost.server.tasks import TaskQueue

if TYPE_CHECKING:
    from roost.core.settings import Settings
    from roost.govern.audit import AuditLog
    from roost.govern.audit.runs import RunAuditor
    from roost.govern.install import Governance
    from roost.govern.quotas import QuotaGate
    from roost.server.auth import Authenticator
    from roost.server.observer import RunObserver
    from roost.server.ratelimit import RateLimiter
    from roost.server.registry import Agents, EndpointSpec, TaskSpec
    from roost.store import EventBus, SessionLocks, Store

log = logging.getLogger("roost.server")


@dataclass(eq=False)  # compared and hashed by identity (a key of per-app state)
class Services:
    config: AppConfig
    settings: Settings
    store: Store
    locks: SessionLocks
    bus: EventBus
    fanout: Fanout
    sessions: SessionCache
    agents: Agents
    endpoints: list[EndpointSpec]
    tasks: dict[str, TaskSpec]
    executor: RunExecutor
    queue: TaskQueue
    metrics: HttpMetrics
    authenticator: Authenticator | None
    rate_limiter: RateLimiter | None
    public_paths: frozenset[str]
    quotas: QuotaGate | None = None
    """Admits runs and new sessions against tenant and user quotas (roost.govern)."""
    audit: AuditLog | None = None
    """The audit trail (``ROOST_AUDIT=0``: None)."""
    governance: Governance | None = None
    """Secrets, encryption at rest and DLP (roost.govern); None without a master key."""
    flush_traces: Callable[[], object] | None = None
    """Flush the spans of ended runs to the trace store (set when tracing is on)."""
    closers: list[Callable[[], Awaitable[object]]] = field(default_factory=list)
    """Closed at shutdown before the store (what other layers open on first use)."""
    readiness: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)
    """Extra ``/readyz`` checks (e.g. the local model): each returns a JSON object with
    ``ready`` (bool) and ``state``; any not ready makes ``/readyz`` answer 503."""
    _background: set[asyncio.Task[Any]] = field(default_factory=set)

    @classmethod
    async def open(
        cls,
        config: AppConfig,
        settings: Settings,
        *,
        instance_id: str,
        agents: Agents,
        endpoints: list[EndpointSpec],
        tasks: dict[str, TaskSpec],
        observers: list[RunObserver],
        public_paths: frozenset[str],
    ) -> Services:
        """SQLite and in-process coordination by default; Redis when configured."""
        from roost.store import LocalEventBus, LocalSessionLocks, Store

        store = await Store.open(config.store_url, schema=config.store_schema)
        redis_url = config.redis_url or settings.redis_url
        locks: SessionLocks
        bus: EventBus
        if redis_url:
            from roost.store import RedisEventBus, RedisSessionLocks

            locks, bus = RedisSessionLocks(redis_url), RedisEventBus(redis_url)
        else:
            locks, bus = LocalSessionLocks(), LocalEventBus()
        fanout = Fanout(bus, remote=bool(redis_url), instance_id=instance_id)
        sessions = SessionCache(store, remote=fanout.remote)
        audit, auditor = _audit(store, settings)
        executor = RunExecutor(
            store=store,
            locks=locks,
            agents=agents,
            sessions=sessions,
            fanout=fanout,
            observers=observers,
            busy_policy=config.busy_policy,
            flush_interval=config.flush_interval,
            keepalive_interval=config.keepalive_interval,
            auditor=auditor,
        )
        from roost.govern.install import install_governance

        governance = None
        if settings.data_protection:
            governance = await install_governance(
                store,
                settings,
                database_url=config.store_url or settings.resolved_database_url,
                schema=config.store_schema,
            )
        if governance is not None:
            executor.run_scope = governance.protection.enter_run
        queue = TaskQueue(
            name=config.name,
            store=store,
            executor=executor,
            tasks=tasks,
            settings=settings,
            redis_url=redis_url,
            instance_id=instance_id,
        )
        return cls(
            config=config,
            settings=settings,
            store=store,
            locks=locks,
            bus=bus,
            fanout=fanout,
            sessions=sessions,
            agents=agents,
            endpoints=endpoints,
            tasks=tasks,
            executor=executor,
            queue=queue,
            metrics=HttpMetrics(),
            authenticator=_authenticator(config, settings, store),
            rate_limiter=_rate_limiter(config, redis_url),
            public_paths=public_paths,
            quotas=_quotas(config, store),
            audit=audit,
            governance=governance,
        )

    async def start(self) -> None:
        """Take over the work a stopped process left, and start the background loops."""
        store = self.store
        if self.authenticator is not None:
            await self.authenticator.check_pepper()
        requeued = await self.queue.requeue_orphaned_runs()
        if self.fanout.remote:
            # replicas share the database: only runs whose owner stopped heart-beating
            await store.fail_orphaned_runs(older_than_heartbeat_s=ORPHANED_AFTER_S)
            self.spawn(self.fanout.control_loop(self.executor.handle_control))
            self.spawn(self.fanout.heartbeat_loop(store))
        else:
            await store.fail_orphaned_runs()  # single node: every active run is orphaned
        self.executor.start_background_loops()
        from roost.store.retention import RetentionJob  # prunes what ages out (0123)

        self.spawn(RetentionJob.from_settings(store, self.settings).run())
        if self.audit is not None:
            from roost.govern.audit.retention import AuditRetention

            self.spawn(AuditRetention.from_settings(self.audit, self.settings).run())
        await self.queue.start(force=bool(requeued))
        for run_id in requeued:
            await self.queue.enqueue_run(run_id)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A fire-and-forget task that is kept referenced and cancelled at close."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def close(self) -> None:
        await self.executor.close()
        await self.queue.stop()
        await self.fanout.aclose()
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(BaseException):
                await task
        if self.governance is not None:
            self.governance.close()
        closers = [*self.closers, self.bus.aclose, self.locks.aclose, self.store.close]
        if self.audit is not None:
            closers.insert(len(self.closers), self.audit.close)
        if self.rate_limiter is not None:
            closers.insert(0, self.rate_limiter.aclose)
        for closer in closers:
            try:
                await closer()
            except Exception:
                log.exception("closing %r failed", closer)


def _audit(store: Store, settings: Settings) -> tuple[AuditLog | None, RunAuditor | None]:
    """The audit trail and the run auditor, unless ``ROOST_AUDIT=0``."""
    if not settings.audit:
        return None, None
    from roost.govern.audit import AuditLog
    from roost.govern.audit.runs import RunAuditor

    log = AuditLog.from_settings(store, settings)
    everyone, tenants = settings.audit_content, frozenset(settings.audit_content_tenants)
    return log, RunAuditor(log, content=lambda tenant: everyone or tenant in tenants)


def _authenticator(config: AppConfig, settings: Settings, store: Store) -> Authenticator | None:
    if not config.auth:
        return None
    from roost.server.auth import Authenticator
    from roost.server.ratelimit import FailureLimiter

    admin = config.admin_key or (
        settings.admin_key.get_secret_value() if settings.admin_key else None
    )
    failures = FailureLimiter(config.auth_failure_limit) if config.auth_failure_limit else None
    return Authenticator(store, admin, failures)


def _quotas(config: AppConfig, store: Store) -> QuotaGate | None:
    """Quotas hold for keys of a tenant: without auth there are none to hold them to."""
    if not config.auth:
        return None
    from roost.govern.quotas import QuotaGate

    return QuotaGate(store)


def _rate_limiter(config: AppConfig, redis_url: str | None) -> RateLimiter | None:
    """Per key, and shared by all replicas through Redis when configured (decision 0099)."""
    if not config.rate_limit:
        return None
    from roost.server.ratelimit import LocalRateLimiter, RedisRateLimiter

    if redis_url:
        return RedisRateLimiter(config.rate_limit, redis_url, namespace=config.name)
    return LocalRateLimiter(config.rate_limit)
