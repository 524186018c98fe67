"""LocalModel against the real llama.cpp server (xllamacpp) and the real 0.5B model.

The model is cached in ``ROOST_TEST_MODEL_HOME`` (default ``~/.roost``; ``.ci/run``
installs it), so only the first run on a machine downloads it. One server process is
shared by all tests here, as it is shared by all agents of a real process.
"""

from __future__ import annotations

import ast
import operator
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from roost.core import (
    ConfigError,
    ModelNotInstalled,
    ModelResponse,
    ModelUnavailable,
    Msg,
    ReplyFinished,
    TextDelta,
    ToolResultEvent,
)
from roost.models.catalogue import UnknownModel
from roost.models.local import LocalModel, _stop_all

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France? Answer with one word."


@pytest.fixture(scope="module")
def model_path() -> Iterator[Path]:
    from roost.models.install import install_model

    home = Path(os.environ.get("ROOST_TEST_MODEL_HOME", str(Path.home() / ".roost")))
    path = install_model("qwen2.5-coder-0.5b", home=home, show_progress=False)
    yield path
    _stop_all()


def _wait_dead(model: LocalModel, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if model.server.dead():
            return
        time.sleep(0.05)
    raise AssertionError("server process did not exit")


async def test_plain_answer(model_path: Path) -> None:
    model = LocalModel(path=model_path)
    response = await model.complete([Msg.user(QUESTION)], temperature=0, max_tokens=16)

    assert "paris" in response.msg.text.lower()
    assert response.usage.output_tokens > 0
    assert model.server.running()
    assert model.provider == "local"
    assert model.model_name == "qwen2.5-coder-0.5b"


async def test_streaming_yields_deltas_then_one_response(model_path: Path) -> None:
    model = LocalModel(path=model_path)
    events = [
        event
        async for event in model.stream(
            [Msg.user("Write the numbers one to five in words, comma separated.")],
            temperature=0,
            max_tokens=40,
        )
    ]

    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) >= 3
    assert isinstance(events[-1], ModelResponse)
    assert sum(isinstance(e, ModelResponse) for e in events) == 1
    final = events[-1]
    assert "".join(d.delta for d in deltas) == final.msg.text
    assert "three" in final.msg.text.lower()


async def test_instances_share_one_server_and_it_is_protected(model_path: Path) -> None:
    import httpx

    first, second = LocalModel(path=model_path), LocalModel(path=model_path)
    await first.start()
    await second.start()
    assert first.server is second.server
    server = first.server
    assert server.base_url is not None and server.base_url.startswith("http://127.0.0.1:")

    async with httpx.AsyncClient() as client:
        anonymous = await client.get(f"{server.base_url}/v1/models")
        keyed = await client.get(
            f"{server.base_url}/v1/models",
            headers={"Authorization": f"Bearer {server.api_key}"},
        )
    assert anonymous.status_code == 401
    assert keyed.status_code == 200

    # Other parameters are another server.
    other = LocalModel(path=model_path, n_ctx=1024)
    assert other.server is not first.server


async def test_concurrent_first_use_starts_one_server_serving_both(model_path: Path) -> None:
    import asyncio

    # Own parameters, so this server is fresh: both calls race to start it.
    first = LocalModel(path=model_path, n_ctx=2048, n_parallel=2)
    second = LocalModel(path=model_path, n_ctx=2048, n_parallel=2)
    assert not first.server.running()
    answers = await asyncio.gather(
        first.complete([Msg.user(QUESTION)], temperature=0, max_tokens=16),
        second.complete([Msg.user(QUESTION)], temperature=0, max_tokens=16),
    )
    assert first.server is second.server and first.server.generation == 1
    assert "paris" in answers[0].msg.text.lower()
    assert "paris" in answers[1].msg.text.lower()
    first.server.stop()


async def test_json_schema_output_is_obeyed(model_path: Path) -> None:
    model = LocalModel(path=model_path)
    schema = {
        "type": "json_schema",
        "json_schema": {
            "name": "city",
            "schema": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
                "required": ["city", "country"],
                "additionalProperties": False,
            },
        },
    }
    response = await model.complete(
        [Msg.user("Name the capital of Italy.")], response_format=schema, temperature=0
    )
    import json

    value = json.loads(response.msg.text)
    assert set(value) == {"city", "country"}
    assert "rome" in value["city"].lower()


async def test_killed_server_gives_typed_error_then_restarts(model_path: Path) -> None:
    model = LocalModel(path=model_path)
    await model.start()
    old_pid = model.server.pid
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    _wait_dead(model)

    with pytest.raises(ModelUnavailable) as info:
        await model.complete([Msg.user(QUESTION)], max_tokens=8)
    assert info.value.code == "model_unavailable"
    assert "SIGKILL" in info.value.message
    assert "restarts on the next call" in info.value.message

    response = await model.complete([Msg.user(QUESTION)], temperature=0, max_tokens=16)
    assert "paris" in response.msg.text.lower()
    assert model.server.pid not in (None, old_pid)


async def test_server_killed_mid_stream_raises_model_unavailable(model_path: Path) -> None:
    model = LocalModel(path=model_path)
    stream = model.stream(
        [Msg.user("Count from 1 to 300, one number per line.")], temperature=0, max_tokens=600
    )
    with pytest.raises(ModelUnavailable) as info:
        async for event in stream:
            if isinstance(event, TextDelta) and model.server.pid is not None:
                os.kill(model.server.pid, signal.SIGKILL)
    assert info.value.code == "model_unavailable"
    assert "during the request" in info.value.message


async def test_shutdown_all_stops_the_process(model_path: Path) -> None:
    model = LocalModel(path=model_path)
    server = await model.start()
    pid = server.pid
    assert pid is not None and server.rss_bytes()
    await LocalModel.shutdown_all()
    assert not server.running()
    with pytest.raises(ProcessLookupError):  # stopped and reaped, not a zombie
        os.kill(pid, 0)


_PARENT = """
import asyncio, sys
from roost.core import Msg
from roost.models.local import LocalModel

async def main():
    model = LocalModel(path=sys.argv[1])
    server = await model.start()
    print(server.pid, flush=True)
    await model.complete([Msg.user("Count from 1 to 500.")], max_tokens=1000)

asyncio.run(main())
"""


def test_server_exits_when_its_parent_is_killed(model_path: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    script = tmp_path / "parent.py"
    script.write_text(_PARENT)
    parent = subprocess.Popen(
        [sys.executable, str(script), str(model_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        time.sleep(1.0)  # a request is in flight now
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _alive(child_pid):
            time.sleep(0.1)
        assert not _alive(child_pid), "orphaned llama.cpp server kept running"
    finally:
        parent.kill()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in state


async def test_broken_model_file_fails_to_start_with_typed_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x00" * 4096)
    model = LocalModel(path=broken, startup_timeout=60)
    with pytest.raises(ModelUnavailable) as info:
        await model.complete([Msg.user("hi")])
    assert "failed to start" in info.value.message or "exited" in info.value.message
    assert not model.server.running()


def test_bad_configuration_is_rejected_early(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        LocalModel(path=tmp_path / "none.gguf")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ConfigError, match="not a GGUF"):
        LocalModel(path=text)
    with pytest.raises(ConfigError, match="n_ctx"):
        LocalModel(path=_gguf(tmp_path), n_ctx=0)
    with pytest.raises(ConfigError, match="not both"):
        LocalModel("qwen2.5-coder-0.5b", path=_gguf(tmp_path))


async def test_missing_model_fails_on_use_not_on_construction(
    roost_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ROOST_LOCAL_MODEL", raising=False)
    model = LocalModel("qwen2.5-coder-1.5b")  # fine: a fallback chain may hold it
    assert model.model_name == "qwen2.5-coder-1.5b"
    with pytest.raises(ModelNotInstalled) as info:
        await model.complete([Msg.user("hi")])
    assert "roost model install qwen2.5-coder-1.5b" in (info.value.hint or "")
    with pytest.raises(UnknownModel):
        LocalModel("qwen-9000b")


def _gguf(tmp_path: Path) -> Path:
    path = tmp_path / "x.gguf"
    path.write_bytes(b"GGUF")
    return path


# --- decision-mode tool use through the real agent ---------------------------------------
_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression with + - * / and parentheses.

    Args:
        expression: the expression, e.g. "12 * (3 + 4)".
    """

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        raise ValueError(f"unsupported expression: {expression}")

    value = ev(ast.parse(expression, mode="eval").body)
    return str(int(value)) if float(value).is_integer() else str(value)


async def test_calculator_tool_call_in_decision_mode(model_path: Path) -> None:
    from roost.agents import ReActAgent
    from roost.agents.assistant import tool_steps
    from roost.tools import Toolkit

    toolkit = Toolkit()
    toolkit.register(calculator)
    agent = ReActAgent(
        "calc",
        LocalModel(path=model_path),
        toolkit,
        sys_prompt="You are a careful assistant. Use the calculator for arithmetic.",
        max_iters=4,
        model_options={"temperature": 0, "max_tokens": 128},
        tool_steps=tool_steps,
    )
    assert agent.tool_mode == "decision"  # chosen from LocalModel.preferred_tool_mode

    results = []
    final: Msg | None = None
    # the 0.5B answers arithmetic from memory (wrongly), even when told to use the tool;
    # a question that names the tool gets a grammar without an answer branch until the
    # call is made (decision 0152), and the call the real model writes must be valid
    async for event in agent.reply(Msg.user("Use the calculator: what is 1234 * 5678?")):
        if isinstance(event, ToolResultEvent):
            results.append(event)
        if isinstance(event, ReplyFinished):
            final = event.msg

    assert results, "the model never called the calculator"
    first = results[0]
    assert not first.result.is_error, first.result
    assert "7006652" in first.result.text
    assert final is not None
    assert "7006652" in final.text.replace(",", "")


async def test_a_chinese_question_gets_an_answer_that_starts_in_chinese(model_path: Path) -> None:
    """The answer pattern of decision mode compiled into llama.cpp's grammar: without it
    the model answers a bare "H2O" (the prompt asks for Chinese twice); with it, a
    Chinese sentence that still holds the result."""
    from roost.agents import ReActAgent

    agent = ReActAgent("zh", LocalModel(path=model_path), model_options={"max_tokens": 96})
    assert agent.tool_mode == "decision"
    final = await agent("水的化学式是什么？")
    assert "error" not in final.metadata, final.metadata
    assert re.match(r"[\u4e00-\u9fff]", final.text), final.text
    assert "H2O" in final.text.upper().replace("₂", "2")
