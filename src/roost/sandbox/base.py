"""The ``Sandbox`` API shared by every backend (bwrap, unsafe-process, docker, kubernetes,
remote), and its result types."""

from __future__ import annotations

import abc
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from roost.core import ImageBlock
from roost.sandbox.errors import SandboxFileTooLarge

SandboxType = Literal["base", "filesystem", "browser", "gui"]


class SandboxStatus(StrEnum):
    STARTING = "starting"
    READY = "ready"
    BUSY = "busy"
    RESTARTED = "restarted"
    """The interpreter was replaced (e.g. after a timed-out cell); state was lost."""
    DEAD = "dead"
    """The sandbox died on its own (OOM kill, crash)."""
    CLOSED = "closed"


class SandboxLimits(BaseModel):
    """Resource limits; backends map them to cgroups / rlimits / pod resources."""

    memory_mb: int = 512
    pids: int = 128
    cpu: float = 1.0
    """CPU share in cores."""
    disk_mb: int = 256
    """Size of the writable workdir / tmpfs."""
    max_file_mb: int = 64
    """Largest single file that may be written, uploaded or downloaded."""


class SandboxSpec(BaseModel):
    type: SandboxType = "base"
    network: bool = False
    limits: SandboxLimits = Field(default_factory=SandboxLimits)
    env: dict[str, str] = Field(default_factory=dict)
    image: str | None = None
    """Container image (docker / kubernetes backends)."""


class ExecResult(BaseModel):
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    timed_out: bool = False
    restarted: bool = False
    """The sandbox had to be restarted (it died or stopped answering) during the call."""
    duration_ms: float = 0.0


class PythonResult(BaseModel):
    stdout: str = ""
    stderr: str = ""
    result: str | None = None
    """``repr`` of the cell's last expression, like a notebook."""
    error: str | None = None
    """Formatted traceback when the cell raised."""
    images: list[ImageBlock] = Field(default_factory=list)
    """PNG images produced by matplotlib during the cell."""
    timed_out: bool = False
    restarted: bool = False
    """The interpreter had to be replaced; variables from earlier cells are gone."""
    duration_ms: float = 0.0


class FileInfo(BaseModel):
    path: str
    size: int
    is_dir: bool
    modified: float


class SandboxInfo(BaseModel):
    id: str
    type: SandboxType
    backend: str
    status: SandboxStatus
    network: bool = False
    session_id: str | None = None
    created_at: float = Field(default_factory=time.time)
    last_used_at: float = Field(default_factory=time.time)
    detail: dict[str, Any] = Field(default_factory=dict)


class Sandbox(abc.ABC):
    """One isolated environment. Every method is async and safe to call concurrently
    from one event loop (backends serialise what must be serialised)."""

    id: str
    spec: SandboxSpec
    backend: str

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None:
        """Kill every process of the sandbox and delete its workdir. Idempotent."""

    @abc.abstractmethod
    def info(self) -> SandboxInfo: ...

    # base
    @abc.abstractmethod
    async def run_python(self, code: str, *, timeout: float = 30.0) -> PythonResult: ...

    @abc.abstractmethod
    async def run_shell(self, command: str, *, timeout: float = 30.0) -> ExecResult: ...

    # filesystem (paths are relative to the sandbox workdir; escaping it is an error)
    @abc.abstractmethod
    async def read_file(self, path: str) -> bytes: ...

    @abc.abstractmethod
    async def write_file(self, path: str, data: bytes | str) -> FileInfo: ...

    @abc.abstractmethod
    async def list_files(self, path: str = ".") -> list[FileInfo]: ...

    @abc.abstractmethod
    async def delete_file(self, path: str) -> None: ...

    # helpers every backend gets for free
    async def health(self) -> SandboxStatus:
        """Current status after a liveness check (backends with a cheap ping override)."""
        return self.info().status

    async def upload_file(self, local_path: str | Path, path: str) -> FileInfo:
        """Copy a host file into the sandbox workdir (subject to ``max_file_mb``)."""
        import asyncio

        src = Path(local_path)
        limit = self.spec.limits.max_file_mb << 20
        size = (await asyncio.to_thread(src.stat)).st_size
        if size > limit:
            raise SandboxFileTooLarge(
                f"{src} is {size} bytes; the sandbox limit is {limit} bytes",
                hint="raise limits.max_file_mb or upload a smaller file",
            )
        return await self.write_file(path, await asyncio.to_thread(src.read_bytes))

    async def download_file(self, path: str, local_path: str | Path) -> FileInfo:
        """Copy a file out of the sandbox workdir to a host path."""
        import asyncio

        data = await self.read_file(path)
        await asyncio.to_thread(Path(local_path).write_bytes, data)
        return FileInfo(path=path, size=len(data), is_dir=False, modified=time.time())

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


SandboxProvider = Callable[[], Awaitable[Sandbox]]
"""What agent tools act on: returns the session's sandbox (acquired lazily, so a
replaced sandbox is picked up)."""
