"""``AgentApp``: turn any Roost agent — or any async generator — into an HTTP service.

The app is a plain ASGI callable: a small middleware (auth, body limit, rate limit,
metrics, error mapping) in front of a Starlette router whose routes live one module per
resource in :mod:`roost.server.routes`. What it runs on — storage, locks, fan-out, the
run executor and the background queue — is opened at startup as :class:`Services`
from the app's options and the ``ROOST_*`` settings.
"""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from roost.core import ConfigError, new_id
from roost.server.config import AppConfig, BusyPolicy
from roost.server.observer import RunObserver
from roost.server.registry import Agents, AgentSpec, EndpointSpec, TaskSpec

if TYPE_CHECKING:
    from starlette.routing import BaseRoute, Router

    from roost.observe.instrument import Observability
    from roost.server.metrics import HttpMetrics
    from roost.server.services import Services
    from roost.store import Store

log = logging.getLogger("roost.server")

Hook = Callable[[], Any]
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

__all__ = ["AgentApp", "AgentSpec", "BusyPolicy", "ensure_admin_key"]


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
        openai_user_sessions: bool = False,
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
        self.config = AppConfig(
            name=name,
            description=description,
            store_url=store_url,
            store_schema=store_schema,
            redis_url=redis_url,
            busy_policy=busy_policy,
            cors_origins=tuple(cors_origins or ()),
            max_body_bytes=max_body_bytes,
            rate_limit=rate_limit,
            auth_failure_limit=auth_failure_limit,
            auth=auth,
            admin_key=admin_key,
            metrics_public=metrics_public,
            flush_interval=flush_interval,
            keepalive_interval=keepalive_interval,
            openai_user_sessions=openai_user_sessions,
        )
        self.name, self.description, self.admin_key = name, description, admin_key
        self.store_url, self.store_schema, self.auth_enabled = store_url, store_schema, auth
        self.instance_id = new_id("inst")
        self.observers: list[RunObserver] = []
        self.agents = Agents()
        self.endpoints: list[EndpointSpec] = []
        self.tasks: dict[str, TaskSpec] = {}
        self.extra_routes: list[BaseRoute] = []
        """Routes other layers add."""
        self._startup: list[Hook] = []
        self._shutdown: list[Hook] = []
        self._services: Services | None = None
        self._router: Router | None = None
        self._asgi: ASGIApp | None = None
        self.print_admin_key = True
        """Print a generated admin key to stderr (``roost serve`` prints it itself)."""
        self.created_admin_key: str | None = None
        """The admin key generated at this start (``None`` when one already existed)."""
        self.observability: Observability | None = None
        """What :func:`roost.observe.instrument_app` attached (``None`` with ``observe=False``)."""
        if observe:
            # tracing to the store, /metrics run/model/tool metrics, cost and alerts
            from roost.observe.instrument import instrument_app

            instrument_app(self)

    # -- options other layers read -------------------------------------------------------
    @property
    def public_paths(self) -> frozenset[str]:
        """The paths answered without a key (everything else needs one)."""
        public = {"/healthz", "/readyz"} | {e.path for e in self.endpoints if e.public}
        if self.config.metrics_public:
            public.add("/metrics")
        from roost.server.routes.a2a import card_paths  # agent cards say how to authenticate
        from roost.server.routes.mcp_agents import metadata_paths

        public |= card_paths(list(self.agents)) | metadata_paths(list(self.agents))
        return frozenset(public)

    # -- what the app runs on, once started ------------------------------------------
    @property
    def services(self) -> Services:
        if self._services is None:
            raise ConfigError("the app has not started", hint="await app.startup() first")
        return self._services

    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def metrics(self) -> HttpMetrics:
        return self.services.metrics

    @property
    def router(self) -> Router:
        if self._router is None:
            raise ConfigError("the app has not started", hint="await app.startup() first")
        return self._router

    # -- registration ------------------------------------------------------------------
    def agent(self, fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
        """Register an agent factory ``(ctx) -> Agent`` (sync or async) or an async
        generator ``(msg, ctx)`` yielding text or events. Usable bare or with ``name=``."""

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            agent_name = name or (self.name if not len(self.agents) else func.__name__)
            if agent_name in self.agents:
                raise ConfigError(f"agent {agent_name!r} is registered twice")
            kind: Literal["factory", "generator"] = (
                "generator" if inspect.isasyncgenfunction(func) else "factory"
            )
            doc = inspect.getdoc(func) or ""
            self.agents.add(AgentSpec(agent_name, func, kind, doc.split("\n")[0]))
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

    # -- lifecycle ---------------------------------------------------------------------
    async def startup(self) -> None:
        """Open the services, create the admin key on first start, run the hooks."""
        if self._services is not None:
            return
        from roost.core.settings import get_settings
        from roost.server.middleware import wrap
        from roost.server.routes import build_router
        from roost.server.services import Services

        settings = get_settings()
        services = await Services.open(
            self.config,
            settings,
            instance_id=self.instance_id,
            agents=self.agents,
            endpoints=self.endpoints,
            tasks=self.tasks,
            observers=self.observers,
            public_paths=self.public_paths,
        )
        self._services = services
        if services.authenticator is not None and not (self.admin_key or settings.admin_key):
            self.created_admin_key = await ensure_admin_key(services.store)
            if self.created_admin_key and self.print_admin_key:
                print(
                    f"roost: admin key (shown once, store it now): {self.created_admin_key}",
                    file=sys.stderr,
                    flush=True,
                )
        self._router = build_router(services, self.extra_routes)
        self._asgi = wrap(self._router, services)
        await services.start()
        for hook in self._startup:
            result = hook()
            if inspect.isawaitable(result):
                await result
        from roost.server._memory import trim_heap

        trim_heap()  # start-up temporaries back to the OS: idle RSS (decision 0097)

    async def shutdown(self) -> None:
        services, self._services = self._services, None
        if services is None:
            return
        for hook in self._shutdown:
            try:
                result = hook()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("shutdown hook %r failed", hook)
        await services.close()

    # -- ASGI --------------------------------------------------------------------------
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


async def ensure_admin_key(store: Store) -> str | None:
    """Create the first admin key if the store has none; return its plaintext (once)."""
    keys = await store.list_api_keys(include_revoked=False)
    if any(k.role == "admin" for k in keys):
        return None
    plaintext, _record = await store.create_api_key("admin", role="admin")
    return str(plaintext)
