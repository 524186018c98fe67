"""Agent tools bound to a session's sandbox through a provider."""

from __future__ import annotations

from roost.core import ImageBlock, TextBlock
from roost.sandbox import SandboxManager
from roost.sandbox.tools import manager_provider, register_sandbox_tools, sandbox_toolkit
from roost.tools import Toolkit


def _text(block: object) -> str:
    content = getattr(block, "content", [])
    return "\n".join(p.text for p in content if isinstance(p, TextBlock))


async def test_tools_act_on_the_sessions_sandbox() -> None:
    async with SandboxManager(pool_size=0) as manager:
        toolkit = sandbox_toolkit(manager_provider(manager, "sess"))
        assert toolkit.names == [
            "execute_python",
            "execute_shell",
            "read_file",
            "write_file",
            "list_files",
        ]
        spec = {s.name: s for s in toolkit.specs()}["execute_python"]
        assert spec.parameters["required"] == ["code"]

        wrote = await toolkit.call("write_file", path="notes/a.txt", content="hi there")
        assert not wrote.is_error and "8 bytes" in _text(wrote)
        py = await toolkit.call("execute_python", code="v = open('notes/a.txt').read()\nv.upper()")
        assert "result: 'HI THERE'" in _text(py)
        state = await toolkit.call("execute_python", code="len(v)")
        assert "result: 8" in _text(state)
        sh = await toolkit.call("execute_shell", command="ls notes && exit 2")
        assert "exit code: 2" in _text(sh) and "a.txt" in _text(sh)
        assert sh.is_error and sh.code == "shell_exit_nonzero"
        listed = await toolkit.call("list_files", path="notes")
        assert "notes/a.txt  8 bytes" in _text(listed)
        read = await toolkit.call("read_file", path="notes/a.txt")
        assert _text(read) == "hi there"
        assert manager.get("sess") is not None


async def test_sandbox_errors_become_error_results_with_codes() -> None:
    async with SandboxManager(pool_size=0) as manager:
        toolkit = Toolkit()
        register_sandbox_tools(toolkit, manager_provider(manager, "sess"))
        bad = await toolkit.call("read_file", path="../etc/passwd")
        assert bad.is_error and bad.code == "sandbox_path_invalid"
        missing = await toolkit.call("read_file", path="nope.txt")
        assert missing.is_error and missing.code == "sandbox_file_not_found"
        failing = await toolkit.call("execute_python", code="1/0")
        # a traceback is an error the model can act on, not a success with bad news
        assert failing.is_error and failing.code == "python_error"
        assert "ZeroDivisionError" in _text(failing) and "Fix the code" in _text(failing)
        timeout = await toolkit.call(
            "execute_python", code="import time; time.sleep(5)", timeout=0.2
        )
        assert timeout.is_error and timeout.code == "python_timeout"
        assert "timed out" in _text(timeout)


async def test_images_are_returned_as_image_blocks() -> None:
    async with SandboxManager(pool_size=0) as manager:
        toolkit = sandbox_toolkit(manager_provider(manager, "sess"))
        probe = await toolkit.call(
            "execute_python",
            code="import importlib.util\nimportlib.util.find_spec('matplotlib') is None",
        )
        if "result: True" in _text(probe):
            import pytest

            pytest.skip("matplotlib is not installed for the sandbox interpreter")
        res = await toolkit.call(
            "execute_python", code="import matplotlib.pyplot as plt\nplt.plot([1, 2])\nNone"
        )
        assert any(isinstance(p, ImageBlock) for p in res.content)
