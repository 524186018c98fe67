"""What the local backends (bwrap, unsafe-process) share: a kernel process spoken to
over :mod:`roost.sandbox.isolation.channel`, timeouts, interruption and clean replacement."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from roost.core import ImageBlock, new_id
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
    SandboxError,
    SandboxFileNotFound,
    SandboxFileTooLarge,
    SandboxPathInvalid,
    SandboxProtocolError,
    SandboxQuotaExceeded,
    SandboxUnavailable,
)
from roost.sandbox.isolation.channel import (
    EXEC_LIMIT,
    LIST_LIMIT,
    SHELL_LIMIT,
    Frame,
    KernelChannel,
    KernelGone,
    Parts,
    data,
    text,
)

log = logging.getLogger("roost.sandbox")

Launched = tuple[asyncio.subprocess.Process, asyncio.StreamReader, asyncio.StreamWriter]
"""What a backend's ``_launch`` returns: the kernel process and its channel's two ends."""

_ERRORS: dict[str, type[SandboxError]] = {
    cls.code: cls
    for cls in (SandboxPathInvalid, SandboxFileNotFound, SandboxFileTooLarge, SandboxQuotaExceeded)
}
_SHELL_GRACE = 5.0
CELL_BROKE_PROTOCOL = 86
"""The kernel's exit status when its cell interpreter sent a forged or oversized answer."""


KERNEL_FILENAME = "<roost-kernel>"
"""``co_filename`` of the compiled kernel (the kernel drops these frames from tracebacks)."""
_COMPILE = (
    "import py_compile, sys; "
    "py_compile.compile(sys.argv[1], cfile=sys.argv[2], dfile=sys.argv[3], doraise=True)"
)
_PYC: dict[tuple[str, str], Path] = {}
_PYC_FAILED: set[tuple[str, str]] = set()
_PYC_LOCK = threading.Lock()


_KERNEL_PATH = Path(__file__).parent.parent / "isolation" / "kernel.py"


@functools.cache
def kernel_source() -> str:
    return _KERNEL_PATH.read_text()


def compiled_kernel(python: str, directory: Path) -> Path | None:
    """The kernel as a ``.pyc`` compiled by ``python`` itself (so the bytecode matches
    the sandbox's interpreter), cached in ``directory`` across processes. Starting from
    it instead of ``-c`` source saves the compile on every sandbox start. None when it
    cannot be built (the caller then passes the source with ``-c``). Blocking: call it
    from a thread."""
    with _PYC_LOCK:  # a burst of first starts compiles once, the others wait for it
        return _compile_kernel(python, directory)


def _compile_kernel(python: str, directory: Path) -> Path | None:
    cached = cached_kernel(python, directory)
    if cached is not None or (python, str(directory)) in _PYC_FAILED:
        return cached
    try:
        st = os.stat(python)
        digest = hashlib.sha256(
            f"{kernel_source()}\0{python}\0{st.st_size}\0{st.st_mtime_ns}".encode()
        ).hexdigest()[:24]
        directory.mkdir(mode=0o755, exist_ok=True)
        os.chmod(directory, 0o755)
        target = directory / f"kernel-{digest}.pyc"
        if not target.exists():
            tmp = directory / f".kernel-{digest}.{os.getpid()}.pyc"
            subprocess.run(
                [python, "-I", "-S", "-c", _COMPILE, str(_KERNEL_PATH), str(tmp), KERNEL_FILENAME],
                check=True,
                capture_output=True,
                timeout=60,
                cwd="/",
            )
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("cannot precompile the sandbox kernel with %s: %s", python, exc)
        _PYC_FAILED.add((python, str(directory)))
        return None
    _PYC[(python, str(directory))] = target
    return target


def cached_kernel(python: str, directory: Path) -> Path | None:
    """The kernel ``.pyc`` when this process already built or found it (no blocking)."""
    cached = _PYC.get((python, str(directory)))
    return cached if cached is not None and cached.exists() else None


def check_relpath(path: str) -> str:
    """Reject paths that cannot be inside the workdir before asking the kernel."""
    if not isinstance(path, str) or not path or "\0" in path:
        raise SandboxPathInvalid(f"{path!r} is not a valid path", hint="use e.g. 'data/out.csv'")
    if path.startswith("/"):
        raise SandboxPathInvalid(
            f"{path!r} is absolute", hint="paths are relative to the sandbox workdir"
        )
    if ".." in path.split("/"):
        raise SandboxPathInvalid(f"{path!r} contains '..'", hint="stay inside the workdir")
    return path


class KernelSandbox(Sandbox, abc.ABC):
    """A sandbox whose Python runs in a kernel process started by ``_launch``."""

    backend: str = "local"
    startup_timeout: float = 15.0
    interrupt_grace: float = 2.0

    def __init__(self, spec: SandboxSpec | None = None, *, sandbox_id: str | None = None) -> None:
        self.id = sandbox_id or new_id("sbx")
        self.spec = spec or SandboxSpec()
        self.session_id: str | None = None
        self.created_at = time.time()
        self.last_used_at = self.created_at
        self.restarts = 0
        self.last_death: str | None = None
        self._status = SandboxStatus.STARTING
        self._proc: asyncio.subprocess.Process | None = None
        self._chan: KernelChannel | None = None
        self._stderr: IO[bytes] | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._cell_lock = asyncio.Lock()
        self._life_lock = asyncio.Lock()
        self._expect_exit = False
        self._violation: str | None = None
        self.kernel_pid: int | None = None
        self.startup_ms: dict[str, float] = {}
        """Phases of the last start in ms (backend ``_prepare`` steps, spawn, namespace
        set-up + interpreter start, kernel init, ready handshake); see bench/sandbox.py."""

    # -- backend hooks -----------------------------------------------------------------
    @abc.abstractmethod
    async def _prepare(self) -> None:
        """Allocate what lives as long as the sandbox (uid, cgroup, workdir)."""

    @abc.abstractmethod
    async def _launch(self, stderr: IO[bytes]) -> Launched:
        """Start the kernel; returns the process and the two ends of its channel."""

    @abc.abstractmethod
    async def _kill_all(self) -> None:
        """Kill every process of the sandbox (the kernel and anything it spawned)."""

    @abc.abstractmethod
    async def _teardown(self) -> None:
        """Release what ``_prepare`` allocated (workdir, cgroup, uid)."""

    def _death_reason(self, returncode: int | None) -> str:
        if self._violation is not None:
            return self._violation
        if returncode == CELL_BROKE_PROTOCOL:
            return "the cell interpreter sent a forged or oversized answer (killed)"
        if returncode is not None and returncode < 0:
            return f"killed by signal {-returncode}"
        return f"exit code {returncode}"

    def _protocol_violation(self, reason: str) -> None:
        """The kernel's channel carried a bad frame: kill the kernel now (it is never left
        ready); the next call replaces it."""
        self._violation = f"protocol violation: {reason}"
        log.warning("sandbox %s: %s; killing it", self.id, self._violation)
        if self._status is not SandboxStatus.CLOSED:
            self._status = SandboxStatus.DEAD
            self.last_death = self._violation
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                if proc.pid:  # not Popen.kill: its poll() would steal the exit status
                    os.kill(proc.pid, signal.SIGKILL)  # from asyncio's child watcher
                else:
                    proc.kill()

    def _detail(self) -> dict[str, Any]:
        return {}

    async def _check_quota(self, nbytes: int) -> None:
        """Backends without a hard workdir quota check it here before a write."""

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        if self._status is SandboxStatus.CLOSED:
            raise SandboxClosed(f"sandbox {self.id} is closed")
        async with self._life_lock:
            if self._chan is not None:
                return
            try:
                await self._prepare()
                await self._spawn()
            except BaseException:
                await self._shutdown()
                self._status = SandboxStatus.CLOSED
                raise
            self._status = SandboxStatus.READY

    async def _spawn(self) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in _stop_kernel
        self._expect_exit = False
        self._violation = None
        t_launch = time.monotonic()
        proc, reader, writer = await self._launch(self._stderr)
        t_spawned = time.monotonic()
        self._proc = proc
        chan = KernelChannel(reader, writer, on_violation=self._protocol_violation)
        try:
            ready = await chan.wait_ready(self.startup_timeout)
        except (KernelGone, TimeoutError) as exc:
            await chan.aclose()
            await self._kill_all()
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            if self._violation is not None:
                raise SandboxUnavailable(
                    f"the {self.backend} sandbox failed to start: {self._violation}"
                ) from None
            raise SandboxUnavailable(
                f"the {self.backend} sandbox failed to start: {self._stderr_text() or exc!r}"
            ) from None
        t_answered = time.monotonic()
        self.kernel_pid = int(ready.get("pid", 0)) or None
        self._record_startup(ready, t_launch, t_spawned, t_answered)
        self._chan = chan
        self._monitor = asyncio.create_task(self._watch(proc))

    def _record_startup(
        self, ready: dict[str, Any], t_launch: float, t_spawned: float, t_answered: float
    ) -> None:
        """Where the last kernel start spent its time, in ms (``startup_ms``). The kernel
        reports CLOCK_MONOTONIC, which the sandbox shares with the host."""
        phases = {"spawn": t_spawned - t_launch, "launch_to_ready": t_answered - t_launch}
        t_main, t_ready = ready.get("t_main"), ready.get("t_ready")
        if (
            isinstance(t_main, float)
            and isinstance(t_ready, float)
            and t_launch <= t_main <= t_ready <= t_answered  # same clock (not a remote pod)
        ):
            # spawn + namespace set-up + interpreter start, then the kernel's own init.
            phases["launch_to_kernel_main"] = t_main - t_launch
            phases["kernel_init"] = t_ready - t_main
            phases["ready_to_host"] = t_answered - t_ready
        self.startup_ms.update({k: round(v * 1000, 3) for k, v in phases.items()})

    def _stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read(4000).decode(errors="replace").strip()

    async def _watch(self, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        if not self._expect_exit and self._status not in (SandboxStatus.CLOSED,):
            self.last_death = self._death_reason(code)
            self._status = SandboxStatus.DEAD
            log.warning("sandbox %s died: %s", self.id, self.last_death)

    async def _stop_kernel(self) -> None:
        self._expect_exit = True
        if self._monitor is not None:
            self._monitor.cancel()
            self._monitor = None
        if self._chan is not None:
            await self._chan.aclose()
            self._chan = None
        await self._kill_all()
        if self._proc is not None:
            # Let the child watcher reap what _kill_all killed before signalling it
            # ourselves: Popen.kill() polls first and would steal the exit status from the
            # watcher ("Unknown child process pid", returncode 255).
            try:
                await asyncio.wait_for(asyncio.shield(self._proc.wait()), 1.0)
            except Exception:  # TimeoutError included
                with contextlib.suppress(ProcessLookupError):
                    self._proc.kill()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._proc.wait(), 5)
            self._proc = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    async def restart(self, reason: str) -> None:
        """Replace the kernel (every process of the sandbox dies; workdir files stay)."""
        async with self._life_lock:
            self._check_open()
            await self._stop_kernel()
            self.restarts += 1
            self.last_death = reason
            try:
                await self._spawn()
            except SandboxError:
                self._status = SandboxStatus.DEAD
                raise
            self._status = SandboxStatus.RESTARTED

    async def _shutdown(self) -> None:
        await self._stop_kernel()
        await self._teardown()

    async def close(self) -> None:
        async with self._life_lock:
            if self._status is SandboxStatus.CLOSED:
                return
            self._status = SandboxStatus.CLOSED
            await self._shutdown()

    def _check_open(self) -> None:
        if self._status is SandboxStatus.CLOSED:
            raise SandboxClosed(f"sandbox {self.id} is closed", hint="acquire a new sandbox")

    async def _live_channel(self) -> tuple[KernelChannel, bool]:
        """The channel, restarting a dead kernel first (the bool says it was restarted)."""
        self._check_open()
        if self._chan is None and self._status is SandboxStatus.STARTING:
            await self.start()
        restarted = False
        if self._chan is None or self._chan.closed or self._status is SandboxStatus.DEAD:
            await self.restart(self.last_death or "the kernel was not running")
            restarted = True
        assert self._chan is not None
        self.last_used_at = time.time()
        return self._chan, restarted

    def info(self) -> SandboxInfo:
        detail: dict[str, Any] = {"restarts": self.restarts, **self._detail()}
        if self.last_death:
            detail["last_death"] = self.last_death
        return SandboxInfo(
            id=self.id,
            type=self.spec.type,
            backend=self.backend,
            status=self._status,
            network=self.spec.network,
            session_id=self.session_id,
            created_at=self.created_at,
            last_used_at=self.last_used_at,
            detail=detail,
        )

    async def health(self) -> SandboxStatus:
        if self._status in (SandboxStatus.CLOSED, SandboxStatus.DEAD):
            return self._status
        chan = self._chan
        if chan is None or chan.closed:
            return (
                SandboxStatus.DEAD if self._status is not SandboxStatus.STARTING else self._status
            )
        try:
            await chan.request({"op": "ping"}, timeout=5.0)
        except (KernelGone, TimeoutError, SandboxError):
            if not self._cell_lock.locked():
                self._status = SandboxStatus.DEAD
                self.last_death = self.last_death or "did not answer a health check"
            return self._status
        return self._status

    # -- python ------------------------------------------------------------------------
    async def run_python(self, code: str, *, timeout: float = 30.0) -> PythonResult:
        async with self._cell_lock:
            chan, restarted = await self._live_channel()
            prev = self._status
            self._status = SandboxStatus.BUSY
            start = time.perf_counter()
            rid = chan.new_id()
            fut = chan.expect(rid, EXEC_LIMIT)
            try:
                chan.send({"op": "exec", "id": rid, "code": code})
                try:
                    header, parts = await asyncio.wait_for(asyncio.shield(fut), timeout)
                except TimeoutError:
                    with contextlib.suppress(KernelGone):
                        chan.send({"op": "interrupt", "id": chan.new_id(), "target": rid})
                    try:
                        header, parts = await asyncio.wait_for(fut, self.interrupt_grace)
                    except TimeoutError:
                        chan.abandon(rid)
                        await self.restart(f"a cell did not stop {timeout}s after its timeout")
                        return PythonResult(
                            error=f"Timeout: the cell ran longer than {timeout}s and did not stop "
                            "when interrupted; the interpreter was replaced (variables are lost, "
                            "workdir files are kept)",
                            timed_out=True,
                            restarted=True,
                            duration_ms=(time.perf_counter() - start) * 1000,
                        )
                    self._status = SandboxStatus.READY
                    return self._python_result(header, parts, timed_out=True, restarted=restarted)
            except (KernelGone, SandboxError) as exc:
                if isinstance(exc, SandboxClosed):
                    raise
                return await self._died_during_call(start, exc)
            finally:
                if self._status is SandboxStatus.BUSY:
                    self._status = (
                        SandboxStatus.READY if prev is not SandboxStatus.RESTARTED else prev
                    )
            if self._status is SandboxStatus.BUSY:
                self._status = SandboxStatus.READY
            return self._python_result(header, parts, timed_out=False, restarted=restarted)

    async def _died_during_call(self, start: float, exc: BaseException) -> PythonResult:
        proc = self._proc
        code = None
        if proc is not None:
            with contextlib.suppress(TimeoutError):
                code = await asyncio.wait_for(proc.wait(), 2)
        reason = self._death_reason(code)
        self._check_open()
        await self.restart(reason)
        return PythonResult(
            error=f"SandboxDied: the interpreter was killed ({reason}); it was replaced "
            "(variables are lost, workdir files are kept)",
            restarted=True,
            duration_ms=(time.perf_counter() - start) * 1000,
        )

    def _python_result(
        self, h: dict[str, Any], parts: Parts, *, timed_out: bool, restarted: bool
    ) -> PythonResult:
        return PythonResult(
            stdout=text(parts, "stdout") or "",
            stderr=text(parts, "stderr") or "",
            result=text(parts, "result"),
            error=text(parts, "error"),
            images=[ImageBlock.from_bytes(png, "image/png") for n, png in parts if n == "image"],
            timed_out=timed_out or h.get("interrupted") is True,
            restarted=restarted,
            duration_ms=_number(h.get("duration_ms")),
        )

    # -- shell -------------------------------------------------------------------------
    async def run_shell(self, command: str, *, timeout: float = 30.0) -> ExecResult:
        chan, restarted = await self._live_channel()
        start = time.perf_counter()
        try:
            header, parts = await chan.request(
                {"op": "shell", "command": command, "timeout": timeout},
                timeout=timeout + _SHELL_GRACE,
                limit=SHELL_LIMIT,
            )
        except TimeoutError:
            await self.restart("the kernel stopped answering during a shell command")
            return ExecResult(
                stderr="the sandbox stopped answering; it was restarted",
                timed_out=True,
                restarted=True,
                duration_ms=(time.perf_counter() - start) * 1000,
            )
        except (KernelGone, SandboxProtocolError) as exc:
            died = await self._died_during_call(start, exc)
            return ExecResult(stderr=died.error or "", restarted=True, duration_ms=died.duration_ms)
        self._raise_for(header)
        code = header.get("exit_code")
        return ExecResult(
            stdout=text(parts, "stdout") or "",
            stderr=text(parts, "stderr") or "",
            exit_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
            timed_out=header.get("timed_out") is True,
            restarted=restarted,
            duration_ms=_number(header.get("duration_ms")),
        )

    # -- filesystem --------------------------------------------------------------------
    def _raise_for(self, header: dict[str, Any]) -> None:
        if header.get("ok", False):
            return
        cls = _ERRORS.get(str(header.get("code")), SandboxError)
        raise cls(str(header.get("message", "sandbox file operation failed")))

    async def _fs(self, header: dict[str, Any], payload: bytes = b"", limit: int = 0) -> Frame:
        chan, _ = await self._live_channel()
        try:
            resp = await chan.request(header, payload, timeout=60.0, limit=limit)
        except (KernelGone, TimeoutError):
            raise SandboxDead(
                f"sandbox {self.id} stopped answering a file operation", hint="retry the call"
            ) from None
        self._raise_for(resp[0])
        return resp

    @property
    def _max_file(self) -> int:
        return self.spec.limits.max_file_mb << 20

    async def read_file(self, path: str) -> bytes:
        request = {"op": "read", "path": check_relpath(path), "max_bytes": self._max_file}
        _, parts = await self._fs(request, limit=self._max_file)
        return data(parts, "data")

    async def write_file(self, path: str, data: bytes | str) -> FileInfo:
        raw = data.encode() if isinstance(data, str) else bytes(data)
        if len(raw) > self._max_file:
            raise SandboxFileTooLarge(
                f"{len(raw)} bytes is over the sandbox limit of {self._max_file} bytes",
                hint="raise limits.max_file_mb or write a smaller file",
            )
        await self._check_quota(len(raw))
        header, _ = await self._fs({"op": "write", "path": check_relpath(path)}, raw)
        try:
            return FileInfo.model_validate(header)
        except ValueError:
            raise SandboxProtocolError("the sandbox sent a malformed file info") from None

    async def list_files(self, path: str = ".") -> list[FileInfo]:
        _, parts = await self._fs({"op": "list", "path": check_relpath(path)}, limit=LIST_LIMIT)
        fields = data(parts, "files").split(b"\0")
        try:
            if len(fields) % 4 != 1:
                raise ValueError(len(fields))
            return [
                FileInfo(
                    path=fields[i].decode("utf-8", "replace"),
                    size=int(fields[i + 1]),
                    is_dir=fields[i + 2] == b"1",
                    modified=float(fields[i + 3]),
                )
                for i in range(0, len(fields) - 1, 4)
            ]
        except ValueError:
            raise SandboxProtocolError("the sandbox sent a malformed file listing") from None

    async def delete_file(self, path: str) -> None:
        await self._fs({"op": "delete", "path": check_relpath(path)})


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
