"""``roost traces``: list traced runs and show a run's span tree from the local trace store."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from roost.core import RoostError

app = typer.Typer(help="Inspect traces in the local trace store.", no_args_is_help=True)

DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="Store URL (default: ROOST_DATABASE_URL, else under ROOST_HOME)."
    ),
]


def _fail(console: Console, err: RoostError) -> typer.Exit:
    console.print(f"[red]error[/red] {escape(str(err))}")
    return typer.Exit(code=1)


def _cost(cost: float | None, currency: str | None) -> str:
    if cost is None:
        return "-"
    return f"{cost:.6f} {currency or ''}".rstrip()


def _label(node: dict[str, Any]) -> str:
    colour = {"error": "red", "ok": "green"}.get(node["status"], "cyan")
    parts = [
        f"[bold {colour}]{node['name']}[/]",
        f"[dim]+{node['offset_ms']:.1f}ms[/]",
        f"{node['duration_ms']:.1f}ms",
    ]
    tin, tout = node["total_input_tokens"], node["total_output_tokens"]
    if tin or tout:
        parts.append(f"tokens {tin}→{tout}")
    if node["total_cost"] is not None:
        parts.append(f"cost {_cost(node['total_cost'], node['total_currency'])}")
    if node["status"] == "error":
        parts.append(f"[red]{node['status_message'] or 'error'}[/]")
    attrs = node["attributes"]
    tool_call = attrs.get("gen_ai.tool.call.id")
    if tool_call:
        parts.append(f"[dim]call {tool_call}[/]")
    return "  ".join(parts)


def _add(tree: Tree, node: dict[str, Any]) -> None:
    branch = tree.add(_label(node))
    for child in node["children"]:
        _add(branch, child)


def render_tree(data: dict[str, Any]) -> Tree:
    """The run's spans as a Rich tree: name, offset, duration, tokens, cost, errors."""
    title = (
        f"[bold]run {data['run_id']}[/]  {data['duration_ms']:.1f}ms  {data['span_count']} spans  "
        f"tokens {data['input_tokens']}→{data['output_tokens']}  cost {_cost(data['cost'], data['currency'])}"
    )
    if data.get("session_id"):
        title += f"  session {data['session_id']}"
    tree = Tree(title)
    for root in data["spans"]:
        _add(tree, root)
    return tree


async def _open(url: str | None) -> Any:
    from roost.store import Store

    return await Store.open(url)


async def _show(url: str | None, run_id: str) -> dict[str, Any]:
    from roost.observe.tree import trace_tree

    store = await _open(url)
    try:
        return await trace_tree(store, run_id)
    finally:
        await store.close()


async def _list(url: str | None, limit: int, session: str | None, user: str | None) -> list[Any]:
    store = await _open(url)
    try:
        return list(await store.list_traces(limit=limit, session_id=session, user_id=user))
    finally:
        await store.close()


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="The run id (run_…).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the tree as JSON.")] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Print the span tree of a run with timings, tokens and cost."""
    console = Console()
    try:
        data = asyncio.run(_show(database_url, run_id))
    except RoostError as err:
        raise _fail(Console(stderr=True), err) from None
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    console.print(render_tree(data))


@app.command("list")
def list_(
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=1000, help="How many runs.")
    ] = 20,
    session: Annotated[str | None, typer.Option("--session", help="Only this session.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """List the most recent traced runs, newest first."""
    try:
        rows = asyncio.run(_list(database_url, limit, session, user))
    except RoostError as err:
        raise _fail(Console(stderr=True), err) from None
    if as_json:
        typer.echo(json.dumps([r.__dict__ for r in rows], indent=2, default=str))
        return
    if not rows:
        typer.echo(
            "no traced runs yet (tracing to the local store is on by default in `roost serve`)"
        )
        return
    table = Table(title="Traced runs")
    for col in (
        "run",
        "started",
        "duration",
        "spans",
        "errors",
        "tokens in→out",
        "cost",
        "session",
        "root",
    ):
        table.add_column(col)
    for r in rows:
        started = datetime.fromtimestamp(r.start_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            r.run_id,
            started,
            f"{(r.end_ns - r.start_ns) / 1e6:.1f}ms",
            str(r.span_count),
            str(r.errors),
            f"{r.input_tokens}→{r.output_tokens}",
            _cost(r.cost, None),
            r.session_id or "-",
            r.root_name or "-",
        )
    Console().print(table)
