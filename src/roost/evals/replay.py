"""Replay a stored run: deterministically from its events, or live against another version.

Deterministic: the run's agent is built again by the app's factory, then its model is
replaced by :class:`RecordedModel` (each model turn's events streamed back as recorded)
and its toolkit by :class:`RecordedTools` (each call's recorded result). The replayed
events must equal the stored ones; what may differ — ids minted per run, timestamps —
is mapped away by :func:`normalize`, and the canonical JSON of both sides is compared
byte for byte (decision 0224). Against another version: that version's agent runs with
its own (live) model; tool calls that match a recorded one (same name and arguments) get
the recorded result, others run live; the two transcripts are diffed.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from roost.core import Event, Msg, RoostError, Usage, new_id
from roost.core.blocks import ToolResultBlock, ToolUseBlock
from roost.core.events import ToolProgress
from roost.evals.errors import ReplayImpossible
from roost.models.base import BaseChatModel, ModelRequest, StreamAccumulator
from roost.server.context import AgentContext
from roost.server.engine.codec import event_data, expand_stored

if TYPE_CHECKING:
    from roost.server.services import Services
    from roost.store import RunRecord

MODEL_EVENTS = frozenset(
    {
        "thinking.delta",
        "text.delta",
        "tool_call.started",
        "tool_call.delta",
        "tool_call.finished",
        "usage",
    }
)
"""What a model stream yields (the agent forwards them); the rest the agent emits."""
RUN_EVENTS = frozenset({"run.queued", "run.started", "run.completed", "run.failed", "run.canceled"})
_ENVELOPE = ("seq", "run_id", "session_id")
_NOT_STORED = frozenset({"model.response", "reply.finished"})
"""Events the run engine keeps to itself (the final message is stored as a message)."""
_VOLATILE = frozenset({"created_at", "timestamp", "ts", "duration_ms"})


def stored_events(records: Sequence[Any]) -> list[dict[str, Any]]:
    """A run's stored events, coalesced deltas expanded, as plain dicts."""
    rows = [(e.seq, e.type, e.payload) for e in records]
    return [dict(p) for _seq, _t, p in expand_stored(rows, -1)]


def model_turns(events: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """The model's turns: runs of model events, split where the message id changes or a
    usage event closes a call."""
    turns: list[list[Mapping[str, Any]]] = []
    current: list[Mapping[str, Any]] = []
    for event in events:
        kind = event.get("type")
        if kind not in MODEL_EVENTS:
            if current:
                turns.append(current)
                current = []
            continue
        msg_id = event.get("msg_id")
        if current and msg_id and current[0].get("msg_id") not in (None, msg_id):
            turns.append(current)
            current = []
        current.append(event)
        if kind == "usage":
            turns.append(current)
            current = []
    if current:
        turns.append(current)
    return turns


class RecordedModel(BaseChatModel):
    """A model that streams back recorded turns, event for event, with their message ids."""

    provider = "replay"

    def __init__(self, turns: list[list[Mapping[str, Any]]], model_name: str = "replay") -> None:
        self.turns = turns
        self.model_name = model_name
        self.index = 0

    async def request_stream(
        self, messages: Sequence[Msg], request: ModelRequest
    ) -> AsyncIterator[Event]:
        if self.index >= len(self.turns):
            raise RoostError(
                "the replayed agent called its model more often than the recorded run",
                hint="the agent's code changed since the run; replay against a version instead",
            )
        turn = self.turns[self.index]
        self.index += 1
        acc = StreamAccumulator(msg_id=next((e["msg_id"] for e in turn if e.get("msg_id")), None))
        calls = False
        for e in turn:
            kind = e["type"]
            if kind == "text.delta":
                yield acc.text(e["delta"])
            elif kind == "thinking.delta":
                yield acc.thinking(e["delta"])
            elif kind == "tool_call.started":
                calls = True
                yield acc.start_call(e["call_id"], e["name"])
            elif kind == "tool_call.delta":
                yield acc.call_delta(e["call_id"], e.get("delta", ""))
            elif kind == "tool_call.finished":
                if e["call_id"] not in acc.open_call_ids():  # a provider that sent it whole
                    yield acc.start_call(e["call_id"], e["name"])
                    yield acc.call_delta(e["call_id"], json.dumps(e.get("input") or {}))
                yield acc.finish_call(e["call_id"])
            elif kind == "usage":
                yield acc.add_usage(Usage.model_validate(e["usage"]), e.get("model"))
        yield acc.response("tool_use" if calls else "end_turn", self.model_name)


class RecordedTools:
    """A toolkit whose calls return recorded results: by call id (deterministic), or by
    name and arguments falling back to the live toolkit (``live`` given)."""

    def __init__(
        self, events: Sequence[Mapping[str, Any]], live: Any = None, *, specs_from: Any = None
    ) -> None:
        self.by_id: dict[str, Mapping[str, Any]] = {}
        self.by_call: list[tuple[str, Any, Mapping[str, Any]]] = []
        inputs = {
            e["call_id"]: e.get("input") or {}
            for e in events
            if e.get("type") == "tool_call.finished"
        }
        for e in events:
            if e.get("type") == "tool.result":
                self.by_id[e["call_id"]] = e
                self.by_call.append((e["name"], inputs.get(e["call_id"]), e))
        self.live = live
        self.source = specs_from if specs_from is not None else live
        self.matched = 0
        self.ran_live = 0

    def specs(self) -> list[Any]:
        return list(self.source.specs()) if self.source is not None else []

    def needs_approval(self, call: ToolUseBlock) -> bool:
        return False  # a recorded call was approved (or rejected) the first time

    def __contains__(self, name: object) -> bool:
        return self.source is not None and name in self.source

    def get(self, name: str) -> Any:
        """The live tool of that name (its spec and source; the agent asks whether the
        client runs it)."""
        if self.source is None:
            raise KeyError(name)
        return self.source.get(name)

    def names(self) -> list[str]:
        return list(self.source.names()) if self.source is not None else []

    async def execute(self, call: ToolUseBlock) -> AsyncIterator[ToolProgress | ToolResultBlock]:
        found = self.by_id.get(call.id) if self.live is None else None
        if found is None:
            for i, (name, args, event) in enumerate(self.by_call):
                if name == call.name and args == call.input:
                    found = event
                    del self.by_call[i]
                    break
        if found is not None:
            self.matched += 1
            result = ToolResultBlock.model_validate(found["result"])
            yield result.model_copy(update={"tool_use_id": call.id})
            return
        if self.live is None:
            yield ToolResultBlock(
                tool_use_id=call.id,
                name=call.name,
                is_error=True,
                status="error",
                code="replay_missing",
                content=[],
            )
            return
        self.ran_live += 1
        async for item in self.live.execute(call):
            yield item


def normalize(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The agent's events without the envelope, run events, timestamps, and with every
    per-run id replaced by its order of appearance (``id#1``, ``id#2`` …)."""
    ids: dict[str, str] = {}

    def fix(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: fix(v, k) for k, v in value.items() if k not in _VOLATILE}
        if isinstance(value, list):
            return [fix(v) for v in value]
        if isinstance(value, str) and (
            key in ("id", "msg_id", "reply_id") or key.endswith("_msg_id")
        ):
            return ids.setdefault(value, f"id#{len(ids) + 1}")
        return value

    out = []
    for event in events:
        if event.get("type") in RUN_EVENTS:
            continue
        body = {k: v for k, v in event.items() if k not in _ENVELOPE and k != "coalesced"}
        out.append(fix(body))
    return out


def canonical(events: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(json.dumps(e, sort_keys=True, ensure_ascii=False) for e in normalize(events))


def transcript(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """A readable transcript: the reply text and each tool call with its result."""
    lines: list[str] = []
    text: list[str] = []
    for e in events:
        kind = e.get("type")
        if kind == "text.delta":
            text.append(e.get("delta", ""))
            continue
        if text:
            lines.append("assistant: " + "".join(text))
            text = []
        if kind == "tool_call.finished":
            lines.append(f"call {e['name']}({json.dumps(e.get('input') or {}, sort_keys=True)})")
        elif kind == "tool.result":
            block = ToolResultBlock.model_validate(e["result"])
            lines.append(f"result {e['name']}: {block.text}")
        elif kind == "error":
            lines.append(f"error {e.get('code')}: {e.get('message')}")
    if text:
        lines.append("assistant: " + "".join(text))
    return lines


async def replay_run(
    services: Services, run: RunRecord, *, against: str | None = None
) -> dict[str, Any]:
    """Replay ``run``; returns whether it reproduced (or the transcript diff)."""
    if not run.is_final:
        raise ReplayImpossible(
            f"run {run.id!r} is still {run.status}", hint="replay it once it ended"
        )
    recorded = stored_events(await services.store.list_events(run.id))
    if not recorded:
        raise ReplayImpossible(
            f"run {run.id!r} has no stored events", hint="they may have aged out"
        )
    inputs = await _inputs(services, run)
    return await replay_events(
        services,
        recorded,
        inputs,
        agent=run.agent,
        against=against,
        model=run.model,
        run_id=run.id,
        owner=(run.user_id, run.tenant_id),
    )


async def replay_events(
    services: Services,
    recorded: list[dict[str, Any]],
    inputs: list[Msg],
    *,
    agent: str | None,
    against: str | None = None,
    model: str | None = None,
    run_id: str | None = None,
    owner: tuple[str | None, str | None] = (None, None),
) -> dict[str, Any]:
    """Replay recorded events (a stored run's, or a dataset case's from real traffic)."""
    target = against or agent
    spec = services.agents.spec(target)
    ctx = AgentContext(
        session_id=new_id("ses"),
        agent=spec.name,
        user_id=owner[0],
        tenant_id=owner[1],
        run_id=new_id("run"),
        metadata={"replay_of": run_id},
    )
    built = await services.agents.build(spec, ctx)
    mode = "live"
    tools: RecordedTools | None = None
    if hasattr(built, "toolkit"):
        tools = RecordedTools(
            recorded, None if against is None else built.toolkit, specs_from=built.toolkit
        )
        built.toolkit = tools
    if against is None and hasattr(built, "model"):
        built.model = RecordedModel(model_turns(recorded), model or "replay")
        mode = "deterministic"
    replayed: list[dict[str, Any]] = []
    try:
        async for event in built.reply(inputs if len(inputs) > 1 else inputs[0]):
            if event.type in _NOT_STORED:
                continue
            replayed.append(event_data(event))
    except RoostError as exc:
        replayed.append({"type": "error", "code": exc.code, "message": exc.message})
    before, after = canonical(recorded), canonical(replayed)
    old, new = transcript(recorded), transcript(replayed)
    return {
        "run_id": run_id,
        "agent": agent,
        "against": target,
        "mode": mode,
        "identical": before == after,
        "events": {"recorded": len(normalize(recorded)), "replayed": len(normalize(replayed))},
        "tools": {"recorded": tools.matched, "live": tools.ran_live} if tools else None,
        "transcript": {"recorded": old, "replayed": new},
        "diff": list(difflib.unified_diff(old, new, "recorded", "replayed", lineterm="")),
    }


async def _inputs(services: Services, run: RunRecord) -> list[Msg]:
    """The run's input messages (a background run keeps them in its metadata)."""
    if run.metadata.get("input"):
        return [Msg.model_validate(m) for m in run.metadata["input"]]
    if run.session_id is None:
        raise ReplayImpossible(f"run {run.id!r} has no session")
    page = await services.store.list_messages(run.session_id, limit=None)
    mine = [r.msg for r in page.records if r.run_id == run.id and r.msg.role == "user"]
    if not mine:
        raise ReplayImpossible(f"run {run.id!r} has no stored input")
    return mine


async def replay_session(
    services: Services, session_id: str, *, against: str | None = None
) -> dict[str, Any]:
    """Replay every finished run of a session, oldest first (each from its own events)."""
    page = await services.store.list_runs(session_id=session_id, limit=500)
    runs = [r for r in reversed(page.items) if r.is_final]
    if not runs:
        raise ReplayImpossible(f"session {session_id!r} has no finished run")
    results = [await replay_run(services, run, against=against) for run in runs]
    return {
        "session_id": session_id,
        "identical": all(r["identical"] for r in results),
        "runs": results,
    }
