"""The docker backend: the locked-down container spec (pure), the exec-stream kernel glue
it shares with kubernetes (against real local processes), and a real engine when one
is reachable."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import IO

import pytest

from roost.core import ConfigError, get_settings
from roost.sandbox import SandboxSpec, SandboxStatus, create_sandbox
from roost.sandbox.backends.container import ContainerSandbox, ExecOutput, StreamChannel
from roost.sandbox.backends.docker import DockerConfig, build_create_kwargs, docker_available
from roost.sandbox.base import SandboxLimits
from roost.sandbox.errors import SandboxFileNotFound, SandboxPathInvalid

SID = "sbx_0abc123def456ghi789jkl"


def test_container_spec_is_locked_down() -> None:
    spec = SandboxSpec(limits=SandboxLimits(memory_mb=256, pids=64, cpu=0.5, disk_mb=100))
    kw = build_create_kwargs(SID, spec, DockerConfig())
    assert kw["network_mode"] == "none"
    assert kw["cap_drop"] == ["ALL"]
    assert kw["security_opt"] == ["no-new-privileges:true"]
    assert not any("seccomp" in opt for opt in kw["security_opt"]), "default profile applies"
    assert kw["read_only"] is True
    assert kw["privileged"] is False
    assert kw["user"] == "65532:65532"
    assert kw["mem_limit"] == "256m" and kw["memswap_limit"] == "256m"
    assert kw["pids_limit"] == 64
    assert kw["nano_cpus"] == 500_000_000
    assert kw["tmpfs"]["/workspace"].startswith("rw,nosuid,nodev,size=100m")
    assert "noexec" in kw["tmpfs"]["/tmp"]
    assert kw["labels"]["roost.dev/sandbox-id"] == SID
    assert kw["name"] == "roost-sbx-0abc123def456ghi789jkl"
    assert "runtime" not in kw


def test_container_spec_network_and_runtime_are_opt_in() -> None:
    kw = build_create_kwargs(
        SID, SandboxSpec(network=True, env={"A": "1"}), DockerConfig(runtime="runsc")
    )
    assert kw["network_mode"] == "bridge"
    assert kw["runtime"] == "runsc"
    assert kw["environment"]["A"] == "1"


def test_container_spec_rejects_non_positive_limits() -> None:
    with pytest.raises(ConfigError):
        build_create_kwargs(SID, SandboxSpec(limits=SandboxLimits(pids=0)), DockerConfig())


def test_docker_config_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOST_SANDBOX_DOCKER_IMAGE", "example/python:3.12")
    monkeypatch.setenv("ROOST_SANDBOX_DOCKER_LABELS", '{"team": "a"}')
    get_settings.cache_clear()
    config = DockerConfig.from_settings()
    assert config.image == "example/python:3.12" and config.labels == {"team": "a"}


class _LocalExecSandbox(ContainerSandbox):
    """The container primitives over local processes: exercises the shared exec-stream
    kernel glue (framing, ordering, restarts) without an engine. Not isolated."""

    backend = "local-exec-test"

    async def _create(self) -> None:
        self.workdir = tempfile.mkdtemp(prefix="roost-exec-test-")
        self.container_detail = {"workdir": self.workdir}
        self._procs: list[asyncio.subprocess.Process] = []

    async def _destroy(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    async def _exec(self, argv: list[str], *, stdin: bytes | None, timeout: float) -> ExecOutput:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
        return ExecOutput(proc.returncode, out, err)

    async def _open_stream(self, argv: list[str], stderr: IO[bytes]) -> StreamChannel:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
        )
        self._procs.append(proc)
        assert proc.stdin is not None and proc.stdout is not None
        stdin, stdout = proc.stdin, proc.stdout

        async def write(data: bytes) -> None:
            stdin.write(data)
            await stdin.drain()

        async def close() -> None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        channel = StreamChannel(write, close)

        async def pump() -> None:
            try:
                while chunk := await stdout.read(65536):
                    channel.feed(chunk)
            finally:
                channel.finish()

        self._pump = asyncio.create_task(pump())
        return channel

    async def _kill_all(self) -> None:
        # Never ``kill -1`` on the host: only the process groups this test started.
        for proc in self._procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def _realpath(path: str) -> str:
    return os.path.realpath(path)


def _exists(path: str) -> bool:
    return Path(path).exists()


async def test_kernel_over_an_exec_stream_keeps_state_and_serves_files() -> None:
    sandbox = _LocalExecSandbox(SandboxSpec())
    sandbox.python = "python3"
    async with sandbox:
        first = await sandbox.run_python("x = 20\nx + 1")
        assert first.result == "21"
        second = await sandbox.run_python("print(x * 2)")
        assert second.stdout == "40\n"
        shell = await sandbox.run_shell("echo hi && pwd")
        assert shell.exit_code == 0
        assert shell.stdout.splitlines() == ["hi", _realpath(sandbox.workdir)]
        big = os.urandom(300_000)
        info = await sandbox.write_file("d/blob.bin", big)
        assert info.size == len(big)
        assert await sandbox.read_file("d/blob.bin") == big
        assert [f.path for f in await sandbox.list_files("d")] == ["d/blob.bin"]
        await sandbox.delete_file("d/blob.bin")
        with pytest.raises(SandboxFileNotFound):
            await sandbox.read_file("d/blob.bin")
        with pytest.raises(SandboxPathInvalid):
            await sandbox.read_file("../etc/passwd")
        assert sandbox.info().detail["workdir"] == sandbox.workdir
    assert sandbox.info().status is SandboxStatus.CLOSED
    assert not _exists(sandbox.workdir)


async def test_kernel_over_an_exec_stream_is_replaced_when_it_dies() -> None:
    sandbox = _LocalExecSandbox(SandboxSpec())
    async with sandbox:
        await sandbox.run_python("y = 1")
        died = await sandbox.run_python("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
        assert died.restarted is True
        after = await sandbox.run_python("'y' in globals()")
        assert after.result == "False"


@pytest.fixture
def docker_engine() -> None:
    reason = docker_available()
    if reason is not None:
        pytest.skip(f"no Docker engine reachable here: {reason}")


async def test_docker_sandbox_runs_code_in_a_container(docker_engine: None) -> None:
    sandbox = create_sandbox(SandboxSpec(), backend="docker")
    async with sandbox:
        assert (await sandbox.run_python("1 + 1")).result == "2"
        net = await sandbox.run_shell(
            "python3 -c 'import socket; socket.create_connection((\"1.1.1.1\", 53), 2)'"
        )
        assert net.exit_code != 0, "no network by default"
        assert (await sandbox.run_shell("id -u")).stdout.strip() == "65532"
