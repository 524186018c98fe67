"""``WrappedSandbox``: a sandbox that adds a capability (browser, desktop) to another one.

The wrapper owns the extra processes; everything else — the base API, the health, and
what the manager tracks (session binding, last use) — lives on the wrapped sandbox, so a
pool, the reaper and the bindings table treat both the same.
"""

from __future__ import annotations

from roost.sandbox.base import (
    ExecResult,
    FileInfo,
    PythonResult,
    Sandbox,
    SandboxStatus,
)


class WrappedSandbox(Sandbox):
    """Delegates the base :class:`Sandbox` API to ``inner``; subclasses add the rest."""

    def __init__(self, inner: Sandbox) -> None:
        self.inner = inner
        self.id = inner.id
        self.spec = inner.spec
        self.backend = inner.backend

    # -- what the manager tracks lives on the wrapped sandbox ---------------------------
    @property
    def session_id(self) -> str | None:
        value = getattr(self.inner, "session_id", None)
        return value if isinstance(value, str) else None

    @session_id.setter
    def session_id(self, value: str | None) -> None:
        self.inner.session_id = value  # type: ignore[attr-defined]

    @property
    def last_used_at(self) -> float:
        return float(getattr(self.inner, "last_used_at", 0.0))

    @last_used_at.setter
    def last_used_at(self, value: float) -> None:
        self.inner.last_used_at = value  # type: ignore[attr-defined]

    async def health(self) -> SandboxStatus:
        """The wrapped sandbox's health: a crashed browser or desktop is not a dead
        sandbox, it is started again on the next action."""
        return await self.inner.health()

    def _restarts(self) -> int:
        """How often the wrapped sandbox replaced its processes (a restart kills the
        wrapper's processes too, so they must be started again)."""
        return int(self.inner.info().detail.get("restarts", 0))

    # -- base API, delegated --------------------------------------------------------------
    async def run_python(self, code: str, *, timeout: float = 30.0) -> PythonResult:
        return await self.inner.run_python(code, timeout=timeout)

    async def run_shell(self, command: str, *, timeout: float = 30.0) -> ExecResult:
        return await self.inner.run_shell(command, timeout=timeout)

    async def read_file(self, path: str) -> bytes:
        return await self.inner.read_file(path)

    async def write_file(self, path: str, data: bytes | str) -> FileInfo:
        return await self.inner.write_file(path, data)

    async def list_files(self, path: str = ".") -> list[FileInfo]:
        return await self.inner.list_files(path)

    async def delete_file(self, path: str) -> None:
        await self.inner.delete_file(path)
