"""``roost serve`` (run an AgentApp with uvicorn) and ``roost init`` (scaffold a project)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import socket
import sys
import threading
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(no_args_is_help=False)

_BUILTIN = "roost.server.builtin:app_from_env"


class LogLevel(StrEnum):
    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"
    trace = "trace"


def _load_app(target: str) -> Any:
    """Import ``module:attr`` (``attr`` defaults to ``app``) from the current directory."""
    from roost.core import ConfigError

    module_name, _, attr = target.partition(":")
    attr = attr or "app"
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"cannot import {module_name!r}: {exc}",
            hint="pass MODULE:APP importable from the current directory, e.g. app:app",
        ) from None
    obj = getattr(module, attr, None)
    if obj is None:
        raise ConfigError(f"{module_name!r} has no attribute {attr!r}", hint="pass MODULE:APP")
    return obj


async def _first_admin_key(service: Any) -> str | None:
    from roost.server.app import ensure_admin_key
    from roost.store import Store

    store = await Store.open(service.store_url, schema=service.store_schema)
    try:
        return await ensure_admin_key(store)
    finally:
        await store.close()


@app.command()
def serve(
    target: str = typer.Argument(
        None, metavar="[MODULE:APP]", help="Your AgentApp; default: the built-in assistant."
    ),
    host: str = typer.Option("127.0.0.1", help="Interface to bind (0.0.0.0 to expose it)."),
    port: int = typer.Option(8000, min=0, max=65535, help="Port (0 = any free port)."),
    workers: int = typer.Option(
        1, min=1, help="Worker processes (more than 1 needs ROOST_REDIS_URL)."
    ),
    model: str = typer.Option(
        None, help="Model spec for the built-in assistant (default: ROOST_MODEL or local)."
    ),
    log_level: LogLevel = typer.Option(LogLevel.warning, help="uvicorn log level."),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Download the default local model on first start without asking."
    ),
) -> None:
    """Serve an agent app over HTTP: sessions, streaming runs, OpenAI-compatible API."""
    import uvicorn

    from roost.core import ConfigError, RoostError
    from roost.core.settings import get_settings

    try:
        # the address first: nothing starts (a local model, a sandbox) on one we cannot use
        sock = _listen(host, port)
        settings = get_settings()
        from roost.observe.logging import configure_logging

        configure_logging(
            settings.log_level, "console" if settings.log_format == "console" else "json"
        )
        if workers > 1 and not settings.redis_url:
            raise ConfigError(
                "--workers > 1 needs ROOST_REDIS_URL",
                hint="workers share session locks and live streams through Redis; "
                "set ROOST_REDIS_URL or use one worker",
            )
        if target is None:
            spec = model or settings.model
            if (spec is None or spec.startswith("local")) and not settings.local_model:
                from roost.models.install import ensure_model

                name = spec.split(":", 1)[1] if spec and ":" in spec else None
                ensure_model(name, assume_yes=yes)
            if (spec is None or spec.startswith("local")) and workers == 1:
                _load_local_model_early(spec)
            if model:
                os.environ["ROOST_SERVE_MODEL"] = model  # for the worker processes
                settings.serve_model = model  # and this one (it has read its settings)
            target = _BUILTIN
        service = _load_app(target)
        if callable(service) and not hasattr(service, "agents"):
            service = service()  # an app factory
        if hasattr(service, "extra_routes"):
            from roost.evals import enable_evals

            enable_evals(service)  # /v1/evals, /v1/releases, version routing (idempotent)
        admin_key = None
        needs_key = getattr(service, "auth_enabled", False) and not (
            service.admin_key or settings.admin_key
        )
        if needs_key and workers > 1:
            # create it once here, before the workers race to create one each
            admin_key = asyncio.run(_first_admin_key(service))
        service.print_admin_key = False  # printed below, on stdout, once
    except RoostError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    def announce(bound_port: int) -> None:
        nonlocal admin_key
        admin_key = admin_key or getattr(service, "created_admin_key", None)
        url = f"http://{host}:{bound_port}"
        typer.echo(f"Roost is serving {service.name!r} at {url}  (API docs: {url}/openapi.json)")
        typer.echo(f"Web console: {url}/console/  (sign in with an API key)")
        if admin_key:
            typer.echo("Admin key (shown once, store it now):")
            typer.echo(f"  export ROOST_ADMIN_KEY={admin_key}")
        elif getattr(service, "auth_enabled", False):
            typer.echo(
                "Auth: use your admin key (ROOST_ADMIN_KEY or the one printed at first start)"
            )
        sys.stdout.flush()

    if workers > 1:
        sock.close()  # uvicorn binds it again for its workers
        announce(port)
        uvicorn.run(
            target,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level.value,
            factory=target == _BUILTIN,
        )
        return

    class _Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started and self.servers:
                announce(self.servers[0].sockets[0].getsockname()[1])

    config = uvicorn.Config(service, host=host, port=port, log_level=log_level.value, lifespan="on")
    _Server(config).run(sockets=[sock])


def _load_local_model_early(spec: str | None) -> None:
    """Start loading the local model's weights now, in a thread, so the load overlaps
    the server's own start (imports, store, migrations) instead of following it. The
    app's start-up hook then finds the same process-wide server loading or loaded; a
    failure here is left for that hook to report."""
    from roost.models.resolve import resolve_model

    chat_model = resolve_model(spec)
    server = getattr(chat_model, "server", None)
    if server is None:
        return

    def load() -> None:
        with contextlib.suppress(Exception):
            server.ensure_running()

    threading.Thread(target=load, name="roost-model-preload", daemon=True).start()


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (as uvicorn binds it), or a ``ConfigError``."""
    from roost.core import ConfigError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc}",
            hint="pick a free port (--port, 0 for any) and an address of this machine (--host)",
        ) from None
    sock.set_inheritable(True)
    return sock


_APP_PY = '''"""{name}: a Roost agent service. Run it with `roost serve app:app`."""

from __future__ import annotations

import os

from roost.agents import ReActAgent
from roost.models import ChatModel
from roost.server import AgentApp, AgentContext
from roost.tools import Toolkit, tool


@tool
def word_count(text: str) -> int:
    """Count the words in a text."""
    return len(text.split())


def build_app(model: ChatModel | None = None, **options: object) -> AgentApp:
    """The app; tests pass a ScriptedModel, production uses {env} or ROOST_MODEL."""
    service = AgentApp("{name}", **options)  # type: ignore[arg-type]
    state: dict[str, ChatModel] = {{}}

    @service.agent
    def agent(ctx: AgentContext) -> ReActAgent:
        if "model" not in state:
            from roost.models.resolve import resolve_model

            state["model"] = model or resolve_model(os.environ.get("{env}"))
        return ReActAgent("{name}", state["model"], toolkit=Toolkit([word_count]))

    return service


app = build_app()
'''

_TEST_PY = '''"""Starts the app on a real port with a scripted model and streams one run."""

from __future__ import annotations

import threading
import time

import httpx
import uvicorn

from roost.models import ScriptedModel

from app import build_app


def test_agent_streams_a_reply(tmp_path, monkeypatch):
    monkeypatch.setenv("ROOST_HOME", str(tmp_path))
    service = build_app(ScriptedModel(["Hello from {name}!"]), auth=False)
    server = uvicorn.Server(uvicorn.Config(service, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{{port}}") as client:
            session = client.post("/v1/sessions", json={{}}).json()
            run = client.post(
                f"/v1/sessions/{{session['id']}}/runs", json={{"input": "hi", "stream": False}}
            ).json()
        assert run["status"] == "succeeded"
        assert run["output"]["content"][0]["text"] == "Hello from {name}!"
    finally:
        server.should_exit = True
        thread.join()
'''

_README = """# {name}

A [Roost](https://github.com/roost) agent service.

```bash
roost serve app:app            # prints the URL and, on first start, the admin key
pytest -q                      # runs test_app.py against a scripted model
```

Talk to it:

```bash
KEY=rk_...   # the admin key printed at first start
SID=$(curl -s -X POST localhost:8000/v1/sessions -H "Authorization: Bearer $KEY" \\
      -H 'content-type: application/json' -d '{{}}' | python -c 'import sys,json;print(json.load(sys.stdin)["id"])')
curl -N localhost:8000/v1/sessions/$SID/runs -H "Authorization: Bearer $KEY" \\
      -H 'content-type: application/json' -d '{{"input": "How many words are in: to be or not to be?"}}'
```

The model comes from `{env}` (or `ROOST_MODEL`; default: the local model).
"""


@app.command()
def init(name: str = typer.Argument(..., help="Project (and directory) name.")) -> None:
    """Scaffold an agent service project: app.py, test_app.py and a README."""
    import re

    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,63}", name):
        typer.echo(
            "error: NAME must start with a letter and use letters, digits, '-' or '_'", err=True
        )
        raise typer.Exit(2)
    target = Path(name)
    if target.exists() and any(target.iterdir()):
        typer.echo(f"error: {target} exists and is not empty; pick another NAME", err=True)
        raise typer.Exit(2)
    target.mkdir(parents=True, exist_ok=True)
    env = re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_MODEL"
    files = {"app.py": _APP_PY, "test_app.py": _TEST_PY, "README.md": _README}
    for filename, template in files.items():
        (target / filename).write_text(template.format(name=name, env=env))
    typer.echo(
        f"Created {target}/ with {', '.join(files)}. Next: cd {name} && pytest -q && roost serve app:app"
    )
