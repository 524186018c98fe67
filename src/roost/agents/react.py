"""``ReActAgent``: reason → call tools → observe → answer, streaming every step.

The reply runs in its own task that feeds a queue; ``reply()`` yields from the queue.
That is what makes ``interrupt()`` immediate and clean: cancelling the task lands in one
place that closes open tool calls with "interrupted" results, keeps the partial text in
memory and still ends the stream with ``Interrupted`` + ``ReplyFinished``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel

from roost.agents import _decision as decision
from roost.agents import _tracing as otel
from roost.agents import client_tools
from roost.agents._endings import Endings
from roost.agents._guidance import (
    CallRepair,
    QuestionCount,
    ToolFilter,
    answer_pattern,
    language_ask,
    language_note,
    latest_user_text,
    result_note,
)
from roost.agents._state import ReplyState, as_msgs, call_key, must_call
from roost.agents._structured import StructuredOutput
from roost.agents._tool_calls import ToolCalls
from roost.agents._tracing import capture_content, context_attributes, set_error, start_span
from roost.agents.memory import InMemoryMemory, Memory
from roost.core import (
    Conflict,
    ErrorEvent,
    Event,
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
    ToolSpec,
    ToolUseBlock,
    UsageEvent,
    jsontext,
    new_id,
)
from roost.models.base import ChatModel
from roost.tools import Toolkit

if TYPE_CHECKING:
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


class ReActAgent(ToolCalls, StructuredOutput, Endings):
    """A tool-using agent.

    ``tool_mode="native"`` uses the provider's tool calls; ``"decision"`` asks for a
    JSON-schema-constrained decision each step (for small local models), decoded
    greedily (temperature 0) unless ``model_options`` say otherwise. ``None`` picks the
    model's ``preferred_tool_mode`` or native.

    ``tool_filter`` chooses, from the latest question, which tools a reply is offered
    (tools already used in the conversation stay offered); see
    ``roost.agents.keyword_filter``. ``tool_steps`` counts the tool calls a question
    asks for ("use the calculator" 1, "write a.txt, then read it back" 2): until that
    many have succeeded the model must call a tool instead of answering from memory or
    with code (decision 0152). ``repair_call`` mends a decision-mode call before it is
    announced and run (the built-in assistant restores the parentheses a small model
    drops when it copies the user's arithmetic).
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
        tool_filter: ToolFilter | None = None,
        tool_steps: QuestionCount | None = None,
        repair_call: CallRepair | None = None,
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
        self.tool_filter = tool_filter
        self.tool_steps = tool_steps
        self.repair_call = repair_call
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
        incoming = as_msgs(msg)
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

    async def observe(self, msg: Msg | Sequence[Msg]) -> None:
        self.memory.add(as_msgs(msg))

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
        st = ReplyState(reply_id=new_id("reply"), ctx_attrs=context_attributes())
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
        st: ReplyState,
        emit: Callable[[Any], None],
        output_model: type[BaseModel] | None,
    ) -> Msg:
        specs = self._offered_specs()
        question = latest_user_text(self.memory.get())
        st.guidance = language_note(question)
        st.answer_pattern = answer_pattern(question)
        if specs and self.tool_steps is not None:
            st.tool_steps = self.tool_steps(question)
        force_answer = False
        for _ in range(self.max_iters):
            st.iterations += 1
            assistant = await self._step(st, emit, specs, force_answer)
            calls = assistant.tool_uses
            if not calls:
                if output_model is not None:
                    return await self._structured_output(st, emit, assistant, output_model)
                return self._with_answer(st, emit, assistant)
            handoff = client_tools.client_calls(self.toolkit, calls)
            if handoff:  # the client runs these: the reply ends with them open (0230)
                own = [c for c in calls if c not in handoff]
                if own:
                    await self._run_tools(st, emit, own)
                return client_tools.handed_off(assistant, handoff)
            force_answer = await self._run_tools(st, emit, calls)
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
        return self._with_answer(st, emit, assistant, cut_off=True)

    def _offered_specs(self) -> list[ToolSpec]:
        """The tools this reply offers: all, or those the ``tool_filter`` picks for the
        latest question plus those already used in the conversation."""
        specs = self.toolkit.specs()
        if self.tool_filter is None or not specs:
            return specs
        history = self.memory.get()
        used = {call.name for msg in history for call in msg.tool_uses}
        picked = set(self.tool_filter(latest_user_text(history), [s.name for s in specs]))
        return [s for s in specs if s.name in picked or s.name in used]

    def _with_answer(
        self, st: ReplyState, emit: Callable[[Any], None], assistant: Msg, *, cut_off: bool = False
    ) -> Msg:
        """The final message, never empty: a model that produced no text (it looped, or
        was cut off) gets a final answer saying so, with the last tool result it had. In
        decision mode an answer that leaves out the number its last calculator call
        returned gets it added (``result_note``)."""
        if assistant.text.strip():
            if self.tool_mode == "decision" and not cut_off and st.last_success is not None:
                call, result = st.last_success
                question = latest_user_text(self.memory.get())
                note = result_note(assistant.text, call.name, call.input, result.text, question)
                if note:
                    emit(TextDelta(msg_id=assistant.id, delta=note, agent=self.name))
                    assistant.content = [*assistant.content, TextBlock(text=note)]
            return assistant
        last = next(reversed(st.executed.values()), None)
        why = (
            f"I stopped after {self.max_iters} steps without reaching an answer"
            if cut_off
            else "The model returned an empty answer"
        )
        text = why + (f". The last tool result was: {last.text[:500]}" if last else ".")
        emit(TextDelta(msg_id=assistant.id, delta=text, agent=self.name))
        assistant.content = [*assistant.content, TextBlock(text=text)]
        assistant.metadata["incomplete"] = True
        return assistant

    async def _step(
        self,
        st: ReplyState,
        emit: Callable[[Any], None],
        specs: list[ToolSpec],
        force_answer: bool,
    ) -> Msg:
        """One model call; returns the assistant message, already added to memory."""
        st.phase = "model"
        st.partial_text = []
        st.streamed_calls = []
        history = self.memory.get()
        if self.tool_mode == "decision":
            # retrieved passages last, next to the conversation (small models lose them
            # behind the tool descriptions)
            prompt = (
                f"{self.sys_prompt}\n\n{decision.decision_prompt(specs)}{st.guidance}{st.context}"
            )
            question = latest_user_text(history)
            if must_call(st) and not force_answer:
                hints = {
                    "result_hint": decision.STEP_LEFT_HINT.format(question=question[:500]),
                    "error_hint": decision.RETRY_HINT.format(question=question[:500]),
                }
            else:
                hints = {}
            rendered = decision.render_history(history, **hints)
            msgs = [Msg.system(prompt), *rendered]
            ask = language_ask(question)
            if ask:
                _append_to_last_question(msgs, ask)
            kwargs: dict[str, Any] = {
                "response_format": self._decision_schema(st, specs, not force_answer)
            }
            if "temperature" not in self.model_options:
                kwargs["temperature"] = 0  # tool decisions are not the place for sampling
            response = await self._call_model(st, emit, msgs, kwargs)
            assistant = await self._decide(st, emit, msgs, kwargs, response, specs)
        else:
            msgs = [Msg.system(self.sys_prompt + st.guidance + st.context), *history]
            kwargs = {}
            if specs:
                kwargs["tools"] = specs
                choice = "none" if force_answer else self.tool_choice
                if not force_answer and must_call(st):
                    choice = "required"
                if choice:
                    kwargs["tool_choice"] = choice
            response = await self._call_model(st, emit, msgs, kwargs)
            assistant = response.msg
            assistant.name = self.name
        self.memory.add(assistant)
        st.partial_text = []
        st.streamed_calls = []
        return assistant

    @staticmethod
    def _decision_schema(st: ReplyState, specs: list[ToolSpec], tools: bool) -> dict[str, Any]:
        """One step's response format: tools unless the step must answer; an answer
        unless the question still needs a tool step (``must_call``)."""
        allow_tools = bool(specs) and tools
        return decision.decision_schema(
            specs,
            allow_tools=allow_tools,
            allow_answer=not (allow_tools and must_call(st)),
            answer_pattern=st.answer_pattern,
        )

    async def _decide(
        self,
        st: ReplyState,
        emit: Callable[[Any], None],
        msgs: list[Msg],
        kwargs: dict[str, Any],
        response: ModelResponse,
        specs: list[ToolSpec],
    ) -> Msg:
        """Turn a decision-mode response into a message. A reply cut off mid-JSON is
        retried with a note; a call that repeats one already made in this reply is not
        run: the model is shown the result it has and must answer (so no identical call
        is ever made twice) — or, once, when the question still needs a tool step, is
        sent to that step."""
        retries = 0
        redirected = False
        while True:
            parsed = decision.parse_decision(response.msg.text)
            note: str | None = None
            if parsed is None and retries < 2 and response.stop_reason in ("length", "max_tokens"):
                note = decision.TRUNCATED_NOTE
            elif parsed is not None and "tool" in parsed and self.loop_guard:
                key = call_key(ToolUseBlock(id="", name=parsed["tool"], input=parsed["arguments"]))
                previous = st.executed.get(key)
                if previous is not None:
                    redirect = must_call(st) and not redirected
                    redirected = True
                    question = latest_user_text(self.memory.get())[:500]
                    note = decision.repeat_note(
                        parsed["tool"], previous.text, missing=question if redirect else None
                    )
                    kwargs = {
                        **kwargs,
                        "response_format": self._decision_schema(st, specs, redirect),
                    }
            if note is None:
                return self._decision_message(st, emit, response, parsed)
            retries += 1
            st.iterations += 1
            st.partial_text = []
            extra = [Msg.assistant(response.msg.text), Msg.user(note)]
            response = await self._call_model(st, emit, [*msgs, *extra], kwargs)

    async def _call_model(
        self,
        st: ReplyState,
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
        # the call itself, for whoever records what the model was asked (the audit trail)
        sent = jsontext.encode([m.model_dump(mode="json", exclude_none=True) for m in msgs])
        response.prompt_digest = "sha256:" + hashlib.sha256(sent.encode()).hexdigest()
        emit(response)
        return response

    def _decision_message(
        self,
        st: ReplyState,
        emit: Callable[[Any], None],
        response: ModelResponse,
        parsed: dict[str, Any] | None,
    ) -> Msg:
        """The decision as a message: a tool call, or the answer (the raw text when the
        model did not produce a valid decision)."""
        raw = response.msg.text
        msg_id = response.msg.id
        if parsed is not None and "tool" in parsed:
            call = ToolUseBlock(id=new_id("call"), name=parsed["tool"], input=parsed["arguments"])
            if self.repair_call is not None:
                call = self.repair_call(latest_user_text(self.memory.get()), call)
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


def _append_to_last_question(msgs: list[Msg], text: str) -> None:
    """Add ``text`` to the last plain user message of a rendered history (a copy: the
    agent's memory keeps what the user wrote)."""
    for i in range(len(msgs) - 1, -1, -1):
        msg = msgs[i]
        if msg.role == "user" and not msg.tool_results and msg.text:
            msgs[i] = msg.model_copy(update={"content": [*msg.content, TextBlock(text=text)]})
            return


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
