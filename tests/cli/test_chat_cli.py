"""`roost chat` end to end: a real process talking to a real OpenAI-protocol server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from fake_providers import FakeOpenAIServer, Reply


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


def run_chat(args: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roost.cli.main", "chat", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


def test_chat_once_prints_only_the_answer_and_shows_tool_calls_on_stderr(
    server: FakeOpenAIServer,
) -> None:
    server.script(
        Reply(tool_calls=[("c1", "calculator", json.dumps({"expression": "17*23"}))]),
        Reply(text="17 * 23 = 391"),
    )
    proc = run_chat(["--once", "What is 17*23?", "--model", f"{server.url}#fake"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "17 * 23 = 391"
    assert '→ calculator({"expression": "17*23"})' in proc.stderr
    assert "← 391" in proc.stderr
    # the second request carried the tool result back to the model
    second = server.requests[1].body["messages"]
    assert second[-1]["role"] == "tool" and second[-1]["content"] == "391"


def test_chat_streams_a_conversation_from_stdin(server: FakeOpenAIServer) -> None:
    server.script(Reply(text="Hello there!"), Reply(text="Still here."))
    proc = run_chat(["--model", f"{server.url}#fake"], stdin="hi\nare you there?\n/exit\n")
    assert proc.returncode == 0, proc.stderr
    assert "Hello there!" in proc.stdout and "Still here." in proc.stdout
    # the second turn saw the first one (same conversation)
    contents = [m.get("content") for m in server.requests[1].body["messages"]]
    assert contents[-3:] == ["hi", "Hello there!", "are you there?"]


def test_chat_reports_a_bad_model_spec_with_its_code() -> None:
    proc = run_chat(["--once", "x", "--model", "nosuchprovider:abc"])
    assert proc.returncode == 2
    assert "config_invalid" in proc.stderr
