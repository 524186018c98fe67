import asyncio
import json
import time
from typing import Any

import pytest
from pydantic import BaseModel

from roost.agents import STATE_VERSION, InMemoryMemory, ReActAgent
from roost.core import (
    ApprovalNotFound,
    ApprovalRequired,
    ErrorEvent,
    Interrupted,
    ModelBadResponse,
    Msg,
    ReplyFinished,
    StateVersionError,
    TextDelta,
    ToolCallFinished,
    ToolResultEvent,
)
from roost.models import ScriptedModel, ScriptedReply
from roost.tools import Toolkit, tool

started: dict[str, float] = {}


@tool
async def weather(city: str) -> str:
    """Weather for a city."""
    started[city] = time.monotonic()
    await asyncio.sleep(0.2)
    return f"sunny in {city}"


@tool
async def slow_search(query: str) -> str:
    """A search that takes long."""
    await asyncio.sleep(30)
    return "never"


@tool(requires_approval=True)
def delete_file(path: str) -> str:
    """Delete a file."""
    return f"deleted {path}"


async def collect(agent: ReActAgent, msg: str | Msg | None) -> list:
    return [e async for e in agent.reply(msg)]


async def test_two_tools_run_in_parallel_and_the_answer_uses_both() -> None:
    model = ScriptedModel(
        [
            ScriptedModel.tool_calls(("weather", {"city": "Paris"}), ("weather", {"city": "Oslo"})),
            "Paris and Oslo are sunny.",
        ]
    )
    agent = ReActAgent("bob", model, Toolkit([weather]))
    t0 = time.monotonic()
    events = await collect(agent, "weather?")
    elapsed = time.monotonic() - t0
    results = [e for e in events if isinstance(e, ToolResultEvent)]
    assert sorted(r.result.text for r in results) == ["sunny in Oslo", "sunny in Paris"]
    assert abs(started["Paris"] - started["Oslo"]) < 0.15  # both started together
    assert elapsed < 0.39  # two 0.2 s tools did not run back to back
    final = events[-1]
    assert isinstance(final, ReplyFinished) and final.msg.text == "Paris and Oslo are sunny."
    # the second model call saw both results, paired with their calls
    sent = model.calls[1].messages
    tool_msg = sent[-1]
    call_ids = {b.id for b in sent[-2].tool_uses}
    assert {r.tool_use_id for r in tool_msg.tool_results} == call_ids
    assert final.usage is not None and final.usage.input_tokens > 0


async def test_interrupt_mid_stream_keeps_partial_text_and_agent_answers_again() -> None:
    model = ScriptedModel(
        ["This is a very long answer that will be cut off somewhere.", "Short answer."],
        chunks=20,
        chunk_delay=0.02,
    )
    agent = ReActAgent("bob", model)
    events = []
    async for event in agent.reply("talk"):
        events.append(event)
        if sum(isinstance(e, TextDelta) for e in events) == 3:
            agent.interrupt("user pressed stop")
    assert isinstance(events[-2], Interrupted) and events[-2].reason == "user pressed stop"
    final = events[-1]
    assert isinstance(final, ReplyFinished)
    assert final.msg.metadata["interrupted"] is True
    partial = "".join(e.delta for e in events if isinstance(e, TextDelta))
    assert final.msg.text == partial and 0 < len(partial) < 40
    assert [m.text for m in agent.memory.get()] == ["talk", partial]
    # asked again, it continues the same conversation
    again = await agent("and now?")
    assert again.text == "Short answer."
    assert [m.text for m in model.calls[1].messages[1:]] == ["talk", partial, "and now?"]


async def test_interrupt_closes_open_tool_calls_with_interrupted_results() -> None:
    model = ScriptedModel(
        [
            ScriptedModel.tool_calls(
                ("slow_search", {"query": "a"}), ("weather", {"city": "Rome"})
            ),
            "ok",
        ]
    )
    agent = ReActAgent("bob", model, Toolkit([slow_search, weather]))
    events = []
    async for event in agent.reply("go"):
        events.append(event)
        if isinstance(event, ToolResultEvent) and event.name == "weather":
            agent.interrupt()
    results = {e.name: e.result for e in events if isinstance(e, ToolResultEvent)}
    assert results["weather"].status == "success"
    assert results["slow_search"].status == "interrupted" and results["slow_search"].is_error
    assert isinstance(events[-2], Interrupted) and isinstance(events[-1], ReplyFinished)
    # memory pairs every call with a result, so the next model call is valid
    mem = agent.memory.get()
    assert {b.id for b in mem[1].tool_uses} == {r.tool_use_id for r in mem[2].tool_results}


async def test_cancelling_the_consuming_task_interrupts_the_reply() -> None:
    model = ScriptedModel(["a b c d e f g h"], chunks=8, chunk_delay=0.05)
    agent = ReActAgent("bob", model)
    task = asyncio.create_task(agent("hi"))
    await asyncio.sleep(0.12)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not agent.is_replying
    mem = agent.memory.get()
    assert mem[-1].metadata.get("interrupted") and mem[-1].text


async def test_state_round_trip_continues_the_conversation() -> None:
    first = ReActAgent("bob", ScriptedModel(["I will remember 42."]))
    await first("remember 42")
    state = json.loads(json.dumps(first.state_dict()))
    assert state["version"] == STATE_VERSION
    model = ScriptedModel(["You said 42."])
    second = ReActAgent("bob", model)
    second.load_state_dict(state)
    assert (await second("what did I say?")).text == "You said 42."
    assert [m.text for m in model.calls[0].messages[1:]] == [
        "remember 42",
        "I will remember 42.",
        "what did I say?",
    ]
    with pytest.raises(StateVersionError):
        second.load_state_dict({"version": 99})


async def test_approval_pauses_until_approved_or_rejected() -> None:
    model = ScriptedModel(
        [
            ScriptedModel.tool_call("delete_file", {"path": "/tmp/a"}),
            "Deleted.",
            ScriptedModel.tool_call("delete_file", {"path": "/etc"}),
            "Not deleted.",
        ]
    )
    agent = ReActAgent("bob", model, Toolkit([delete_file]))
    events = []
    async for event in agent.reply("delete /tmp/a"):
        events.append(event)
        if isinstance(event, ApprovalRequired):
            assert agent.pending_approvals == [event.call_id]
            await asyncio.sleep(0.05)  # the run is paused, nothing else happens
            agent.approve(event.call_id)
    result = next(e for e in events if isinstance(e, ToolResultEvent)).result
    assert result.text == "deleted /tmp/a"
    events = []
    async for event in agent.reply("delete /etc"):
        events.append(event)
        if isinstance(event, ApprovalRequired):
            agent.reject(event.call_id, "too dangerous")
    result = next(e for e in events if isinstance(e, ToolResultEvent)).result
    assert result.status == "rejected" and "too dangerous" in result.text
    with pytest.raises(ApprovalNotFound):
        agent.approve("call_unknown")


async def test_bad_tool_calls_go_back_to_the_model_and_the_loop_continues() -> None:
    model = ScriptedModel(
        [
            ScriptedModel.tool_call("nonexistent", {}),
            ScriptedModel.tool_call("weather", {"town": "Paris"}),
            ScriptedModel.tool_call("weather", '{"city": '),
            "Giving up politely.",
        ]
    )
    agent = ReActAgent("bob", model, Toolkit([weather]))
    events = await collect(agent, "x")
    codes = [e.result.code for e in events if isinstance(e, ToolResultEvent)]
    assert codes == ["tool_not_found", "tool_arguments_invalid", "tool_arguments_invalid"]
    assert events[-1].msg.text == "Giving up politely."
    # the model saw the readable error message
    assert "city: Field required" in model.calls[2].messages[-1].tool_results[0].text


async def test_model_stream_breaking_midway_is_a_typed_event_and_keeps_messages() -> None:
    model = ScriptedModel(
        [
            ScriptedReply(
                text="partial words here", error=ModelBadResponse("bad chunk"), error_after_chunks=2
            ),
            "recovered",
        ]
    )
    agent = ReActAgent("bob", model)
    events = await collect(agent, "hi")
    error = next(e for e in events if isinstance(e, ErrorEvent))
    assert error.code == "model_bad_response"
    final = events[-1]
    assert final.msg.metadata["error"]["code"] == "model_bad_response"
    assert final.msg.text and "partial words here".startswith(final.msg.text)
    assert [m.role for m in agent.memory.get()] == ["user", "assistant"]
    assert (await agent("again")).text == "recovered"


async def test_structured_output_validates_into_a_model() -> None:
    class Answer(BaseModel):
        city: str
        temperature: float

    model = ScriptedModel(
        ['{"city": "Paris"}', ScriptedModel.structured({"city": "Paris", "temperature": 21.5})]
    )
    agent = ReActAgent("bob", model)
    value = await agent.structured("weather?", Answer)
    assert value == Answer(city="Paris", temperature=21.5)
    assert model.calls[1].response_format is Answer


async def test_max_iters_forces_a_final_answer() -> None:
    model = ScriptedModel(
        [ScriptedModel.tool_call("weather", {"city": str(i)}) for i in range(2)] + ["final"]
    )
    agent = ReActAgent("bob", model, Toolkit([weather]), max_iters=2)
    events = await collect(agent, "loop")
    assert any(isinstance(e, ErrorEvent) and e.code == "max_iterations" for e in events)
    assert events[-1].msg.text == "final"
    assert model.calls[-1].tool_choice == "none"


async def test_decision_mode_makes_well_formed_calls_and_guards_loops() -> None:
    model = ScriptedModel(
        [
            '{"tool": "weather", "arguments": {"city": "Paris"}}',
            '{"tool": "weather", "arguments": {"city": "Paris"}}',  # the loop small models fall in
            '{"answer": "It is sunny in Paris."}',
        ],
        chunks=6,
    )
    agent = ReActAgent("bob", model, Toolkit([weather]), tool_mode="decision")
    events = await collect(agent, "weather in Paris?")
    # the repeated decision is never run (nor announced): the model is shown the result
    # it already has and may only answer
    calls = [e for e in events if isinstance(e, ToolCallFinished)]
    assert [c.input for c in calls] == [{"city": "Paris"}]
    results = [e.result for e in events if isinstance(e, ToolResultEvent)]
    assert [r.text for r in results] == ["sunny in Paris"]
    schema = model.calls[2].response_format["json_schema"]["schema"]
    assert schema["required"] == ["thought", "answer"]
    assert "already called weather" in model.calls[2].messages[-1].text
    assert {c.options.get("temperature") for c in model.calls} == {0}  # greedy decisions
    first = model.calls[0].response_format["json_schema"]["schema"]["anyOf"]
    assert first[0]["properties"]["tool"] == {"const": "weather"}
    assert first[0]["properties"]["arguments"]["properties"]["city"]["maxLength"] == 400
    assert first[0]["required"] == ["thought", "tool", "arguments"]
    assert first[-1]["properties"]["answer"]["maxLength"] == 2000
    text = "".join(e.delta for e in events if isinstance(e, TextDelta))
    assert text == "It is sunny in Paris." == events[-1].msg.text
    assert not any("{" in e.delta for e in events if isinstance(e, TextDelta))
    assert model.calls[0].tools == []  # no native tools in decision mode


async def test_memory_trimming_keeps_calls_with_results() -> None:
    memory = InMemoryMemory(max_messages=2)
    model = ScriptedModel([ScriptedModel.tool_call("weather", {"city": "A"}), "done"])
    agent = ReActAgent("bob", model, Toolkit([weather]), memory=memory)
    await agent("go")
    assert [m.role for m in memory.get()] in (["assistant"], ["tool", "assistant"][-1:])
    assert not memory.get()[0].tool_results


async def test_decision_cut_off_by_max_tokens_is_retried_with_a_note() -> None:
    model = ScriptedModel(
        [
            ScriptedReply(
                text='{"tool": "weather", "arguments": {"city": "Paris Paris Paris',
                stop_reason="length",
            ),
            '{"answer": "Sunny."}',
        ]
    )
    agent = ReActAgent("bob", model, Toolkit([weather]), tool_mode="decision")
    final = await agent("weather?")
    assert final.text == "Sunny."
    assert "cut off" in model.calls[1].messages[-1].text
    assert [m.role for m in agent.memory.get()] == ["user", "assistant"]


async def test_an_unexpected_exception_is_logged_and_the_reply_names_only_its_type(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # a server streams the reply to its client: the exception's text (a path, a query,
    # someone's data) must stay in the log
    model = ScriptedModel([RuntimeError("cannot open /srv/secrets/db.key")])
    agent = ReActAgent("bob", model)
    with caplog.at_level("ERROR", logger="roost.agents"):
        events = await collect(agent, "hi")
    error = events[-1].msg.metadata["error"]
    assert error["code"] == "internal_error"
    assert "RuntimeError" in error["message"] and "secrets" not in error["message"]
    assert "secrets" not in json.dumps([e.model_dump(mode="json") for e in events])
    assert "cannot open /srv/secrets/db.key" in caplog.text


async def test_an_interrupt_before_the_reply_task_starts_still_ends_the_reply() -> None:
    # cancelling a task before its first step skips its body: the reply would never end
    agent = ReActAgent("bob", ScriptedModel(["never said"]))
    stream = agent.reply("hi")
    agent.interrupt("superseded")  # the reply task has not run yet
    events = await asyncio.wait_for(collect_stream(stream), 5)
    assert isinstance(events[-1], ReplyFinished)
    assert any(isinstance(e, Interrupted) and e.reason == "superseded" for e in events)
    assert "never said" not in events[-1].msg.text
    assert [m.role for m in agent.memory.get()][:1] == ["user"]
    assert (await agent("again")).text == "never said"  # the agent is usable afterwards


async def collect_stream(stream: Any) -> list:
    return [e async for e in stream]
