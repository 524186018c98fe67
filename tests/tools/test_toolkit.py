import asyncio
from collections.abc import AsyncIterator

import pytest
from pydantic import BaseModel

from roost.core import DataBlock, ImageBlock, ToolError, ToolProgress, ToolResultBlock, ToolUseBlock
from roost.tools import Tool, Toolkit, tool


@tool
def add(a: int, b: int = 2) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


class Point(BaseModel):
    x: float
    y: float


@tool(timeout=0.2)
async def slow(seconds: float) -> str:
    """Sleep for a while."""
    await asyncio.sleep(seconds)
    return "woke"


@tool
async def count(n: int) -> AsyncIterator[str]:
    """Stream numbers."""
    for i in range(n):
        yield f"{i};"


@tool
def boom() -> None:
    """Always fails."""
    raise RuntimeError("disk on fire")


def test_schema_comes_from_hints_and_docstring() -> None:
    spec = add.spec
    assert spec.description == "Add two integers."
    assert spec.parameters["required"] == ["a"]
    assert spec.parameters["properties"]["a"] == {
        "type": "integer",
        "description": "The first number.",
    }
    assert spec.parameters["properties"]["b"]["default"] == 2


def test_pydantic_parameters_are_nested_schemas() -> None:
    @tool
    def dist(p: Point) -> float:
        """Distance from origin."""
        return float((p.x**2 + p.y**2) ** 0.5)

    assert "$defs" in dist.parameters or "properties" in str(dist.parameters)
    assert dist(Point(x=3, y=4)) == 5.0


async def _run(
    tk: Toolkit, name: str, args: dict | None = None, raw: str | None = None
) -> tuple[list[ToolProgress], ToolResultBlock]:
    progress, result = [], None
    async for item in tk.execute(ToolUseBlock(id="c1", name=name, input=args or {}, raw_input=raw)):
        if isinstance(item, ToolProgress):
            progress.append(item)
        else:
            result = item
    assert result is not None
    return progress, result


async def test_sync_async_and_streaming_tools_run() -> None:
    tk = Toolkit([add, slow, count])
    _, res = await _run(tk, "add", {"a": 1})
    assert res.content == [DataBlock(data=3)] and not res.is_error
    _, res = await _run(tk, "slow", {"seconds": 0})
    assert res.text == "woke"
    progress, res = await _run(tk, "count", {"n": 3})
    assert [p.delta for p in progress] == ["0;", "1;", "2;"]
    assert res.text == "0;1;2;"


@pytest.mark.parametrize(
    ("name", "args", "raw", "code", "words"),
    [
        ("nope", {}, None, "tool_not_found", "available tools: add"),
        (
            "add",
            {"a": "many"},
            None,
            "tool_arguments_invalid",
            "a: Input should be a valid integer",
        ),
        ("add", {"a": 1, "c": 3}, None, "tool_arguments_invalid", "c: Extra inputs"),
        ("add", {}, '{"a": 1', "tool_arguments_invalid", "not a valid JSON object"),
        ("boom", {}, None, "tool_failed", "RuntimeError: disk on fire"),
        ("slow", {"seconds": 5}, None, "tool_timeout", "within 0.2 s"),
    ],
)
async def test_bad_calls_become_error_results_the_model_can_read(
    name: str, args: dict, raw: str | None, code: str, words: str
) -> None:
    tk = Toolkit([add, boom, slow])
    _, res = await _run(tk, name, args, raw)
    assert res.is_error and res.code == code
    assert words in res.text


async def test_timeout_cancels_the_tool_task() -> None:
    finished = asyncio.Event()

    async def stuck() -> str:
        try:
            await asyncio.sleep(10)
        finally:
            finished.set()
        return "never"

    tk = Toolkit()
    tk.register(stuck, timeout=0.05)
    _, res = await _run(tk, "stuck")
    assert res.code == "tool_timeout"
    assert finished.is_set()


async def test_return_values_become_blocks() -> None:
    tk = Toolkit()
    tk.register(lambda: Point(x=1, y=2), name="point")
    tk.register(lambda: ImageBlock(data="aGk=", media_type="image/png"), name="img")
    _, res = await _run(tk, "point")
    assert res.content == [DataBlock(data={"x": 1.0, "y": 2.0})]
    _, res = await _run(tk, "img")
    assert isinstance(res.content[0], ImageBlock)


def test_duplicate_names_and_approval_policies() -> None:
    tk = Toolkit([add])
    with pytest.raises(ToolError):
        tk.register(add)
    tk.register(add, name="add2", requires_approval=lambda args: args.get("a", 0) > 10)
    assert tk.needs_approval(ToolUseBlock(id="1", name="add2", input={"a": 11}))
    assert not tk.needs_approval(ToolUseBlock(id="1", name="add2", input={"a": 1}))
    assert not tk.needs_approval(ToolUseBlock(id="1", name="add", input={"a": 11}))
    assert isinstance(tk.get("add2"), Tool) and tk.names == ["add", "add2"]
