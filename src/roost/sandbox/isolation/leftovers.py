"""What a local sandbox leaves on the host when its process is killed (``kill -9`` of
``roost sandbox exec``, a crashed server): its workdir (a tmpfs mount), its cgroup
directories and browser launcher files.

A live sandbox holds an flock on ``<runtime dir>/live/<id>.lock`` from before it creates
any of them until after it removed them all; the kernel drops the lock when its process
dies. The first local sandbox start of every process removes what belongs to a lock
nobody holds (decision 0142), so leftovers go at the next start of any Roost sandbox
user, without a binding store.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import threading
from pathlib import Path

from roost.sandbox.isolation.cgroups import SandboxCgroup, layout
from roost.sandbox.isolation.privdrop import runtime_dir
from roost.sandbox.isolation.workdir import remove_workdir

_reaped = False
_reap_lock = threading.Lock()


def _lock_path(sandbox_id: str) -> Path:
    live = runtime_dir() / "live"
    live.mkdir(mode=0o700, exist_ok=True)
    return live / f"{sandbox_id}.lock"


def claim(sandbox_id: str) -> int:
    """Hold the lock of a new sandbox; returns its fd for :func:`release`."""
    path = _lock_path(sandbox_id)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if _still_linked(fd, path):
            return fd
        os.close(fd)  # a reaper removed it between our open and our lock: try again


def note(fd: int, cgroups: list[Path]) -> None:
    """Record the sandbox's cgroups in its lock file: on v1 hosts they nest under its
    process's own cgroup, which another process cannot guess."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, "".join(f"{p}\n" for p in cgroups).encode(), 0)


def release(sandbox_id: str, fd: int) -> None:
    """The sandbox removed everything it made: drop its lock."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_lock_path(sandbox_id))
    os.close(fd)


def _still_linked(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def reaped() -> bool:
    return _reaped


def reap_once() -> list[str]:
    """:func:`reap`, the first time it is called in this process (blocking)."""
    global _reaped
    with _reap_lock:
        if _reaped:
            return []
        _reaped = True
        return reap()


def reap() -> list[str]:
    """Remove what sandboxes of dead processes left; returns their ids."""
    done = []
    for path in sorted((runtime_dir() / "live").glob("*.lock")):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its process is alive
            if not _still_linked(fd, path):
                continue  # another process reaped it first
            noted = os.pread(fd, 1 << 16, 0).decode(errors="replace").split()
            remove(path.stem, [Path(p) for p in noted] or None)
            path.unlink()
            done.append(path.stem)
        finally:
            os.close(fd)
    return done


def remove(sandbox_id: str, cgroups: list[Path] | None = None) -> None:
    """Kill what runs in the sandbox's cgroups (default: where this process would put
    them) and delete everything it made (idempotent)."""
    if cgroups is None:
        cgroups = [base / sandbox_id for base in layout().dirs.values()]
    cgroups = [p for p in cgroups if p.name == sandbox_id and p.exists()]
    if cgroups:
        SandboxCgroup(cgroups, "orphan").destroy()
    root = runtime_dir()
    remove_workdir(root / "work" / sandbox_id)
    remove_workdir(root / "unsafe" / sandbox_id)
    shutil.rmtree(root / "browser" / sandbox_id, ignore_errors=True)
