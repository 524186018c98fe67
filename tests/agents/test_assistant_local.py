"""The built-in assistant's loop on the real local model (the suite's small 0.5B): one
calculator question end to end. Slow (a real llama.cpp server); the logic is covered
with ScriptedModel in test_small_models.py, task success by ``bench.agent_tasks``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roost.core import ReplyFinished, ToolCallFinished, ToolResultEvent

pytestmark = pytest.mark.slow


async def test_the_assistant_calls_the_calculator_once_and_answers_with_the_result(
    shared_model_home: Path,
) -> None:
    from roost.agents import ReActAgent
    from roost.agents.assistant import MAX_ITERS, SYSTEM_PROMPT, tool_filter
    from roost.models.install import install_model
    from roost.models.local import LocalModel, _stop_all
    from roost.tools import Toolkit
    from roost.tools.builtin import builtin_tools

    path = install_model("qwen2.5-coder-0.5b", home=shared_model_home, show_progress=False)
    model = LocalModel(path=path)
    agent = ReActAgent(
        "assistant",
        model,
        Toolkit(builtin_tools()),
        sys_prompt=SYSTEM_PROMPT,
        max_iters=MAX_ITERS,
        tool_filter=tool_filter(model),
    )
    try:
        events = [e async for e in agent.reply("Use the calculator tool: what is 48*76?")]
    finally:
        _stop_all()
    calls = [
        (e.name, json.dumps(e.input, sort_keys=True))
        for e in events
        if isinstance(e, ToolCallFinished)
    ]
    results = [e.result for e in events if isinstance(e, ToolResultEvent)]
    final = events[-1]
    assert isinstance(final, ReplyFinished)
    # the clock is not offered for arithmetic, and no identical call is made twice
    assert calls and {name for name, _ in calls} == {"calculator"}, calls
    assert len(calls) == len(set(calls)), calls
    assert any("3648" in r.text and not r.is_error for r in results), results
    assert "3648" in final.msg.text.replace(",", ""), final.msg.text
