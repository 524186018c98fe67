"""What the docker and kubernetes backends share: shell and files through ``exec`` of
POSIX tools in the container, Python through the kernel process started with ``exec``.

A backend supplies four primitives (create, destroy, exec to completion, exec with an
open stdin/stdout stream); everything else (path checks, size limits, timeouts, file
listing) is written once here so the two backends behave the same.
"""

from __future__ import annotations

import abc
import asyncio
import json
import math
import posixpath
import time
from collections.abc import Awaitable, Callable

from roost.core import SandboxError, new_id
from roost.sandbox.base import (
    ExecResult,
    FileInfo,
    PythonResult,
    Sandbox,
    SandboxInfo,
    SandboxSpec,
    SandboxStatus,
)
from roost.sandbox.errors import (
    SandboxClosed,
    SandboxDead,
    SandboxFileNotFound,
    SandboxFileTooLarge,
    SandboxPathInvalid,
    SandboxQuotaExceeded,
)

WORKDIR = "/workspace"

_LIST_SCRIPT = """
import json, os, sys
p = sys.argv[1]
if not os.path.exists(p):
    sys.exit(3)
out = []
entries = [os.path.join(p, n) for n in sorted(os.listdir(p))] if os.path.isdir(p) else [p]
for e in entries:
    st = os.lstat(e)
    out.append([os.path.relpath(e, sys.argv[2]), st.st_size, os.path.isdir(e), st.st_mtime])
print(json.dumps(out))
"""


class ExecOutput:
    """Raw result of one ``exec`` in the container."""

    __slots__ = ("exit_code", "stderr", "stdout")

    def __init__(self, exit_code: int | None, stdout: bytes, stderr: bytes) -> None:
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr


class StreamChannel:
    """An exec'd process with an open stdin: bytes out through ``reader``, in through
    ``write`` (already bound to the backend's transport); ``close`` ends the exec."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        write: Callable[[bytes], Awaitable[None]],
        close: Callable[[], Awaitable[None]],
    ) -> None:
        self.reader = reader
        self.write = write
        self.close = close


def resolve_path(path: str) -> str:
    """Map a path relative to the workdir (or absolute inside it) to an absolute path;
    anything that leaves the workdir is refused."""
    if not path or "\x00" in path:
        raise SandboxPathInvalid(
            "file path is empty or contains NUL", hint="pass e.g. 'data/x.csv'"
        )
    full = posixpath.normpath(posixpath.join(WORKDIR, path))
    if full != WORKDIR and not full.startswith(WORKDIR + "/"):
        raise SandboxPathInvalid(
            f"path {path!r} is outside the sandbox workdir",
            hint="use a path relative to the workdir, without '..'",
        )
    return full


class ContainerSandbox(Sandbox):
    """Base of the container backends: one container (pod) per sandbox, no host paths."""

    backend = "container"

    def __init__(self, spec: SandboxSpec | None = None, *, sandbox_id: str | None = None) -> None:
        self.id = sandbox_id or new_id("sbx")
        self.spec = spec or SandboxSpec()
        self._status = SandboxStatus.STARTING
        self._created_at = time.time()
        self._last_used = self._created_at
        self._detail: dict[str, object] = {}
        self._kernel_lock = asyncio.Lock()
        self._kernel: object | None = None

    # -- backend primitives -------------------------------------------------------------
    @abc.abstractmethod
    async def _create(self) -> None:
        """Create the container/pod and wait until it runs."""

    @abc.abstractmethod
    async def _destroy(self) -> None:
        """Delete the container/pod (idempotent)."""

    @abc.abstractmethod
    async def _exec(self, argv: list[str], *, stdin: bytes | None, timeout: float) -> ExecOutput:
        """Run ``argv`` to completion inside the sandbox."""

    @abc.abstractmethod
    async def _open_stream(self, argv: list[str]) -> StreamChannel:
        """Start ``argv`` inside the sandbox with stdin/stdout kept open."""

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        if self._status is not SandboxStatus.STARTING:
            return
        try:
            await self._create()
        except BaseException:
            self._status = SandboxStatus.DEAD
            await asyncio.shield(self._destroy())
            raise
        self._status = SandboxStatus.READY

    async def close(self) -> None:
        if self._status is SandboxStatus.CLOSED:
            return
        self._status = SandboxStatus.CLOSED
        await self._close_kernel()
        await self._destroy()

    def info(self) -> SandboxInfo:
        return SandboxInfo(
            id=self.id,
            type=self.spec.type,
            backend=self.backend,
            status=self._status,
            network=self.spec.network,
            created_at=self._created_at,
            last_used_at=self._last_used,
            detail=dict(self._detail),
        )

    def _check_open(self) -> None:
        if self._status is SandboxStatus.CLOSED:
            raise SandboxClosed(f"sandbox {self.id} is closed", hint="acquire a new sandbox")
        if self._status is SandboxStatus.DEAD:
            raise SandboxDead(f"sandbox {self.id} died", hint="acquire a new sandbox")
        if self._status is SandboxStatus.STARTING:
            raise SandboxError(f"sandbox {self.id} is not started", hint="call start() first")
        self._last_used = time.time()

    # -- shell ----------------------------------------------------------------------------
    async def run_shell(self, command: str, *, timeout: float = 30.0) -> ExecResult:
        self._check_open()
        seconds = max(1, math.ceil(timeout))
        argv = ["timeout", "-s", "KILL", str(seconds), "sh", "-c", command]
        started = time.perf_counter()
        out = await self._exec(argv, stdin=None, timeout=timeout + 10)
        elapsed = time.perf_counter() - started
        timed_out = out.exit_code == 137 and elapsed >= seconds - 0.5
        return ExecResult(
            stdout=out.stdout.decode("utf-8", "replace"),
            stderr=out.stderr.decode("utf-8", "replace"),
            exit_code=out.exit_code,
            timed_out=timed_out,
            duration_ms=elapsed * 1000,
        )

    # -- files ----------------------------------------------------------------------------
    async def read_file(self, path: str) -> bytes:
        self._check_open()
        full = resolve_path(path)
        cap = self.spec.limits.max_file_mb * 1024 * 1024
        script = 'test -f "$1" || exit 3; head -c "$2" -- "$1"'
        out = await self._exec(
            ["sh", "-c", script, "_", full, str(cap + 1)], stdin=None, timeout=60
        )
        if out.exit_code == 3:
            raise SandboxFileNotFound(
                f"no file {path!r} in the sandbox", hint="list_files() shows what exists"
            )
        if out.exit_code != 0:
            raise SandboxError(f"reading {path!r} failed: {out.stderr.decode(errors='replace')}")
        if len(out.stdout) > cap:
            raise SandboxFileTooLarge(
                f"{path!r} is larger than {self.spec.limits.max_file_mb} MB",
                hint="raise limits.max_file_mb or read a smaller file",
            )
        return out.stdout

    async def write_file(self, path: str, data: bytes | str) -> FileInfo:
        self._check_open()
        full = resolve_path(path)
        raw = data.encode() if isinstance(data, str) else bytes(data)
        if len(raw) > self.spec.limits.max_file_mb * 1024 * 1024:
            raise SandboxFileTooLarge(
                f"{len(raw)} bytes is larger than {self.spec.limits.max_file_mb} MB",
                hint="raise limits.max_file_mb or write a smaller file",
            )
        script = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1"'
        out = await self._exec(["sh", "-c", script, "_", full], stdin=raw, timeout=60)
        if out.exit_code != 0:
            message = out.stderr.decode(errors="replace").strip()
            if "No space left" in message:
                raise SandboxQuotaExceeded(
                    f"writing {path!r} failed: the workdir is full",
                    hint="delete files or raise limits.disk_mb",
                )
            raise SandboxError(f"writing {path!r} failed: {message}")
        return FileInfo(
            path=posixpath.relpath(full, WORKDIR), size=len(raw), is_dir=False, modified=time.time()
        )

    async def list_files(self, path: str = ".") -> list[FileInfo]:
        self._check_open()
        full = resolve_path(path)
        out = await self._exec(
            ["python3", "-c", _LIST_SCRIPT, full, WORKDIR], stdin=None, timeout=60
        )
        if out.exit_code == 3:
            raise SandboxFileNotFound(f"no such path {path!r} in the sandbox")
        if out.exit_code != 0:
            raise SandboxError(f"listing {path!r} failed: {out.stderr.decode(errors='replace')}")
        return [
            FileInfo(path=p, size=size, is_dir=is_dir, modified=mtime)
            for p, size, is_dir, mtime in json.loads(out.stdout)
        ]

    async def delete_file(self, path: str) -> None:
        self._check_open()
        full = resolve_path(path)
        if full == WORKDIR:
            raise SandboxPathInvalid(
                "refusing to delete the workdir itself", hint="delete its entries"
            )
        script = 'test -e "$1" || test -L "$1" || exit 3; rm -rf -- "$1"'
        out = await self._exec(["sh", "-c", script, "_", full], stdin=None, timeout=60)
        if out.exit_code == 3:
            raise SandboxFileNotFound(f"no such path {path!r} in the sandbox")
        if out.exit_code != 0:
            raise SandboxError(f"deleting {path!r} failed: {out.stderr.decode(errors='replace')}")

    # -- python ---------------------------------------------------------------------------
    async def run_python(self, code: str, *, timeout: float = 30.0) -> PythonResult:
        self._check_open()
        raise SandboxError("kernel not wired")

    async def _close_kernel(self) -> None:
        self._kernel = None
