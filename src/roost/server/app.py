"""``AgentApp``: turn any Roost agent — or any async generator — into an HTTP service.

The app is a plain ASGI callable: a small middleware (auth, body limit, rate limit,
metrics, error mapping) in front of a Starlette router whose routes live one module per
resource in :mod:`roost.server.routes`. Storage, locks, fan-out and the background queue
are opened at startup from the app's arguments or the ``ROOST_*`` settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from roost.core import ConfigError, new_id
from roost.core.settings import get_settings
from roost.server._generator_agent import GeneratorAgent
from roost.server.context import AgentContext
from roost.server.errors import AgentNotFound
from roost.server.observer import RunObserver

if TYPE_CHECKING:
    from starlette.routing import BaseRoute, Router

    from roost.server.auth import Authenticator
    from roost.server.metrics import HttpMetrics
    from roost.server.ratelimit import RateLimiter
    from roost.server.runs import RunExecutor
    from roost.server.tasks import TaskQueue

log = logging.getLogger("roost.server")

BusyPolicy = Literal["reject", "enqueue", "interrupt"]
Hook = Callable[[], Any]


@dataclass
class AgentSpec:
    """A registered agent: a factory ``(ctx) -> Agent`` or an async generator ``(msg, ctx)``."""

    name: str
    fn: Callable[..., Any]
    kind: Literal["factory", "generator"]
    description: str = ""


@dataclass
class EndpointSpec:
    path: str
    fn: Callable[..., Any]
    methods: tuple[str, ...]
    public: bool = False


@dataclass
class TaskSpec:
    path: str
    fn: Callable[..., Any]
    name: str


class AgentApp:
    """An authenticated, streaming, persistent agent service (an ASGI application).

    ``busy_policy`` decides what a second run on a busy session does: ``reject`` (409
    ``session_busy``), ``enqueue`` (wait for the first), or ``interrupt`` the first.
    ``auth=False`` turns authentication off (local development only). ``observe=False``
    leaves out tracing, run metrics, cost and alerts (:mod:`roost.observe`).
    """

    def __init__(
        self,
        name: str = "roost",
        *,
        store_url: str | None = None,
        redis_url: str | None = None,
        busy_policy: BusyPolicy = "reject",
        cors_origins: list[str] | None = None,
        max_body_bytes: int = 1_000_000,
        rate_limit: str | None = "60/minute",
        auth_failure_limit: str | None = "60/minute",
        auth: bool = True,
        admin_key: str | None = None,
        metrics_public: bool = False,
        flush_interval: float = 0.25,
        keepalive_interval: float = 15.0,
        store_schema: str | None = None,
        description: str = "",
        observe: bool = True,
    ) -> None:
        if busy_policy not in ("reject", "enqueue", "interrupt"):
            raise ConfigError(
                f"unknown busy_policy {busy_policy!r}", hint="use reject, enqueue or interrupt"
            )
        if cors_origins and "*" in cors_origins:
            raise ConfigError(
                "cors_origins may not contain '*'",
                hint="list the exact origins allowed to call the API with credentials",
            )
        if max_body_bytes <= 0 or flush_interval <= 0 or keepalive_interval <= 0:
            raise ConfigError(
                "max_body_bytes, flush_interval and keepalive_interval must be positive"
            )
        self.name = name
        self.description = description
        self.store_url = store_url
        self.store_schema = store_schema
        self.redis_url = redis_url
        self.busy_policy: BusyPolicy = busy_policy
        self.cors_origins = list(cors_origins or [])
        self.max_body_bytes = max_body_bytes
        self.rate_limit_spec = rate_limit
        self.auth_failure_limit = auth_failure_limit
        """Failed authentications allowed per client address (then 429, decision 0131)."""
        self.auth_enabled = auth
        self.admin_key = admin_key
        self.metrics_public = metrics_public
        self.flush_interval = flush_interval
        self.keepalive_interval = keepalive_interval
        """Seconds between SSE comments on idle streams (so proxies keep them open)."""
        self.instance_id = new_id("inst")
        self.observers: list[RunObserver] = []
        self.agents: dict[str, AgentSpec] = {}
        self.endpoints: list[EndpointSpec] = []
        self.tasks: dict[str, TaskSpec] = {}
        self.extra_routes: list[BaseRoute] = []
        """Routes other layers add (e.g. observability's ``/v1/runs/{id}/trace``)."""
        self._startup: list[Hook] = []
        self._shutdown: list[Hook] = []
        self._started = False
        self._asgi: Callable[..., Awaitable[None]] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        # opened at startup
        self.store: Any = None
        self.locks: Any = None
        self.bus: Any = None
        self.bus_remote = False
        self.executor: RunExecutor
        self.queue: TaskQueue
        self.authenticator: Authenticator | None = None
        self.rate_limiter: RateLimiter | None = None
        self.metrics: HttpMetrics
        self.router: Router
        self._session_cache: dict[str, tuple[Any, float]] = {}
        self._fresh_sessions: set[str] = set()
        self.print_admin_key = True
        """Print a generated admin key to stderr (``roost serve`` prints it itself)."""
        self.created_admin_key: str | None = None
        """The admin key generated at this start (``None`` when one already existed)."""
        self.observability: Any = None
        if observe:
            # tracing to the store, /metrics run/model/tool metrics, cost and alerts
            from roost.observe.instrument import instrument_app

            instrument_app(self)

    # -- registration ------------------------------------------------------------------
    def agent(self, fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
        """Register an agent factory ``(ctx) -> Agent`` (sync or async) or an async
        generator ``(msg, ctx)`` yielding text or events. Usable bare or with ``name=``."""

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            agent_name = name or (self.name if not self.agents else func.__name__)
            if agent_name in self.agents:
                raise ConfigError(f"agent {agent_name!r} is registered twice")
            kind: Literal["factory", "generator"] = (
                "generator" if inspect.isasyncgenfunction(func) else "factory"
            )
            doc = inspect.getdoc(func) or ""
            self.agents[agent_name] = AgentSpec(agent_name, func, kind, doc.split("\n")[0])
            return func

        return register(fn) if fn is not None else register

    def endpoint(
        self, path: str, *, methods: tuple[str, ...] | list[str] = ("POST",), public: bool = False
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """A custom route. Handlers may be sync, async, generators or async generators
        (generators stream as SSE). Parameters are filled by name: ``body`` (JSON),
        ``request``, ``principal``, path and query parameters."""
        if not path.startswith("/"):
            raise ConfigError(f"endpoint path {path!r} must start with '/'")

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            self.endpoints.append(
                EndpointSpec(path, func, tuple(m.upper() for m in methods), public)
            )
            return func

        return register

    def task(self, path: str, *, name: str | None = None) -> Callable[[Callable[..., Any]], Any]:
        """A durable background task: ``POST path`` queues ``fn(body)`` and answers 202 with
        a task id; ``GET /v1/tasks/{id}`` reports its status and result."""
        if not path.startswith("/"):
            raise ConfigError(f"task path {path!r} must start with '/'")

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            task_name = name or func.__name__
            if task_name in self.tasks:
                raise ConfigError(f"task {task_name!r} is registered twice")
            self.tasks[task_name] = TaskSpec(path, func, task_name)
            return func

        return register

    def on_startup(self, fn: Hook) -> Hook:
        self._startup.append(fn)
        return fn

    def on_shutdown(self, fn: Hook) -> Hook:
        self._shutdown.append(fn)
        return fn

    @property
    def public_paths(self) -> frozenset[str]:
        """The paths answered without a key (everything else needs one)."""
        public = {"/healthz", "/readyz"} | {e.path for e in self.endpoints if e.public}
        if self.metrics_public:
            public.add("/metrics")
        return frozenset(public)

    # -- agents ------------------------------------------------------------------------
    def agent_spec(self, name: str | None) -> AgentSpec:
        if not self.agents:
            raise AgentNotFound("this app has no agent", hint="register one with @app.agent")
        if name is None:
            return next(iter(self.agents.values()))
        spec = self.agents.get(name)
        if spec is None:
            raise AgentNotFound(
                f"no agent named {name!r}", hint=f"known agents: {', '.join(self.agents)}"
            )
        return spec

    async def build_agent(self, spec: AgentSpec, ctx: AgentContext) -> Any:
        if spec.kind == "generator":
            return GeneratorAgent(spec.name, spec.fn, ctx)
        agent = spec.fn(ctx)
        if inspect.isawaitable(agent):
            agent = await agent
        if ctx.state and not ctx.state_loaded:
            agent.load_state_dict(ctx.state)
        return agent

    # -- lifecycle ---------------------------------------------------------------------
    async def startup(self) -> None:
        """Open the store, locks, bus and queue; create the admin key on first start."""
        if self._started:
            return
        from roost.server._backends import open_backends, open_rate_limiter
        from roost.server.auth import Authenticator
        from roost.server.metrics import HttpMetrics
        from roost.server.router import build_router
        from roost.server.runs import RunExecutor
        from roost.server.tasks import TaskQueue

        settings = get_settings()
        self.store, self.locks, self.bus = await open_backends(self, settings)
        self.bus_remote = bool(self.redis_url or settings.redis_url)
        admin = self.admin_key or (
            settings.admin_key.get_secret_value() if settings.admin_key else None
        )
        if self.auth_enabled:
            from roost.server.ratelimit import FailureLimiter

            failures = FailureLimiter(self.auth_failure_limit) if self.auth_failure_limit else None
            self.authenticator = Authenticator(self.store, admin, failures)
            if admin is None:
                self.created_admin_key = await ensure_admin_key(self.store)
                if self.created_admin_key and self.print_admin_key:
                    print(
                        f"roost: admin key (shown once, store it now): {self.created_admin_key}",
                        file=sys.stderr,
                        flush=True,
                    )
        self.rate_limiter = open_rate_limiter(self, settings)
        self.metrics = HttpMetrics()
        self.executor = RunExecutor(self)
        self.queue = TaskQueue(self, settings)
        self.router = build_router(self)
        self._asgi = self._wrap(self.router)
        from roost.server._backends import Publisher

        self._publisher = Publisher(self.bus)
        requeued = await self.queue.requeue_orphaned_runs()
        if self.bus_remote:
            # replicas share the database: only runs whose owner stopped heart-beating
            await self.store.fail_orphaned_runs(older_than_heartbeat_s=45)
            self.spawn(self._control_loop())
            self.spawn(self._heartbeat_loop())
        else:
            await self.store.fail_orphaned_runs()  # single node: every active run is orphaned
        self.executor.start_background_loops()
        await self.queue.start(force=bool(requeued))
        for run_id in requeued:
            await self.queue.enqueue_run(run_id)
        for hook in self._startup:
            result = hook()
            if inspect.isawaitable(result):
                await result
        self._started = True
        from roost.server._memory import trim_heap

        trim_heap()  # start-up temporaries back to the OS: idle RSS (decision 0097)

    async def shutdown(self) -> None:
        if not self._started:
            return
        self._started = False
        for hook in self._shutdown:
            try:
                result = hook()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("shutdown hook %r failed", hook)
        await self.executor.close()
        await self.queue.stop()
        await self._publisher.aclose()
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(BaseException):
                await task
        from roost.server._backends import close_backends

        await close_backends(self)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A fire-and-forget task that is kept referenced and cancelled at shutdown."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # -- sessions (a small cache: a session is created, then run in, many times) -------
    async def get_session(self, session_id: str, *, fresh: bool = False) -> Any:
        """The session record, cached for a few seconds: runs need only its owner and
        agent, which never change (deletion this process applies at once, other replicas
        within 5 s). ``fresh`` reads the store, for those who show the record (its
        ``updated_at`` and message count move with every run)."""
        now = time.monotonic()
        hit = None if fresh else self._session_cache.get(session_id)
        if hit is not None and hit[1] > now:
            return hit[0]
        record = await self.store.get_session(session_id)
        self.remember_session(record, fresh=False)
        return record

    def remember_session(self, record: Any, *, fresh: bool) -> None:
        if len(self._session_cache) > 10_000:
            self._session_cache.clear()
            self._fresh_sessions.clear()
        self._session_cache[record.id] = (record, time.monotonic() + 5.0)
        if fresh and not self.bus_remote:  # with replicas, a run may happen elsewhere first
            self._fresh_sessions.add(record.id)

    def forget_session(self, session_id: str) -> None:
        self._session_cache.pop(session_id, None)
        self._fresh_sessions.discard(session_id)

    def take_fresh(self, session_id: str) -> bool:
        """True once for a session created by this process: it has no saved state yet."""
        if session_id in self._fresh_sessions:
            self._fresh_sessions.discard(session_id)
            return True
        return False

    # -- fan-out across processes ------------------------------------------------------
    def publish_event(self, run_id: str, text: str) -> None:
        self._publisher.put(f"run:{run_id}", text)

    def subscribe_run(self, run_id: str) -> Any:
        return self.bus.subscribe(f"run:{run_id}")

    async def send_control(self, owner: str | None, message: dict[str, Any]) -> None:
        """Ask the process that owns a run to cancel it or resolve an approval."""
        if not owner or not self.bus_remote:
            return
        await self.bus.publish(f"control:{owner}", json.dumps(message))

    async def _control_loop(self) -> None:
        async with self.bus.subscribe(f"control:{self.instance_id}") as sub:
            async for data in sub:
                try:
                    await self.executor.handle_control(json.loads(data))
                except Exception:
                    log.exception("bad control message %r", data)

    async def _heartbeat_loop(self) -> None:
        """Keep this instance's runs alive and fail those of replicas that died."""
        while True:
            await asyncio.sleep(10)
            try:
                await self.store.heartbeat(self.instance_id)
                await self.store.fail_orphaned_runs(older_than_heartbeat_s=45)
            except Exception:
                log.exception("heartbeat failed")

    # -- ASGI --------------------------------------------------------------------------
    def _wrap(self, router: Router) -> Callable[..., Awaitable[None]]:
        from roost.server.middleware import ServiceMiddleware

        app: Callable[..., Awaitable[None]] = ServiceMiddleware(router, self)
        if self.cors_origins:
            from starlette.middleware.cors import CORSMiddleware

            app = CORSMiddleware(
                app,
                allow_origins=self.cors_origins,
                allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                allow_headers=[
                    "authorization",
                    "content-type",
                    "last-event-id",
                    "x-api-key",
                    "x-session-id",
                ],
                allow_credentials=True,
                expose_headers=["x-run-id", "x-session-id", "retry-after"],
            )
        return app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if self._asgi is None:
            await self.startup()  # servers that skip lifespan (and tests) start lazily
        assert self._asgi is not None
        scope.setdefault("app", self)
        await self._asgi(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except BaseException as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.shutdown()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return


async def ensure_admin_key(store: Any) -> str | None:
    """Create the first admin key if the store has none; return its plaintext (once)."""
    keys = await store.list_api_keys(include_revoked=False)
    if any(k.role == "admin" for k in keys):
        return None
    plaintext, _record = await store.create_api_key("admin", role="admin")
    return str(plaintext)
