"""``unsafe-process``: the kernel as a plain child process, NO isolation.

For development on hosts without bubblewrap only. It is never chosen implicitly: it
must be named (``backend="unsafe-process"``), it logs a warning at every start and its
``info().detail`` carries ``unsafe: True``. Code in it can read and write everything the
server's user can, and processes that leave its process group can outlive ``close()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import IO, Any

from roost.sandbox.backends.kernel_sandbox import KernelSandbox, Launched, kernel_source
from roost.sandbox.isolation import leftovers
from roost.sandbox.isolation.privdrop import runtime_dir
from roost.sandbox.isolation.workdir import remove_workdir

log = logging.getLogger("roost.sandbox")
UNSAFE_WARNING = "unsafe-process sandbox: code runs WITHOUT isolation (development only)"


class UnsafeProcessSandbox(KernelSandbox):
    backend = "unsafe-process"

    _workdir: Path | None = None
    _claim: int | None = None

    @property
    def workdir(self) -> Path | None:
        return self._workdir

    async def _prepare(self) -> None:
        if not leftovers.reaped():  # the first start of this process
            await asyncio.to_thread(leftovers.reap_once)
        self._claim = leftovers.claim(self.id)
        path = runtime_dir() / "unsafe" / self.id
        path.mkdir(parents=True, mode=0o700)
        self._workdir = path

    async def _launch(self, stderr: IO[bytes]) -> Launched:
        assert self._workdir is not None
        log.warning("%s (%s)", UNSAFE_WARNING, self.id)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self._workdir),
            "LANG": "C.UTF-8",
            "MPLBACKEND": "Agg",
            "PYTHONUNBUFFERED": "1",
            **self.spec.env,
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-c",
            kernel_source(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            cwd=self._workdir,
            env=env,
            start_new_session=True,
        )
        assert proc.stdout is not None and proc.stdin is not None
        return proc, proc.stdout, proc.stdin

    async def _kill_all(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)

    async def _teardown(self) -> None:
        if self._workdir is not None:
            await asyncio.to_thread(remove_workdir, self._workdir)
            self._workdir = None
        if self._claim is not None:
            leftovers.release(self.id, self._claim)
            self._claim = None

    def _detail(self) -> dict[str, Any]:
        return {
            "unsafe": True,
            "warning": UNSAFE_WARNING,
            "workdir": str(self._workdir) if self._workdir else None,
        }
