"""The MCP client against real MCP servers: a stdio subprocess and a streamable-HTTP
server process, both built with the MCP SDK (tests/tools/mcp_servers/demo_server.py)."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from roost.core import DataBlock, ImageBlock, InvalidRequest, TextBlock
from roost.tools import Toolkit
from roost.tools.mcp import McpUnavailable, connect_mcp

SERVER = Path(__file__).parent / "mcp_servers" / "demo_server.py"
STDIO = {"command": sys.executable, "args": [str(SERVER), "stdio"], "timeout": 20.0}

# One event loop for the module so one stdio server (slow to import the SDK on a loaded
# machine) serves the tests that do not need their own process.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def demo() -> AsyncIterator[Toolkit]:
    """A toolkit with the stdio demo server's tools (the server sees GIVEN=yes)."""
    toolkit = Toolkit()
    await toolkit.add_mcp_server("demo", env={"GIVEN": "yes"}, **STDIO)  # type: ignore[arg-type]
    yield toolkit
    await toolkit.aclose()


def _children_running(marker: str) -> list[int]:
    import os

    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = (proc / "stat").read_text().split()
        except OSError:
            continue
        if marker in cmdline and int(stat[3]) == os.getpid() and stat[2] != "Z":
            found.append(int(proc.name))
    return found


async def test_stdio_server_tools_run_through_a_toolkit(demo: Toolkit) -> None:
    toolkit = demo
    assert {"add", "text_upper", "chart", "explode", "env_value", "sleep"} <= set(toolkit.names)
    spec = {s.name: s for s in toolkit.specs()}["add"]
    assert spec.description == "Add two integers."
    assert spec.parameters["properties"]["a"]["type"] == "integer"
    assert toolkit.get("add").source == "mcp"

    added = await toolkit.call("add", a=2, b=40)
    assert not added.is_error
    assert added.content == [DataBlock(data=42)]

    upper = await toolkit.call("text_upper", text="hello")  # dotted remote name
    assert upper.text == "HELLO"

    chart = await toolkit.call("chart", title="sales")
    assert chart.content[0] == TextBlock(text="chart: sales")
    image = chart.content[1]
    assert isinstance(image, ImageBlock) and image.media_type == "image/png"
    assert base64.b64decode(image.data or "").startswith(b"\x89PNG")

    failed = await toolkit.call("explode", reason="bad day")
    assert failed.is_error and failed.code == "tool_failed" and failed.status == "error"

    invalid = await toolkit.call("add", a="not a number", b=1)
    assert invalid.is_error


async def test_stdio_server_gets_a_minimal_environment(demo: Toolkit) -> None:
    # The parent runs with HOME, PATH and ROOST_HOME (set by the autouse fixture);
    # only the first two, plus the given env, reach the server.
    leaked = await demo.call("env_value", name="ROOST_HOME")
    given = await demo.call("env_value", name="GIVEN")
    assert leaked.content == [TextBlock(text="<unset>")]
    assert given.content == [TextBlock(text="yes")]


async def test_timeouts_and_concurrent_calls_keep_the_session_usable(demo: Toolkit) -> None:
    toolkit = Toolkit([demo.get("sleep"), demo.get("add")], default_timeout=0.5)
    slow = await toolkit.call("sleep", seconds=5)
    assert slow.is_error and slow.code == "tool_timeout"
    results = await asyncio.gather(
        *(toolkit.call("add", a=i, b=i) for i in range(5)),
        toolkit.call("sleep", seconds=0.1),
    )
    assert [r.content for r in results[:5]] == [[DataBlock(data=2 * i)] for i in range(5)]
    assert results[5].content == [TextBlock(text="slept 0.1")]


async def test_close_stops_the_server_process_and_later_calls_fail_cleanly() -> None:
    before = set(_children_running(str(SERVER)))
    conn = await connect_mcp("demo", **STDIO)  # type: ignore[arg-type]
    started = set(_children_running(str(SERVER))) - before
    assert len(started) == 1
    tool = next(t for t in conn.tools if t.name == "add")
    await conn.aclose()
    assert conn.closed
    assert not started & set(_children_running(str(SERVER)))
    toolkit = Toolkit([tool])
    result = await toolkit.call("add", a=1, b=2)
    assert result.is_error and result.code == "mcp_unavailable"
    await conn.aclose()  # idempotent


async def test_a_server_dying_mid_call_gives_mcp_unavailable_results() -> None:
    toolkit = Toolkit()
    await toolkit.add_mcp_server("fragile", **STDIO)  # type: ignore[arg-type]
    try:
        crashed = await toolkit.call("crash")
        assert crashed.is_error and crashed.code == "mcp_unavailable"
        after = await toolkit.call("add", a=1, b=1)
        assert after.is_error and after.code == "mcp_unavailable"
        assert "fragile" in after.text
    finally:
        await toolkit.aclose()


async def test_a_server_that_dies_at_start_is_reported_with_its_stderr() -> None:
    with pytest.raises(McpUnavailable) as info:
        await connect_mcp(
            "broken",
            command=sys.executable,
            args=["-c", "import sys; sys.stderr.write('missing config file'); sys.exit(3)"],
            timeout=10,
        )
    assert info.value.code == "mcp_unavailable"
    assert "missing config file" in str(info.value)


async def test_bad_connection_arguments_are_rejected() -> None:
    with pytest.raises(InvalidRequest):
        await connect_mcp("x")
    with pytest.raises(InvalidRequest):
        await connect_mcp("x", command="a", url="http://127.0.0.1:1/mcp")
    with pytest.raises(InvalidRequest):
        await connect_mcp("x", url="127.0.0.1:8000/mcp")


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "http"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("PORT "), line
        yield f"http://127.0.0.1:{int(line.split()[1])}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_streamable_http_server_with_headers(http_server: str) -> None:
    toolkit = Toolkit()
    await toolkit.add_mcp_server(
        "remote",
        url=http_server,
        headers={"Authorization": "Bearer test-token"},
        timeout=20,
        prefix="remote_",
    )
    try:
        result = await toolkit.call("remote_add", a=20, b=22)
        assert result.content == [DataBlock(data=42)]
        chart = await toolkit.call("remote_chart", title="q3")
        assert isinstance(chart.content[1], ImageBlock)
    finally:
        await toolkit.aclose()


async def test_streamable_http_without_credentials_fails_to_connect(http_server: str) -> None:
    with pytest.raises(McpUnavailable) as info:
        await connect_mcp("remote", url=http_server, timeout=10)
    assert "remote" in info.value.message
