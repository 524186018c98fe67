"""``ReActAgent``: reason → call tools → observe → answer, streaming every step.

The reply runs in its own task that feeds a queue; ``reply()`` yields from the queue.
That is what makes ``interrupt()`` immediate and clean: cancelling the task lands in one
place that closes open tool calls with "interrupted" results, keeps the partial text in
memory and still ends the stream with ``Interrupted`` + ``ReplyFinished``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from roost.agents import _decision as decision
from roost.agents import _tracing as otel
from roost.agents import client_tools
from roost.agents._tracing import capture_content, context_attributes, set_error, start_span
from roost.agents.memory import InMemoryMemory, Memory
from roost.core import (
    ApprovalNotFound,
    ApprovalRequired,
    ApprovalResolved,
    Conflict,
    DataBlock,
    ErrorEvent,
    Event,
    Interrupted,
    ModelResponse,
    Msg,
    ReplyFinished,
    ReplyStarted,
    RoostError,
    StateVersionError,
    StructuredOutputError,
    TextBlock,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    ToolProgress,
    ToolResultBlock,
    ToolResultEvent,
    ToolSpec,
    ToolUseBlock,
    Usage,
    UsageEvent,
    new_id,
)
from roost.models.base import ChatModel
from roost.tools import Toolkit
from roost.tools import _results as results

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from roost.agents.hub import MsgHub
    from roost.agents.knowledge import KnowledgeRetrieval

ToolMode = Literal["native", "decision"]
T = TypeVar("T", bound=BaseModel)
log = logging.getLogger("roost.agents")

STATE_VERSION = 1
_END = object()


class AgentBusy(Conflict):
    """The agent is already producing a reply."""

    code = "agent_busy"


@dataclass
class _ReplyState:
    reply_id: str
    usage: Usage = field(default_factory=Usage)
    phase: Literal["model", "tools"] = "model"
    partial_text: list[str] = field(default_factory=list)
    streamed_calls: list[ToolUseBlock] = field(default_factory=list)
    calls: list[ToolUseBlock] = field(default_factory=list)
    results: dict[str, ToolResultBlock] = field(default_factory=dict)
    iterations: int = 0
    model_msg_id: str | None = None
    ctx_attrs: dict[str, Any] = field(default_factory=dict)
    """Run/session/user/tenant ids from OTel baggage, read once per reply."""
    context: str = ""
    """Added to the system prompt for this reply (retrieved passages, memories)."""


def _as_msgs(msg: Msg | Sequence[Msg] | str | None) -> list[Msg]:
    if msg is None:
        return []
    if isinstance(msg, str):
        return [Msg.user(msg)]
    if isinstance(msg, Msg):
        return [msg]
    return list(msg)


class ReActAgent:
    """A tool-using agent.

    ``tool_mode="native"`` uses the provider's tool calls; ``"decision"`` asks for a
    JSON-schema-constrained decision each step (for small local models). ``None`` picks
    the model's ``preferred_tool_mode`` or native.
    """

    def __init__(
        self,
        name: str,
        model: ChatModel,
        toolkit: Toolkit | None = None,
        sys_prompt: str | None = None,
        memory: Memory | None = None,
        max_iters: int = 10,
        *,
        tool_mode: ToolMode | None = None,
        parallel_tool_calls: bool = True,
        tool_choice: str | None = None,
        model_options: dict[str, Any] | None = None,
        output_model: type[BaseModel] | None = None,
        loop_guard: bool = True,
        knowledge: KnowledgeRetrieval | None = None,
    ) -> None:
        if max_iters < 1:
            raise ValueError("max_iters must be at least 1")
        self.name = name
        self.model = model
        self.toolkit = toolkit if toolkit is not None else Toolkit()
        self.sys_prompt = sys_prompt or f"You are {name}, a helpful assistant."
        self.memory: Memory = memory if memory is not None else InMemoryMemory()
        self.max_iters = max_iters
        preferred = getattr(model, "preferred_tool_mode", None)
        self.tool_mode: ToolMode = tool_mode or (preferred if preferred == "decision" else "native")
        self.parallel_tool_calls = parallel_tool_calls
        self.tool_choice = tool_choice
        self.model_options = dict(model_options or {})
        self.output_model = output_model
        self.loop_guard = loop_guard
        self._task: asyncio.Task[None] | None = None
        self._producing = False  # the reply task has run its first step
        self._interrupt_early = False  # interrupted before that: stop at the first step
        self._interrupt_reason = "interrupted"
        self._approvals: dict[str, asyncio.Future[tuple[bool, str | None]]] = {}
        self._hubs: list[MsgHub] = []
        self.knowledge = knowledge
        """Knowledge bases and memory (``roost.agents.knowledge``); its tools join the
        toolkit."""
        for item in knowledge.tools() if knowledge is not None else ():
            self.toolkit.add(item)

    # -- public API ---------------------------------------------------------------------
    async def __call__(
        self,
        msg: Msg | Sequence[Msg] | str | None = None,
        *,
        output_model: type[BaseModel] | None = None,
    ) -> Msg:
        """Reply and return the final message (errors are in ``msg.metadata["error"]``)."""
        final: Msg | None = None
        async for event in self.reply(msg, output_model=output_model):
            if isinstance(event, ReplyFinished):
                final = event.msg
        assert final is not None
        return final

    async def structured(self, msg: Msg | str, output_model: type[T]) -> T:
        """Reply with an instance of ``output_model`` (raises ``StructuredOutputError``)."""
        final = await self(msg, output_model=output_model)
        if "structured_output" not in final.metadata:
            error = final.metadata.get("error", {})
            raise StructuredOutputError(error.get("message", "no structured output produced"))
        return output_model.model_validate(final.metadata["structured_output"])

    def reply(
        self,
        msg: Msg | Sequence[Msg] | str | None = None,
        *,
        output_model: type[BaseModel] | None = None,
    ) -> AsyncIterator[Event]:
        """Stream the events of one reply; the last one is always ``ReplyFinished``."""
        if self._task is not None and not self._task.done():
            raise AgentBusy(f"agent '{self.name}' is already replying", hint="interrupt it first")
        incoming = _as_msgs(msg)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._interrupt_reason = "interrupted"
        self._producing = False
        self._interrupt_early = False
        task = asyncio.get_running_loop().create_task(
            self._produce(incoming, output_model or self.output_model, queue.put_nowait),
            name=f"reply:{self.name}",
        )
        self._task = task
        return self._consume(queue, task)

    async def _consume(
        self, queue: asyncio.Queue[Any], task: asyncio.Task[None]
    ) -> AsyncIterator[Event]:
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    break
                yield item
        finally:
            if not task.done():
                self._interrupt_reason = "canceled by caller"
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if self._task is task:
                self._task = None
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]

    @property
    def is_replying(self) -> bool:
        return self._task is not None and not self._task.done()

    def interrupt(self, reason: str = "interrupted") -> None:
        """Stop the current reply at once (no-op when idle)."""
        if self._task is not None and not self._task.done():
            self._interrupt_reason = reason
            if self._producing:
                self._task.cancel()
            else:
                # a task cancelled before its first step never runs its body: no
                # ReplyFinished, no end for the consumer. Told instead, it stops at once.
                self._interrupt_early = True

    @property
    def pending_approvals(self) -> list[str]:
        return [cid for cid, fut in self._approvals.items() if not fut.done()]

    def approve(self, call_id: str, reason: str | None = None) -> None:
        self._resolve(call_id, True, reason)

    def reject(self, call_id: str, reason: str = "rejected") -> None:
        self._resolve(call_id, False, reason)

    def _resolve(self, call_id: str, approved: bool, reason: str | None) -> None:
        fut = self._approvals.get(call_id)
        if fut is None or fut.done():
            raise ApprovalNotFound(
                f"no tool call '{call_id}' is waiting for approval",
                hint="pending: " + (", ".join(self.pending_approvals) or "none"),
            )
        fut.set_result((approved, reason))

    async def observe(self, msg: Msg | Sequence[Msg]) -> None:
        self.memory.add(_as_msgs(msg))

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "type": "react",
            "name": self.name,
            "memory": self.memory.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        version = state.get("version")
        if not isinstance(version, int) or version > STATE_VERSION or version < 1:
            raise StateVersionError(
                f"state version {version!r} is not supported (this Roost reads 1..{STATE_VERSION})",
                hint="upgrade Roost or discard the saved state",
            )
        self.memory.load_state_dict(state.get("memory", {}))

    # -- the reply loop -----------------------------------------------------------------
    async def _produce(
        self,
        incoming: list[Msg],
        output_model: type[BaseModel] | None,
        emit: Callable[[Any], None],
    ) -> None:
        st = _ReplyState(reply_id=new_id("reply"), ctx_attrs=context_attributes())
        attrs = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": self.name,
            "roost.reply_id": st.reply_id,
            **st.ctx_attrs,
        }
        finished_ok = False
        self._producing = True
        with start_span(f"invoke_agent {self.name}", attrs) as span:
            emit(ReplyStarted(msg_id=st.reply_id, agent=self.name))
            try:
                self.memory.add(incoming)
                if self._interrupt_early:
                    raise asyncio.CancelledError
                if self.knowledge is not None:
                    self.knowledge.begin(emit, self.name)
                    st.context = await self.knowledge.prepare(incoming)
                final = await self._loop(st, emit, output_model)
                if self.knowledge is not None:
                    await self.knowledge.finish(incoming, final, self.model)
                finished_ok = True
            except asyncio.CancelledError:
                final = self._close_interrupted(st, emit)
                span.set_attribute("roost.interrupted", True)
            except RoostError as exc:
                final = self._close_failed(st, emit, exc)
                set_error(span, exc.code)
            except Exception as exc:  # a bug must not kill the stream without an answer
                # the text of an unexpected exception may hold paths, queries or data: it
                # goes to the log, the reply (which a server streams to its client) names
                # only its type
                log.exception("agent %r failed in reply %s", self.name, st.reply_id)
                err = RoostError(
                    f"the agent failed with an unexpected {type(exc).__name__}"
                    " (details in the server log)"
                )
                final = self._close_failed(st, emit, err)
                span.record_exception(exc)
                set_error(span, "internal_error")
            final.usage = st.usage
            final.metadata.setdefault("reply_id", st.reply_id)
            final.metadata["iterations"] = st.iterations
            span.set_attribute("gen_ai.usage.input_tokens", st.usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", st.usage.output_tokens)
            if finished_ok:
                for hub in list(self._hubs):
                    await hub.broadcast(final, sender=self)
            emit(ReplyFinished(msg=final, usage=st.usage, agent=self.name))
        emit(_END)

    async def _loop(
        self,
        st: _ReplyState,
        emit: Callable[[Any], None],
        output_model: type[BaseModel] | None,
    ) -> Msg:
        specs = self.toolkit.specs()
        executed: dict[str, ToolResultBlock] = {}
        force_answer = False
        for _ in range(self.max_iters):
            st.iterations += 1
            assistant = await self._step(st, emit, specs, force_answer)
            calls = assistant.tool_uses
            if not calls:
                if output_model is not None:
                    return await self._structured_output(st, emit, assistant, output_model)
                return assistant
            handoff = client_tools.client_calls(self.toolkit, calls)
            if handoff:  # the client runs these: the reply ends with them open (0230)
                own = [c for c in calls if c not in handoff]
                if own:
                    await self._run_tools(st, emit, own, executed)
                return client_tools.handed_off(assistant, handoff)
            force_answer = await self._run_tools(st, emit, calls, executed)
        # out of iterations: one last call that must answer
        st.iterations += 1
        emit(
            ErrorEvent(
                code="max_iterations",
                message=f"reached max_iters={self.max_iters}; asking the model for a final answer",
                recoverable=True,
                agent=self.name,
            )
        )
        assistant = await self._step(st, emit, specs, force_answer=True)
        if assistant.tool_uses:  # a model that ignores tool_choice=none: drop the calls
            assistant.content = [b for b in assistant.content if not isinstance(b, ToolUseBlock)]
        if output_model is not None:
            return await self._structured_output(st, emit, assistant, output_model)
        return assistant

    async def _step(
        self,
        st: _ReplyState,
        emit: Callable[[Any], None],
        specs: list[ToolSpec],
        force_answer: bool,
    ) -> Msg:
        """One model call; returns the assistant message, already added to memory."""
        st.phase = "model"
        st.partial_text = []
        st.streamed_calls = []
        history = self.memory.get()
        sys_prompt = self.sys_prompt + st.context
        if self.tool_mode == "decision":
            # retrieved passages last, next to the conversation (small models lose them
            # behind the tool descriptions)
            prompt = (
                f"{self.sys_prompt}\n\n{decision.decision_prompt(specs)}{st.context}"
                if specs
                else sys_prompt
            )
            msgs = [Msg.system(prompt), *decision.render_history(history)]
            kwargs: dict[str, Any] = {
                "response_format": decision.decision_schema(
                    specs, allow_tools=bool(specs) and not force_answer
                )
            }
        else:
            msgs = [Msg.system(sys_prompt), *history]
            kwargs = {}
            if specs:
                kwargs["tools"] = specs
                choice = "none" if force_answer else self.tool_choice
                if choice:
                    kwargs["tool_choice"] = choice
        response = await self._call_model(st, emit, msgs, kwargs)
        if self.tool_mode == "decision":
            decided = self._decision_message(st, emit, response)
            retries = 0
            while decided is None:  # cut off mid-JSON: steer to a short, complete reply
                retries += 1
                st.iterations += 1
                note = [Msg.assistant(response.msg.text), Msg.user(decision.TRUNCATED_NOTE)]
                st.partial_text = []
                response = await self._call_model(st, emit, [*msgs, *note], kwargs)
                decided = self._decision_message(st, emit, response, last_try=retries >= 2)
            assistant = decided
        else:
            assistant = response.msg
            assistant.name = self.name
        self.memory.add(assistant)
        st.partial_text = []
        st.streamed_calls = []
        return assistant

    async def _call_model(
        self,
        st: _ReplyState,
        emit: Callable[[Any], None],
        msgs: list[Msg],
        kwargs: dict[str, Any],
    ) -> ModelResponse:
        model_name = getattr(self.model, "model_name", "unknown")
        attrs = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": getattr(self.model, "provider", "unknown"),
            "gen_ai.request.model": model_name,
            "gen_ai.agent.name": self.name,
            **otel.server_attributes(self.model),
            **st.ctx_attrs,
        }
        decision_mode = self.tool_mode == "decision"
        streamer = decision.AnswerStreamer() if decision_mode else None
        response: ModelResponse | None = None
        started = time.perf_counter()
        with (
            otel.model_call_metrics(attrs, started) as outcome,
            start_span(f"chat {model_name}", attrs, client=True) as span,
        ):
            recording = span.is_recording()  # content is only worth rendering for a real span
            if recording and capture_content():
                span.add_event(
                    "gen_ai.input.messages", {"gen_ai.input.messages": _new_input_json(msgs)}
                )
            async for event in self.model.stream(msgs, **kwargs, **self.model_options):
                if isinstance(event, ModelResponse):
                    response = event
                    continue
                event.agent = self.name
                if isinstance(event, TextDelta):
                    st.model_msg_id = event.msg_id
                    if streamer is not None:
                        piece = streamer.feed(event.delta)
                        if not piece:
                            continue
                        event.delta = piece
                    st.partial_text.append(event.delta)
                elif isinstance(event, ToolCallFinished):
                    st.streamed_calls.append(
                        ToolUseBlock(id=event.call_id, name=event.name, input=event.input)
                    )
                elif decision_mode and not isinstance(event, UsageEvent):
                    continue
                emit(event)
            if response is None:
                raise RoostError(f"model '{model_name}' ended its stream without a response")
            st.usage = st.usage + response.usage
            outcome.append(response)
            span.set_attribute("gen_ai.usage.input_tokens", response.usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", response.usage.output_tokens)
            span.set_attribute(
                "gen_ai.response.id", response.msg.metadata.get("response_id") or response.msg.id
            )
            if response.model:
                span.set_attribute("gen_ai.response.model", response.model)
            finish = otel.finish_reason(response.stop_reason)
            span.set_attribute("gen_ai.response.finish_reasons", [finish])
            if recording and capture_content():
                out = json.dumps(otel.genai_messages([response.msg], finish), ensure_ascii=False)
                span.add_event("gen_ai.output.messages", {"gen_ai.output.messages": out})
        return response

    def _decision_message(
        self,
        st: _ReplyState,
        emit: Callable[[Any], None],
        response: ModelResponse,
        *,
        last_try: bool = False,
    ) -> Msg | None:
        """The decision as a message; ``None`` when the model was cut off mid-JSON and
        the step should be retried."""
        raw = response.msg.text
        parsed = decision.parse_decision(raw)
        if parsed is None and not last_try and response.stop_reason in ("length", "max_tokens"):
            return None
        msg_id = response.msg.id
        if parsed is not None and "tool" in parsed:
            call = ToolUseBlock(id=new_id("call"), name=parsed["tool"], input=parsed["arguments"])
            emit(ToolCallStarted(msg_id=msg_id, call_id=call.id, name=call.name, agent=self.name))
            emit(
                ToolCallFinished(
                    msg_id=msg_id,
                    call_id=call.id,
                    name=call.name,
                    input=call.input,
                    agent=self.name,
                )
            )
            return Msg(
                id=msg_id, role="assistant", name=self.name, content=[call], usage=response.usage
            )
        answer = parsed["answer"] if parsed is not None else raw
        shown = "".join(st.partial_text)
        rest = answer[len(shown) :] if answer.startswith(shown) else answer
        if rest:
            emit(TextDelta(msg_id=msg_id, delta=rest, agent=self.name))
        return Msg(
            id=msg_id, role="assistant", name=self.name, content=answer, usage=response.usage
        )

    async def _run_tools(
        self,
        st: _ReplyState,
        emit: Callable[[Any], None],
        calls: list[ToolUseBlock],
        executed: dict[str, ToolResultBlock],
    ) -> bool:
        """Execute the calls (in parallel when allowed); returns True when the loop guard
        fired and the next step must answer."""
        st.phase = "tools"
        st.calls = list(calls)
        st.results = {}
        guard_fired = False

        async def run_one(call: ToolUseBlock) -> None:
            nonlocal guard_fired
            key = f"{call.name}:{json.dumps(call.input, sort_keys=True, default=str)}"
            attrs = {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": call.name,
                "gen_ai.tool.call.id": call.id,
                "gen_ai.agent.name": self.name,
                **st.ctx_attrs,
            }
            with start_span(f"execute_tool {call.name}", attrs) as span:
                result = None
                if self.loop_guard and key in executed:
                    guard_fired = True
                    previous = executed[key]
                    result = ToolResultBlock(
                        tool_use_id=call.id,
                        name=call.name,
                        content=[
                            TextBlock(
                                text=f"You already called {call.name} with these arguments and got: "
                                f"{previous.text}\nDo not call it again; use this result to answer now."
                            )
                        ],
                        is_error=True,
                        code="repeated_tool_call",
                    )
                elif self.toolkit.needs_approval(call):
                    result = await self._await_approval(call, emit)
                if result is None:
                    result = await self._execute(call, emit)
                    executed[key] = result
                st.results[call.id] = result
                _tool_span_status(span, result)
                emit(
                    ToolResultEvent(call_id=call.id, name=call.name, result=result, agent=self.name)
                )

        if self.parallel_tool_calls and len(calls) > 1:
            await asyncio.gather(*(run_one(c) for c in calls))
        else:
            for call in calls:
                await run_one(call)
        self.memory.add(Msg(role="tool", name=self.name, content=[st.results[c.id] for c in calls]))
        st.calls = []
        st.results = {}
        return guard_fired

    async def _execute(self, call: ToolUseBlock, emit: Callable[[Any], None]) -> ToolResultBlock:
        result: ToolResultBlock | None = None
        async for item in self.toolkit.execute(call):
            if isinstance(item, ToolProgress):
                item.agent = self.name
                emit(item)
            else:
                result = item
        assert result is not None
        return result

    async def _await_approval(
        self, call: ToolUseBlock, emit: Callable[[Any], None]
    ) -> ToolResultBlock | None:
        fut: asyncio.Future[tuple[bool, str | None]] = asyncio.get_running_loop().create_future()
        self._approvals[call.id] = fut
        emit(ApprovalRequired(call_id=call.id, name=call.name, input=call.input, agent=self.name))
        try:
            approved, reason = await fut
        finally:
            self._approvals.pop(call.id, None)
        emit(ApprovalResolved(call_id=call.id, approved=approved, reason=reason, agent=self.name))
        if approved:
            return None
        return ToolResultBlock(
            tool_use_id=call.id,
            name=call.name,
            content=[
                TextBlock(text=f"The user rejected this tool call: {reason or 'no reason given'}.")
            ],
            is_error=True,
            status="rejected",
            code="tool_rejected",
        )

    async def _structured_output(
        self,
        st: _ReplyState,
        emit: Callable[[Any], None],
        assistant: Msg,
        output_model: type[BaseModel],
    ) -> Msg:
        value = _validate_json(assistant.text, output_model)
        attempts = 0
        problem = "the answer is not a JSON object matching the schema"
        while value is None and attempts < 2:
            attempts += 1
            st.iterations += 1
            history = self.memory.get()
            msgs = [
                Msg.system(self.sys_prompt),
                *(decision.render_history(history) if self.tool_mode == "decision" else history),
                Msg.user(
                    f"Give your final answer as JSON matching the {output_model.__name__} schema. "
                    + ("" if attempts == 1 else f"The previous attempt failed: {problem}.")
                ),
            ]
            st.partial_text = []
            response = await self._call_model(st, emit, msgs, {"response_format": output_model})
            try:
                value = output_model.model_validate_json(response.msg.text)
            except ValidationError as exc:
                problem = "; ".join(e["msg"] for e in exc.errors(include_url=False))[:500]
        if value is None:
            raise StructuredOutputError(
                f"the model did not produce a valid {output_model.__name__}: {problem}",
                hint="simplify the output model or use a stronger model",
            )
        data = value.model_dump(mode="json")
        final = Msg(
            role="assistant",
            name=self.name,
            content=[TextBlock(text=json.dumps(data, ensure_ascii=False)), DataBlock(data=data)],
            metadata={"structured_output": data},
        )
        self.memory.add(final)
        return final

    # -- endings ------------------------------------------------------------------------
    def _partial_assistant(self, st: _ReplyState) -> Msg | None:
        blocks: list[Any] = []
        text = "".join(st.partial_text)
        if text:
            blocks.append(TextBlock(text=text))
        blocks.extend(st.streamed_calls)
        if not blocks:
            return None
        return Msg(
            id=st.model_msg_id or new_id("msg"),
            role="assistant",
            name=self.name,
            content=blocks,
            metadata={"partial": True},
        )

    def _close_open_calls(
        self, st: _ReplyState, reason: str
    ) -> tuple[Msg | None, list[ToolResultBlock]]:
        """Keep the partial reply in memory and give every call without a result an
        interrupted result. Returns (partial assistant message, the results it added)."""
        closed: list[ToolResultBlock] = []
        partial = None
        if st.phase == "model":
            partial = self._partial_assistant(st)
            if partial is not None:
                self.memory.add(partial)
            calls, done = st.streamed_calls, {}
        else:
            calls, done = st.calls, st.results
        all_results = []
        for call in calls:
            if call.id in done:
                all_results.append(done[call.id])
            else:
                res = results.interrupted(call.id, call.name, reason)
                closed.append(res)
                all_results.append(res)
        if all_results:
            self.memory.add(Msg(role="tool", name=self.name, content=all_results))
        for fut in self._approvals.values():
            fut.cancel()
        self._approvals.clear()
        return partial, closed

    def _finish_early(
        self, st: _ReplyState, emit: Callable[[Any], None], reason: str, metadata: dict[str, Any]
    ) -> Msg:
        partial, closed = self._close_open_calls(st, reason)
        for res in closed:
            emit(
                ToolResultEvent(
                    call_id=res.tool_use_id, name=res.name or "", result=res, agent=self.name
                )
            )
        final = partial or Msg(role="assistant", name=self.name, content="")
        final.metadata.update(metadata)
        return final

    def _close_interrupted(self, st: _ReplyState, emit: Callable[[Any], None]) -> Msg:
        reason = self._interrupt_reason
        final = self._finish_early(st, emit, reason, {"interrupted": True, "reason": reason})
        emit(Interrupted(msg_id=st.reply_id, reason=reason, agent=self.name))
        return final

    def _close_failed(self, st: _ReplyState, emit: Callable[[Any], None], exc: RoostError) -> Msg:
        final = self._finish_early(
            st, emit, exc.code, {"error": {"code": exc.code, "message": exc.message}}
        )
        emit(ErrorEvent(code=exc.code, message=exc.message, recoverable=False, agent=self.name))
        return final


_CONTENT_CAP = 16_000


def _new_input_json(msgs: list[Msg]) -> str:
    """What the model sees for the first time in this call: the system prompt on the
    first call, then only the messages after its last answer (earlier turns are on
    earlier spans). Capped so a long conversation does not bloat every span."""
    start = 0
    for i in range(len(msgs) - 1, -1, -1):
        if msgs[i].role == "assistant":
            start = i + 1
            break
    new = msgs[start:] if start else msgs
    text = json.dumps(otel.genai_messages(new), ensure_ascii=False)  # semconv parts schema
    return text if len(text) <= _CONTENT_CAP else text[:_CONTENT_CAP] + "…[truncated]"


def _tool_span_status(span: Span, result: ToolResultBlock) -> None:
    if result.is_error:
        set_error(span, result.code or "tool_error")
        span.set_attribute("error.type", result.code or "tool_error")


def _validate_json(text: str, model: type[T]) -> T | None:
    raw = text.strip()
    if raw.startswith("```"):
        raw = raw.strip("`").removeprefix("json").strip()
    if not raw.startswith("{"):
        return None
    try:
        return model.model_validate_json(raw)
    except ValidationError:
        return None
