"""The built-in assistant's rules for small models (roost.agents.assistant): the tools offered,
the tool steps a question asks for, the calls and answers it mends."""

from __future__ import annotations

from pathlib import Path

import pytest

from roost.agents._guidance import result_note
from roost.agents.assistant import (
    RULES,
    keep_parentheses,
    question_rules,
    tool_filter,
    tool_steps,
)
from roost.core import ToolUseBlock
from roost.models import ScriptedModel
from roost.models.local import LocalModel

NAMES = [
    "calculator",
    "current_time",
    "execute_python",
    "execute_shell",
    "read_file",
    "write_file",
    "list_files",
    "search_knowledge",
]
CODE = ["execute_python", "execute_shell"]
FILES = ["execute_shell", "read_file", "write_file", "list_files"]


@pytest.mark.parametrize(
    ("question", "offered"),
    [
        ("What is the capital of France? Answer with one word.", []),
        ("Hi! How are you today?", []),
        ("Use the calculator tool: what is 37*91?", ["calculator"]),
        ("Using Python, compute the sum of the integers from 1 to 1000.", CODE),
        ("What time is it now?", ["current_time"]),
        ("Write a file notes.txt containing 'hi', then read it back.", FILES),
        ("用计算器算一下 23 乘以 47 等于多少？", ["calculator"]),
        ("用 Python 计算 1 到 100 的和。", CODE),
        ("法国的首都是哪里？", []),
        ("今天是几号？", ["current_time"]),
    ],
)
def test_the_tools_offered_fit_the_question(
    question: str, offered: list[str], tmp_path: Path
) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF\x03\x00\x00\x00")  # never started: only its tool mode counts
    select = tool_filter(LocalModel(path=gguf))
    assert select is not None
    # tools without a rule (knowledge search, memory, the app's own) are always offered
    assert list(select(question, NAMES)) == [*offered, "search_knowledge"]


def test_models_with_native_tool_calls_get_every_tool() -> None:
    assert tool_filter(ScriptedModel([])) is None
    assert set(RULES) < set(NAMES)


@pytest.mark.parametrize(
    ("question", "steps"),
    [
        ("Use the calculator tool: what is 37*91?", 1),
        ("Calculator please: (17 + 8) * 12", 1),
        ("Using Python, compute the sum of the integers from 1 to 1000.", 1),
        ("Run it with the shell and tell me the output.", 1),
        ("Save the text 'alpha beta' to words.txt.", 1),
        ("Write a file named notes.txt containing 'hi'.", 1),
        ("用计算器算一下 23 乘以 47 等于多少？", 1),
        ("用 Python 计算 1 到 100 的和。", 1),
        # one call per file or shell operation a question chains
        ("Write 'x' to a.txt, then read a.txt back.", 2),
        ("Write the number 21 to n.txt, read it back, and double it.", 2),
        ("Create hello.py that prints hi, then run it with the shell.", 2),
        ("把“你好”写入文件 hello.txt，然后读取它。", 2),
        # chained arithmetic is one calculator call or one program
        ("Use the calculator to compute 12*12, then add 56 to the result.", 1),
        # questions about a tool or about code are not requests to run one
        ("What is a list in Python?", 0),
        ("What can I do with Python?", 0),
        ("Write a Python function that adds two numbers.", 0),
        ("在 Python 中，列表和元组有什么区别？", 0),
        ("What is 7 times 8?", 0),
        ("What is the capital of France?", 0),
        ("请用一句话介绍一下你自己。", 0),
    ],
)
def test_the_tool_calls_a_question_asks_for_are_counted(question: str, steps: int) -> None:
    assert tool_steps(question) == steps


def test_question_rules_apply_to_decision_models_only(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF\x03\x00\x00\x00")
    assert question_rules(LocalModel(path=gguf)) == {
        "tool_steps": tool_steps,
        "repair_call": keep_parentheses,
    }
    assert question_rules(ScriptedModel([])) == {"tool_steps": None, "repair_call": None}


@pytest.mark.parametrize(
    ("question", "called", "run"),
    [
        ("Calculator please: (17 + 8) * 12", "17 + 8 * 12", "(17 + 8) * 12"),
        ("Work out (120 - 45) / 3.", "120 - 45 / 3", "(120 - 45) / 3"),
        ("(1+2)*(3+4)?", "1 + 2 * 3 + 4", "(1+2)*(3+4)"),
        # anything but lost parentheses is the model's own call
        ("What is (2+3)*4?", "2 + 3 * 5", "2 + 3 * 5"),
        ("What is (2+3)*4?", "(2 + 3) * 4", "(2 + 3) * 4"),
        ("Use the calculator: 48*76", "48 * 76", "48 * 76"),
    ],
)
def test_the_calculator_gets_back_the_parentheses_the_model_dropped(
    question: str, called: str, run: str
) -> None:
    call = ToolUseBlock(id="c", name="calculator", input={"expression": called})
    assert keep_parentheses(question, call).input == {"expression": run}
    other = ToolUseBlock(id="c", name="execute_python", input={"code": called})
    assert keep_parentheses(question, other) is other


def test_no_number_is_added_when_the_question_restricts_the_answer() -> None:
    call = ("calculator", {"expression": "18 * 5"}, "90")
    assert result_note("No", *call, "Is 18 * 5 over 100? Answer yes or no only.") == ""
    assert result_note("不是", *call, "18 乘 5 大于 100 吗？只回答是或不是。") == ""
    assert result_note("No", *call, "Is 18 * 5 over 100?") == " (18 * 5 = 90)"


@pytest.mark.parametrize(
    ("answer", "tool", "args", "result", "note"),
    [
        ("No", "calculator", {"expression": "18 * 5"}, "90", " (18 * 5 = 90)"),
        ("495", "calculator", {"expression": "45 * 22"}, "990", " (45 * 22 = 990)"),
        ("990 is even.", "calculator", {"expression": "45 * 22"}, "990", ""),
        ("It is 3,648.", "calculator", {"expression": "48 * 76"}, "3648", ""),
        # only the calculator's: its note is an equation, true whatever the answer did with
        # the number ("42" after reading 21 and doubling it gets no "(result: 21)")
        ("42", "read_file", {"path": "n.txt"}, "21", ""),
        ("一百万", "execute_python", {"code": "print(2**20)"}, "stdout:\n1048576\n", ""),
        ("Done.", "calculator", {"expression": "1 < 2"}, "True", ""),
    ],
)
def test_the_number_the_calculator_returned_is_added_to_an_answer_without_it(
    answer: str, tool: str, args: dict[str, object], result: str, note: str
) -> None:
    assert result_note(answer, tool, args, result) == note
