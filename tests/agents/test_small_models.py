"""What makes the loop work for small local models (decision mode): the tools offered per
question, the answer language, tool errors the model can act on, and a clear final
answer when the model loops or says nothing."""

from __future__ import annotations

import re
from typing import Any

from roost.agents import ReActAgent, keyword_filter
from roost.agents._decision import ERROR_HINT, RESULT_HINT, RETRY_HINT
from roost.core import (
    ErrorEvent,
    ReplyFinished,
    TextDelta,
    ToolCallFinished,
    ToolResultEvent,
    ToolUseBlock,
)
from roost.models import ScriptedModel
from roost.tools import Toolkit, tool


@tool
def calculator(expression: str) -> str:
    """Arithmetic."""
    if "/ 0" in expression:
        raise ValueError("division by zero")
    return "3648" if expression == "48 * 76" else "?"


@tool
def current_time() -> str:
    """The current time."""
    return "2026-12-07T03:00:00Z"


FILTER = keyword_filter({"current_time": r"\b(time|date|today)\b|时间|日期", "calculator": r"\d"})


def _offered(call: Any) -> list[str]:
    schema = call.response_format["json_schema"]["schema"]
    return [
        b["properties"]["tool"]["const"]
        for b in schema.get("anyOf", [])
        if "tool" in b["properties"]
    ]


async def _run(agent: ReActAgent, text: str) -> list[Any]:
    return [e async for e in agent.reply(text)]


async def test_only_the_tools_the_question_needs_are_offered() -> None:
    model = ScriptedModel(
        [
            '{"thought": "geography", "answer": "Paris"}',
            '{"thought": "arithmetic", "tool": "calculator", "arguments": {"expression": "48 * 76"}}',
            '{"thought": "done", "answer": "3648"}',
            '{"thought": "recall", "answer": "still 3648"}',
        ]
    )
    agent = ReActAgent(
        "a", model, Toolkit([calculator, current_time]), tool_mode="decision", tool_filter=FILTER
    )
    await agent("What is the capital of France?")
    # no tool fits: the schema allows an answer only and the prompt lists no tools
    assert model.calls[0].response_format["json_schema"]["schema"]["required"] == [
        "thought",
        "answer",
    ]
    assert "Tools:" not in model.calls[0].messages[0].text
    final = await agent("What is 48 * 76?")
    assert final.text == "3648"
    assert _offered(model.calls[1]) == ["calculator"]
    # the result comes back with what to do with it
    assert model.calls[2].messages[-1].text.endswith(RESULT_HINT)
    # a tool used earlier in the conversation stays offered for follow-ups
    await agent("And what was that again?")
    assert _offered(model.calls[3]) == ["calculator"]


async def test_a_question_in_chinese_is_answered_in_chinese() -> None:
    model = ScriptedModel(['{"thought": "地理", "answer": "巴黎"}', "Paris"])
    agent = ReActAgent("a", model, Toolkit([calculator]), tool_mode="decision")
    assert (await agent("法国的首都是哪里？")).text == "巴黎"
    assert "write your answer as a short sentence in Chinese" in model.calls[0].messages[0].text
    # and asked again in Chinese next to the question; the memory keeps the user's words
    assert model.calls[0].messages[-1].text == "法国的首都是哪里？（请用中文回答。）"
    assert agent.memory.get()[0].text == "法国的首都是哪里？"
    native = ReActAgent("b", model)
    await native("Hello")
    assert "Chinese" not in model.calls[1].messages[0].text


async def test_a_tool_error_reaches_the_model_as_an_error_to_fix() -> None:
    model = ScriptedModel(
        [
            '{"thought": "t", "tool": "calculator", "arguments": {"expression": "1 / 0"}}',
            '{"thought": "t", "answer": "1 / 0 is undefined"}',
        ]
    )
    agent = ReActAgent("a", model, Toolkit([calculator]), tool_mode="decision")
    events = await _run(agent, "What is 1 / 0?")
    result = next(e.result for e in events if isinstance(e, ToolResultEvent))
    assert result.is_error
    last = model.calls[1].messages[-1].text
    assert last.startswith("Tool calculator error:") and last.endswith(ERROR_HINT)


async def test_a_model_that_keeps_calling_tools_is_cut_off_with_a_clear_answer() -> None:
    model = ScriptedModel(
        [
            f'{{"thought": "t", "tool": "calculator", "arguments": {{"expression": "{i}"}}}}'
            for i in range(3)
        ]
        + ['{"thought": "t", "answer": ""}']
    )
    agent = ReActAgent("a", model, Toolkit([calculator]), tool_mode="decision", max_iters=3)
    events = await _run(agent, "Loop")
    assert sum(isinstance(e, ToolCallFinished) for e in events) == 3
    assert any(isinstance(e, ErrorEvent) and e.code == "max_iterations" for e in events)
    final = events[-1]
    assert isinstance(final, ReplyFinished)
    assert final.msg.text.startswith("I stopped after 3 steps without reaching an answer")
    assert "The last tool result was: ?" in final.msg.text
    assert final.msg.metadata["incomplete"] is True


async def test_decoding_options_of_the_caller_win() -> None:
    model = ScriptedModel(['{"thought": "t", "answer": "hi"}'])
    agent = ReActAgent("a", model, tool_mode="decision", model_options={"temperature": 0.7})
    await agent("hi")
    assert model.calls[0].options["temperature"] == 0.7


def _branches(call: Any) -> list[dict[str, Any]]:
    schema = call.response_format["json_schema"]["schema"]
    return list(schema.get("anyOf", [schema]))


async def test_a_question_that_asks_for_a_tool_gets_a_tool_call_first() -> None:
    model = ScriptedModel(
        [
            '{"thought": "t", "tool": "calculator", "arguments": {"expression": "48 * 76"}}',
            '{"thought": "t", "answer": "3648"}',
        ]
    )
    agent = ReActAgent(
        "a",
        model,
        Toolkit([calculator]),
        tool_mode="decision",
        tool_steps=lambda q: int("calculator" in q),
    )
    assert (await agent("Use the calculator: 48 * 76")).text == "3648"
    # first step: no answer branch at all (the grammar makes the model call a tool)...
    assert ["answer" in b["properties"] for b in _branches(model.calls[0])] == [False]
    # ...once a tool has run, the model may answer, and is told so
    assert any("answer" in b["properties"] for b in _branches(model.calls[1]))
    assert model.calls[1].messages[-1].text.endswith(RESULT_HINT)


async def test_a_question_without_a_tool_request_may_answer_at_once() -> None:
    model = ScriptedModel(['{"thought": "t", "answer": "Paris"}'])
    agent = ReActAgent(
        "a", model, Toolkit([calculator]), tool_mode="decision", tool_steps=lambda q: 0
    )
    assert (await agent("What is the capital of France?")).text == "Paris"
    assert any("answer" in b["properties"] for b in _branches(model.calls[0]))


async def test_a_failed_call_does_not_count_as_a_step_but_retries_are_bounded() -> None:
    bad = '{"thought": "t", "tool": "calculator", "arguments": {"expression": "1 / 0"}}'
    model = ScriptedModel(
        [
            bad,
            bad.replace("1 / 0", "2 / 0"),
            bad.replace("1 / 0", "3 / 0"),
            '{"thought": "t", "answer": "cannot divide by zero"}',
        ]
    )
    agent = ReActAgent(
        "a", model, Toolkit([calculator]), tool_mode="decision", tool_steps=lambda q: 1
    )
    final = await agent("Use the calculator: 1 / 0")
    # after an error the model must try again (told to correct the call, no answer
    # branch); after the step count plus two attempts it may explain instead
    assert [any("answer" in b["properties"] for b in _branches(c)) for c in model.calls] == [
        False,
        False,
        False,
        True,
    ]
    retry = RETRY_HINT.format(question="Use the calculator: 1 / 0")
    assert model.calls[1].messages[-1].text.endswith(retry)
    assert model.calls[3].messages[-1].text.endswith(ERROR_HINT)
    assert final.text == "cannot divide by zero"


def _two_step_agent(model: ScriptedModel) -> ReActAgent:
    """An agent whose every question asks for two tool calls."""
    return ReActAgent(
        "a",
        model,
        Toolkit([calculator, current_time]),
        tool_mode="decision",
        tool_steps=lambda q: 2,
    )


async def test_a_question_of_two_file_steps_needs_two_calls() -> None:
    model = ScriptedModel(
        [
            '{"thought": "t", "tool": "calculator", "arguments": {"expression": "48 * 76"}}',
            '{"thought": "t", "tool": "current_time", "arguments": {}}',
            '{"thought": "t", "answer": "3648 at 03:00"}',
        ]
    )
    question = "Compute 48 * 76, then tell me the time."
    agent = _two_step_agent(model)
    assert (await agent(question)).text == "3648 at 03:00"
    # after the first result: the question is recalled and only a tool call is allowed
    last = model.calls[1].messages[-1].text
    assert last.startswith("Tool calculator result: 3648") and question in last
    assert not any("answer" in b["properties"] for b in _branches(model.calls[1]))
    assert model.calls[2].messages[-1].text.endswith(RESULT_HINT)


async def test_a_repeated_call_on_a_question_with_a_step_left_is_sent_to_that_step() -> None:
    calc = '{"thought": "t", "tool": "calculator", "arguments": {"expression": "48 * 76"}}'
    model = ScriptedModel(
        [
            calc,
            calc,  # repeated: not run; told the question still has a step
            '{"thought": "t", "tool": "current_time", "arguments": {}}',
            '{"thought": "t", "answer": "3648 at 03:00"}',
        ]
    )
    agent = _two_step_agent(model)
    events = await _run(agent, "Compute 48 * 76, then tell me the time.")
    assert [e.name for e in events if isinstance(e, ToolCallFinished)] == [
        "calculator",
        "current_time",
    ]
    note = model.calls[2].messages[-1].text
    assert note.startswith("You already called calculator") and "not done yet" in note
    assert not any("answer" in b["properties"] for b in _branches(model.calls[2]))
    assert events[-1].msg.text == "3648 at 03:00"


async def test_the_answer_to_a_chinese_question_must_start_in_chinese() -> None:
    model = ScriptedModel(['{"thought": "t", "answer": "一年有12个月。"}'])
    agent = ReActAgent("a", model, Toolkit([calculator]), tool_mode="decision")
    assert (await agent("一年有几个月？")).text == "一年有12个月。"
    answer = next(b for b in _branches(model.calls[0]) if "answer" in b["properties"])
    pattern = re.compile(answer["properties"]["answer"]["pattern"])
    assert pattern.match("一年有12个月。") and not pattern.match("12")
    # the pattern admits any JSON string body after the first character, never a bare quote
    assert pattern.match('一 "quoted" \\n'.replace('"', '\\"')) and not pattern.match('一"')
    # an English question's answer is free
    model = ScriptedModel(['{"thought": "t", "answer": "12"}'])
    agent = ReActAgent("a", model, Toolkit([calculator]), tool_mode="decision")
    await agent("How many months are in a year?")
    answer = next(b for b in _branches(model.calls[0]) if "answer" in b["properties"])
    assert "pattern" not in answer["properties"]["answer"]


async def test_a_repaired_call_is_the_one_announced_and_run() -> None:
    model = ScriptedModel(
        [
            '{"thought": "t", "tool": "calculator", "arguments": {"expression": "48*76"}}',
            '{"thought": "t", "answer": "3648"}',
        ]
    )

    def spaced(question: str, call: ToolUseBlock) -> ToolUseBlock:
        assert question == "48*76?"
        return call.model_copy(update={"input": {"expression": "48 * 76"}})

    agent = ReActAgent("a", model, Toolkit([calculator]), tool_mode="decision", repair_call=spaced)
    events = await _run(agent, "48*76?")
    announced = [e.input for e in events if isinstance(e, ToolCallFinished)]
    assert announced == [{"expression": "48 * 76"}]
    result = next(e.result for e in events if isinstance(e, ToolResultEvent))
    assert result.text == "3648"  # the stub answers "?" to anything but "48 * 76"


async def test_an_answer_that_drops_the_computed_number_gets_it_back() -> None:
    call = '{"thought": "t", "tool": "calculator", "arguments": {"expression": "48 * 76"}}'
    model = ScriptedModel(
        [call, '{"thought": "t", "answer": "No"}', call, '{"thought": "t", "answer": "3,648"}']
    )
    agent = ReActAgent("a", model, Toolkit([calculator]), tool_mode="decision")
    events = await _run(agent, "Is 48 * 76 above 5000?")
    final = events[-1].msg
    assert final.text == "No (48 * 76 = 3648)"
    # streamed too, so a client that shows the deltas shows the same answer
    streamed = "".join(e.delta for e in events if isinstance(e, TextDelta))
    assert streamed == final.text
    # an answer that has the number (in any digit grouping) is left alone
    assert (await agent("And 48 * 76 itself?")).text == "3,648"
