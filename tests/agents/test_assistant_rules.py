"""Which built-in tools the assistant offers for a question (roost.agents.assistant)."""

from __future__ import annotations

from pathlib import Path

import pytest

from roost.agents.assistant import RULES, tool_filter
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
