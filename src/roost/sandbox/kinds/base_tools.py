"""The agent tools of a ``base`` sandbox: ``execute_python``, ``execute_shell``,
``read_file``, ``write_file``, ``list_files`` (a ``filesystem`` sandbox has the last
three). Every tool result is text clipped for a model's context."""

from __future__ import annotations

from roost.core import ImageBlock, TextBlock, ToolResultBlock
from roost.sandbox.base import SandboxProvider
from roost.sandbox.errors import SandboxError
from roost.tools import Tool

_MAX_TEXT = 20_000


def _clip(text: str) -> str:
    if len(text) <= _MAX_TEXT:
        return text
    return text[:_MAX_TEXT] + f"\n... [{len(text) - _MAX_TEXT} more characters not shown]"


def base_tools(provider: SandboxProvider) -> list[Tool]:
    async def execute_python(code: str, timeout: float = 30.0) -> ToolResultBlock:
        """Run Python code in the sandbox's persistent interpreter (variables and imports
        persist between calls, like a notebook). Write complete statements; print() what
        you need or end with an expression, whose value is returned. matplotlib figures
        are returned as images. A traceback comes back as an error to fix.

        Args:
            code: Python source to run, e.g. "print(sum(range(1, 11)))".
            timeout: Seconds before the cell is interrupted.
        """
        sandbox = await provider()
        res = await sandbox.run_python(code, timeout=timeout)
        parts = []
        if res.stdout:
            parts.append(f"stdout:\n{res.stdout}")
        if res.stderr:
            parts.append(f"stderr:\n{res.stderr}")
        if res.result is not None:
            parts.append(f"result: {res.result}")
        if res.error:
            parts.append(f"error:\n{res.error}")
        if res.timed_out:
            parts.append(
                f"(the cell timed out after {timeout:g} s: the code is too slow; use a"
                " faster algorithm, e.g. a loop instead of recursion, not a longer timeout)"
            )
        if res.restarted:
            parts.append("(the interpreter was restarted: earlier variables are gone)")
        failed = bool(res.error) or res.timed_out
        if failed:
            parts.append("Fix the code and run it again.")
        blocks: list[TextBlock | ImageBlock] = [
            TextBlock(text=_clip("\n".join(parts) or "(no output)"))
        ]
        blocks.extend(res.images)
        # an exception is an error result (the model sees "error" and can fix its code)
        return ToolResultBlock(
            tool_use_id="",
            content=blocks,
            is_error=failed,
            status="error" if failed else "success",
            code=("python_timeout" if res.timed_out else "python_error") if failed else None,
        )

    async def execute_shell(command: str, timeout: float = 30.0) -> ToolResultBlock:
        """Run a shell command (/bin/sh -c) in the sandbox workdir. A non-zero exit code
        comes back as an error.

        Args:
            command: The command line.
            timeout: Seconds before the command's process group is killed.
        """
        sandbox = await provider()
        res = await sandbox.run_shell(command, timeout=timeout)
        parts = [
            f"exit code: {res.exit_code}" if not res.timed_out else f"timed out after {timeout:g} s"
        ]
        if res.stdout:
            parts.append(f"stdout:\n{res.stdout}")
        if res.stderr:
            parts.append(f"stderr:\n{res.stderr}")
        if res.restarted:
            parts.append("(the sandbox was restarted)")
        failed = res.timed_out or res.exit_code != 0
        return ToolResultBlock(
            tool_use_id="",
            content=[TextBlock(text=_clip("\n".join(parts)))],
            is_error=failed,
            status="error" if failed else "success",
            code=("shell_timeout" if res.timed_out else "shell_exit_nonzero") if failed else None,
        )

    async def read_file(path: str) -> str:
        """Read a text file from the sandbox workdir.

        Args:
            path: Path relative to the workdir.
        """
        sandbox = await provider()
        data = await sandbox.read_file(path)
        try:
            return _clip(data.decode())
        except UnicodeDecodeError:
            raise SandboxError(
                f"{path!r} is binary ({len(data)} bytes)",
                hint="inspect it with execute_python instead",
            ) from None

    async def write_file(path: str, content: str) -> str:
        """Write a text file in the sandbox workdir (parent folders are created).

        Args:
            path: Path relative to the workdir.
            content: The full text to write.
        """
        sandbox = await provider()
        info = await sandbox.write_file(path, content)
        return f"wrote {info.size} bytes to {info.path}"

    async def list_files(path: str = ".") -> str:
        """List files in a folder of the sandbox workdir.

        Args:
            path: Folder relative to the workdir.
        """
        sandbox = await provider()
        files = await sandbox.list_files(path)
        if not files:
            return "(empty)"
        return "\n".join(f"{f.path}/" if f.is_dir else f"{f.path}  {f.size} bytes" for f in files)

    return [
        Tool.from_function(execute_python, timeout=None),
        Tool.from_function(execute_shell, timeout=None),
        Tool.from_function(read_file),
        Tool.from_function(write_file),
        Tool.from_function(list_files),
    ]


def file_tools(provider: SandboxProvider) -> list[Tool]:
    """The file tools alone (a ``filesystem`` sandbox)."""
    return base_tools(provider)[2:]
