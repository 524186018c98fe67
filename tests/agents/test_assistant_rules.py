"""Which built-in tools the assistant offers for a question (roost.agents.assistant)."""

from __future__ import annotations

from pathlib import Path

import pytest

from roost.agents.assistant import RULES, chained, question_rules, tool_asked, tool_filter
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
    ("question", "required"),
    [
        ("Use the calculator tool: what is 37*91?", True),
        ("Calculator please: (17 + 8) * 12", True),
        ("Using Python, compute the sum of the integers from 1 to 1000.", True),
        ("Run it with the shell and tell me the output.", True),
        ("Save the text 'alpha beta' to words.txt.", True),
        ("Write a file named notes.txt containing 'hi'.", True),
        ("用计算器算一下 23 乘以 47 等于多少？", True),
        ("用 Python 计算 1 到 100 的和。", True),
        ("把“你好”写入文件 hello.txt。", True),
        # questions about a tool or about code are not requests to run one
        ("What is a list in Python?", False),
        ("What can I do with Python?", False),
        ("Write a Python function that adds two numbers.", False),
        ("在 Python 中，列表和元组有什么区别？", False),
        ("What is 7 times 8?", False),
        ("What is the capital of France?", False),
        ("请用一句话介绍一下你自己。", False),
    ],
)
def test_a_question_that_names_a_tool_must_call_one(question: str, required: bool) -> None:
    assert tool_asked(question) is required


@pytest.mark.parametrize(
    ("question", "steps"),
    [
        ("Write 'x' to a.txt, then read a.txt back.", True),
        ("Write the number 21 to n.txt, read it back, and double it.", True),
        ("先算 12 乘以 12，然后加上 56。", True),
        ("What is the next prime after 7?", False),
        ("Use the calculator: what is 48*76?", False),
    ],
)
def test_questions_that_chain_steps_are_recognised(question: str, steps: bool) -> None:
    assert chained(question) is steps


def test_question_rules_apply_to_decision_models_only(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF\x03\x00\x00\x00")
    assert question_rules(LocalModel(path=gguf)) == {
        "tool_required": tool_asked,
        "multi_step": chained,
    }
    assert question_rules(ScriptedModel([])) == {"tool_required": None, "multi_step": None}
