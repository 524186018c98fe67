"""``roost sandbox``: run the sandbox service, check a sandbox from the terminal, list the
sandboxes of a running service."""

from __future__ import annotations

import asyncio
import shlex
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from roost.core.settings import get_settings

app = typer.Typer(
    name="sandbox",
    help="Isolated sandboxes: serve the manager over HTTP/MCP, run a quick command.",
    no_args_is_help=True,
)

_T = TypeVar("_T")
DEFAULT_PORT = 8790


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def _fail(err: Exception) -> typer.Exit:
    from rich.console import Console
    from rich.markup import escape

    from roost.core import RoostError

    console = Console(stderr=True)
    if isinstance(err, RoostError):
        console.print(f"[red]error[/red] {escape(f'[{err.code}] {err.message}')}", highlight=False)
        if err.hint:
            console.print(f"  hint: {escape(err.hint)}", highlight=False)
    else:
        console.print(f"[red]error[/red] {escape(str(err))}", highlight=False)
    return typer.Exit(code=2)


def _run(make: Callable[[], Awaitable[_T]]) -> _T:
    from roost.core import RoostError

    try:
        return asyncio.run(make())  # type: ignore[arg-type]
    except RoostError as err:
        raise _fail(err) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = DEFAULT_PORT,
    token: Annotated[
        str | None,
        typer.Option(
            help="Bearer token every request must carry (required; ≥ 16 characters; "
            "default: ROOST_SANDBOX_TOKEN).",
            show_default=False,
        ),
    ] = None,
    backend: Annotated[str, typer.Option(help="Sandbox backend.")] = "bwrap",
    pool_size: Annotated[int, typer.Option(help="Warm base sandboxes kept ready.")] = 1,
    mcp: Annotated[bool, typer.Option(help="Serve the sandbox tools over MCP at /mcp.")] = True,
) -> None:
    """Serve the sandbox manager over HTTP (and MCP at /mcp) behind a bearer token."""
    import uvicorn

    from roost.core import RoostError
    from roost.sandbox import create_app

    try:
        application = create_app(
            token=token or _secret(get_settings().sandbox_token),
            backend=backend,
            pool_size=pool_size,
            mcp=mcp,
            loopback_only=host in ("127.0.0.1", "localhost", "::1"),
        )
    except RoostError as err:
        raise _fail(err) from None
    typer.echo(f"roost sandbox service on http://{host}:{port} (backend {backend}, MCP at /mcp)")
    uvicorn.run(application, host=host, port=port, log_level="info", lifespan="on")


@app.command(
    "exec",
    context_settings={"allow_interspersed_args": False},
)
def exec_(
    command: Annotated[list[str], typer.Argument(help="The command, after --.")],
    type: Annotated[str, typer.Option("--type", help="Sandbox type.")] = "base",
    backend: Annotated[str, typer.Option(help="Sandbox backend.")] = "bwrap",
    network: Annotated[bool, typer.Option(help="Give the sandbox network access.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds before the command is killed.")] = 60.0,
) -> None:
    """Run a shell command in a fresh sandbox, print its output, exit with its code."""
    from roost.core import InvalidRequest
    from roost.sandbox import SandboxSpec, create_sandbox

    if type not in ("base", "filesystem", "browser", "gui"):
        raise _fail(InvalidRequest(f"unknown sandbox type {type!r}", hint="base, browser or gui"))
    line = command[0] if len(command) == 1 else shlex.join(command)

    async def go() -> Any:
        spec = SandboxSpec(type=type, network=network)  # type: ignore[arg-type]
        sandbox = create_sandbox(spec, backend)
        async with sandbox:
            return await sandbox.run_shell(line, timeout=timeout)

    result = _run(go)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.timed_out:
        typer.echo(f"timed out after {timeout:g} s", err=True)
        raise typer.Exit(code=124)
    raise typer.Exit(code=result.exit_code if result.exit_code is not None else 1)


@app.command()
def python(
    code: Annotated[str, typer.Option("-c", "--code", help="Python source to run.")],
    backend: Annotated[str, typer.Option(help="Sandbox backend.")] = "bwrap",
    network: Annotated[bool, typer.Option(help="Give the sandbox network access.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds before the cell is interrupted.")] = 60.0,
) -> None:
    """Run Python code in a fresh sandbox; prints output and the last expression's value."""
    from roost.sandbox import SandboxSpec, create_sandbox

    async def go() -> Any:
        sandbox = create_sandbox(SandboxSpec(network=network), backend)
        async with sandbox:
            return await sandbox.run_python(code, timeout=timeout)

    result = _run(go)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.result is not None:
        typer.echo(result.result)
    if result.error:
        sys.stderr.write(result.error if result.error.endswith("\n") else result.error + "\n")
    if result.images:
        typer.echo(f"({len(result.images)} image(s) produced)", err=True)
    raise typer.Exit(code=1 if result.error or result.timed_out else 0)


@app.command("list")
def list_(
    url: Annotated[
        str | None,
        typer.Option(
            help=f"Sandbox service URL (default: ROOST_SANDBOX_URL, else port {DEFAULT_PORT})."
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(help="Service token (default: ROOST_SANDBOX_TOKEN).", show_default=False),
    ] = None,
) -> None:
    """List the live sandboxes of a running sandbox service."""
    from rich.console import Console
    from rich.table import Table

    from roost.sandbox import RemoteSandboxManager

    async def go() -> Any:
        settings = get_settings()
        where = url or settings.sandbox_url or f"http://127.0.0.1:{DEFAULT_PORT}"
        async with RemoteSandboxManager(where, token or _secret(settings.sandbox_token)) as m:
            return await m.list_sandboxes()

    infos = _run(go)
    rows = [
        (
            info.id,
            info.type,
            info.backend,
            info.status.value,
            info.session_id or "",
            "yes" if info.network else "no",
        )
        for info in infos
    ]
    header = ("id", "type", "backend", "status", "session", "network")
    if sys.stdout.isatty():
        table = Table(*header)
        for row in rows:
            table.add_row(*row)
        Console().print(table)
    else:  # piped: one tab-separated line per sandbox, easy to cut/grep
        for row in [header, *rows]:
            typer.echo("\t".join(row))
    typer.echo(f"{len(infos)} sandbox(es)")
