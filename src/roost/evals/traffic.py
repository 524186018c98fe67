"""Datasets from real traffic: a stored run becomes a case, with its recorded events.

The case's input is the conversation up to the run's input; its expected output is the
run's reply and its expected tool calls the calls the run made. The run's events are
kept under ``recorded`` so the case replays (its tool results fed back) even after the
run's own events have aged out of the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from roost.core import Msg
from roost.evals.cases import Case, ExpectedCall
from roost.evals.errors import ReplayImpossible
from roost.evals.replay import stored_events

if TYPE_CHECKING:
    from roost.store import RunRecord, Store

MAX_RECORDED_EVENTS = 20_000


async def case_from_run(store: Store, run: RunRecord, *, tags: list[str] | None = None) -> Case:
    """The case a finished run makes (``replay_impossible`` while it still runs)."""
    if not run.is_final or run.session_id is None:
        raise ReplayImpossible(
            f"run {run.id!r} is {run.status}", hint="turn a finished run into a case"
        )
    page = await store.list_messages(run.session_id, limit=None, include_partial=False)
    records = page.records
    own = [r for r in records if r.run_id == run.id]
    inputs = [r for r in own if r.msg.role == "user"]
    if not inputs:
        raise ReplayImpossible(f"run {run.id!r} has no stored input")
    last_input = max(r.seq for r in inputs)
    conversation: list[Msg] = [r.msg for r in records if r.seq <= last_input]
    replies = [r.msg for r in own if r.msg.role == "assistant" and r.seq > last_input]
    calls = [
        ExpectedCall(name=block.name, arguments=dict(block.input))
        for msg in replies
        for block in msg.tool_uses
    ]
    events = stored_events(await store.list_events(run.id))
    if len(events) > MAX_RECORDED_EVENTS:
        events = [e for e in events if e.get("type") not in ("text.delta", "thinking.delta")]
    return Case(
        input=conversation,
        expected=replies[-1].text if replies else None,
        tool_calls=calls,
        tags=[*(tags or []), "from-traffic"],
        metadata={"run_id": run.id, "agent": run.agent, "status": run.status},
        recorded={"run_id": run.id, "agent": run.agent, "model": run.model, "events": events},
    )
