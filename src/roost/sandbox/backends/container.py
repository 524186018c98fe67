"""What the docker and kubernetes backends share: the same in-sandbox kernel as the
local backends (Python, shell and files over one framed stream), started with ``exec``
in the container and spoken to over the engine's exec stream instead of a pipe.

A backend supplies four primitives: create the container/pod, destroy it, run an argv
to completion, and start an argv with stdin/stdout kept open. Timeouts, restarts, error
codes and path rules then come from :class:`~roost.sandbox.backends.kernel_sandbox.KernelSandbox`, so
every backend answers the same way.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import IO, Any, cast

from roost.sandbox.backends.docker_spec import WORKDIR
from roost.sandbox.backends.kernel_sandbox import KernelSandbox, Launched, kernel_source


class ExecOutput:
    """Raw result of one ``exec`` in the container."""

    __slots__ = ("exit_code", "stderr", "stdout")

    def __init__(self, exit_code: int | None, stdout: bytes, stderr: bytes) -> None:
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr


class StreamChannel:
    """An exec'd process with an open stdin: its stdout arrives in ``reader``, bytes go
    to its stdin through ``write``; ``close`` ends the exec stream. The backend's pump
    calls ``finish`` (thread-safe) when the stream ends."""

    def __init__(
        self,
        write: Callable[[bytes], Coroutine[Any, Any, None]],
        close: Callable[[], Coroutine[Any, Any, None]],
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.reader = asyncio.StreamReader(limit=2**26)
        self.done = asyncio.Event()
        self.write = write
        self.close = close

    def feed(self, data: bytes) -> None:
        """Thread-safe: hand stdout bytes to the reader."""
        self.loop.call_soon_threadsafe(self.reader.feed_data, data)

    def finish(self) -> None:
        """Thread-safe: the exec ended."""

        def done() -> None:
            self.reader.feed_eof()
            self.done.set()

        self.loop.call_soon_threadsafe(done)


class _ChannelWriter:
    """The part of ``asyncio.StreamWriter`` the kernel channel uses, over an exec
    stream: writes are queued in order and sent by one task."""

    def __init__(self, channel: StreamChannel) -> None:
        self._channel = channel
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._task = asyncio.create_task(self._pump())
        self._error: BaseException | None = None

    async def _pump(self) -> None:
        while True:
            data = await self._queue.get()
            try:
                if self._error is None:
                    await self._channel.write(data)
            except Exception as exc:  # the exec stream is gone: the reader sees EOF too
                self._error = exc
            finally:
                self._queue.task_done()

    def write(self, data: bytes) -> None:
        if self._error is not None:
            raise ConnectionResetError(str(self._error))
        self._queue.put_nowait(bytes(data))

    async def drain(self) -> None:
        await self._queue.join()
        if self._error is not None:
            raise ConnectionResetError(str(self._error))

    def close(self) -> None:
        self._task.cancel()
        asyncio.get_running_loop().create_task(self._channel.close())


class _ExecProcess:
    """The part of ``asyncio.subprocess.Process`` the kernel sandbox uses, for a kernel
    running through an exec stream: ``wait`` returns when the stream ends."""

    def __init__(self, channel: StreamChannel) -> None:
        self.stdout = channel.reader
        self.stdin = _ChannelWriter(channel)
        self.pid: int | None = None
        self.returncode: int | None = None
        self._channel = channel

    async def wait(self) -> int:
        await self._channel.done.wait()
        if self.returncode is None:
            self.returncode = -9
        return self.returncode

    def kill(self) -> None:
        self.returncode = -9
        asyncio.get_running_loop().create_task(self._channel.close())


class ContainerSandbox(KernelSandbox):
    """Base of the container backends: one container (pod) per sandbox, no host paths;
    the kernel runs as the container's unprivileged user in ``/workspace``."""

    backend = "container"
    startup_timeout = 60.0
    python = "python3"
    workdir = WORKDIR

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
    async def _open_stream(self, argv: list[str], stderr: IO[bytes]) -> StreamChannel:
        """Start ``argv`` inside the sandbox with stdin/stdout kept open; its stderr is
        appended to ``stderr``."""

    # -- KernelSandbox hooks --------------------------------------------------------------
    async def _prepare(self) -> None:
        await self._create()

    async def _launch(self, stderr: IO[bytes]) -> Launched:
        argv = [
            "sh",
            "-c",
            'cd "$0" && exec "$@"',
            self.workdir,
            self.python,
            "-I",
            "-c",
            kernel_source(),
        ]
        channel = await self._open_stream(argv, stderr)
        # Duck-typed: the kernel sandbox only uses wait/kill/returncode and the streams.
        proc = _ExecProcess(channel)
        writer = cast(asyncio.StreamWriter, proc.stdin)
        return cast(asyncio.subprocess.Process, proc), proc.stdout, writer

    async def _kill_all(self) -> None:
        # Every process of the sandbox user but the container's init (kill -1 skips it).
        with contextlib.suppress(Exception):
            await self._exec(["sh", "-c", "kill -9 -1"], stdin=None, timeout=15)

    async def _teardown(self) -> None:
        await self._destroy()

    def _detail(self) -> dict[str, Any]:
        return dict(self.container_detail)

    container_detail: dict[str, Any]
    """Set by ``_create``: container/pod name and where it runs (kept for orphan reaping)."""
