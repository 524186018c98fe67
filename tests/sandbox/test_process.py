"""The explicit unsafe-process backend: works, and says it is unsafe."""

# ruff: noqa: ASYNC240 - host-side checks in tests/benchmarks block on purpose

from __future__ import annotations

from pathlib import Path

from roost.sandbox import SandboxStatus, UnsafeProcessSandbox, create_sandbox


async def test_unsafe_process_runs_cells_and_is_labelled() -> None:
    sandbox = create_sandbox(backend="unsafe-process")
    assert isinstance(sandbox, UnsafeProcessSandbox)
    async with sandbox:
        info = sandbox.info()
        assert info.backend == "unsafe-process"
        assert info.detail["unsafe"] is True and "WITHOUT isolation" in info.detail["warning"]
        await sandbox.run_python("a = 2")
        assert (await sandbox.run_python("a ** 10")).result == "1024"
        await sandbox.write_file("f.txt", "x")
        assert (await sandbox.run_shell("cat f.txt")).stdout == "x"
        workdir = Path(info.detail["workdir"])
        assert workdir.exists()
    assert sandbox.info().status is SandboxStatus.CLOSED
    assert not workdir.exists()
