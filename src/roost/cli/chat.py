"""``roost chat``: a terminal chat that streams the reply and shows tool calls."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from roost.core import (
    ApprovalRequired,
    ErrorEvent,
    Interrupted,
    Msg,
    ReplyFinished,
    RoostError,
    TextDelta,
    ToolCallFinished,
    ToolResultEvent,
)

app = typer.Typer()


def build_agent(
    model_spec: str | None, *, assume_yes: bool, system: str | None, console: Console
) -> Any:
    """The chat agent: the configured model (local by default) with the built-in tools."""
    from roost.agents import ReActAgent
    from roost.agents.assistant import MAX_ITERS, SYSTEM_PROMPT, question_rules, tool_filter
    from roost.core import get_settings
    from roost.models.resolve import resolve_model
    from roost.tools import Toolkit
    from roost.tools.builtin import builtin_tools

    settings = get_settings()
    spec = model_spec or settings.model
    if (spec is None or spec.startswith("local")) and not settings.local_model:
        from roost.models.install import ensure_model

        name = spec.split(":", 1)[1] if spec and ":" in spec else None
        ensure_model(name, assume_yes=assume_yes, console=console)
    model = resolve_model(spec)
    return ReActAgent(
        "assistant",
        model,
        Toolkit(builtin_tools()),
        sys_prompt=system or SYSTEM_PROMPT,
        max_iters=MAX_ITERS,
        tool_filter=tool_filter(model),
        **question_rules(model),
    )


async def _turn(
    agent: Any, text: str, out: Console, err: Console, *, once: bool, assume_yes: bool
) -> Msg:
    final: Msg | None = None
    printed = False
    async for event in agent.reply(text):
        if isinstance(event, TextDelta):
            if not once:
                out.print(event.delta, end="", markup=False, highlight=False, soft_wrap=True)
                printed = True
        elif isinstance(event, ToolCallFinished):
            args = json.dumps(event.input, ensure_ascii=False)
            err.print(f"→ {event.name}({args})", style="dim", markup=False)
        elif isinstance(event, ToolResultEvent):
            style = "red" if event.result.is_error else "dim"
            err.print(
                f"[{style}]← {event.result.text[:300]}[/{style}]", highlight=False, markup=True
            )
        elif isinstance(event, ApprovalRequired):
            approve = assume_yes or (
                sys.stdin.isatty()
                and typer.confirm(f"Allow {event.name}({json.dumps(event.input)})?", default=False)
            )
            if approve:
                agent.approve(event.call_id)
            else:
                agent.reject(event.call_id, "declined in the terminal")
        elif isinstance(event, ErrorEvent):
            err.print(f"error [{event.code}]: {event.message}", style="red", markup=False)
        elif isinstance(event, Interrupted):
            err.print("[yellow](interrupted)[/yellow]")
        elif isinstance(event, ReplyFinished):
            final = event.msg
    if printed:
        out.print()
    assert final is not None
    return final


async def _load_with_spinner(agent: Any, err: Console) -> None:
    """Wait for the local model to load (it may already be loading) behind a spinner, so
    the first question does not sit in silence for the seconds a model takes."""
    from roost.models.local import LocalModel

    model = agent.model
    if not isinstance(model, LocalModel) or model.server.running():
        return
    with err.status(f"Loading the local model {model.model_name}… / 正在加载本地模型…"):
        try:
            await model.start()
        except RoostError:
            return  # the turn reports it, typed


async def _chat(model: str | None, once: str | None, assume_yes: bool, system: str | None) -> int:
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    agent = build_agent(model, assume_yes=assume_yes, system=system, console=err)
    try:
        if once is not None:
            await _load_with_spinner(agent, err)
            final = await _turn(agent, once, out, err, once=True, assume_yes=assume_yes)
            if final.metadata.get("error"):
                return 1
            out.print(final.text, markup=False, highlight=False)
            return 0
        err.print("[bold]Roost chat[/bold] — Ctrl-C stops a reply, Ctrl-D or /exit quits.")
        # The local model loads while the user types the first question; a failure is
        # reported, typed, by that first turn.
        from roost.models.local import LocalModel

        if isinstance(agent.model, LocalModel):
            warmup = asyncio.create_task(agent.model.start())
            warmup.add_done_callback(lambda t: t.cancelled() or t.exception())
        while True:
            try:
                text = await asyncio.to_thread(input, "you> ")
            except EOFError:
                return 0
            if text.strip() in ("/exit", "/quit"):
                return 0
            if not text.strip():
                continue
            await _load_with_spinner(agent, err)
            task = asyncio.create_task(
                _turn(agent, text, out, err, once=False, assume_yes=assume_yes)
            )
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                agent.interrupt("stopped in the terminal")
                await task
    finally:
        close = getattr(agent.model, "aclose", None)
        if close is not None:
            await close()


@app.command()
def chat(
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="openai:<name>, anthropic:<name>, a base URL, or local[:<name>] (default).",
        ),
    ] = None,
    once: Annotated[str | None, typer.Option("--once", help="Answer TEXT once and exit.")] = None,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="Install the local model and approve tools without asking."
        ),
    ] = False,
    system: Annotated[str | None, typer.Option("--system", help="System prompt.")] = None,
) -> None:
    """Chat with an agent in the terminal (streams the reply and shows tool calls)."""
    try:
        code = asyncio.run(_chat(model, once, yes, system))
    except RoostError as exc:
        Console(stderr=True).print(f"error: {exc}", style="red", markup=False, highlight=False)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        code = 130
    raise typer.Exit(code)
