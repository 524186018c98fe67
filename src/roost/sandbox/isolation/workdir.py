"""Per-sandbox workdirs on the host.

As root the workdir is its own tmpfs mounted with ``size=disk_mb`` (a hard quota that
costs about a millisecond, charged to the sandbox's memory cgroup as it is written)
and owned by the sandbox uid. Without root it is a plain directory: quota is then
checked by the filesystem API and RLIMIT_FSIZE only (see decision 0032).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from roost.sandbox.errors import SandboxUnavailable
from roost.sandbox.isolation.privdrop import is_root, runtime_dir

_libc = ctypes.CDLL(None, use_errno=True)
_MS_NOSUID = 2
_MS_NODEV = 4
_MNT_DETACH = 2


@dataclass
class Workdir:
    path: Path
    quota_enforced: bool

    @classmethod
    def create(cls, sandbox_id: str, uid: int, gid: int, disk_mb: int) -> Workdir:
        path = runtime_dir() / "work" / sandbox_id
        path.parent.mkdir(exist_ok=True)
        os.chmod(path.parent, 0o711 if is_root() else 0o700)
        path.mkdir(mode=0o700)
        if not is_root():
            return cls(path, quota_enforced=False)
        opts = f"size={disk_mb}m,mode=0700,uid={uid},gid={gid}".encode()
        rc = _libc.mount(b"tmpfs", bytes(path), b"tmpfs", _MS_NOSUID | _MS_NODEV, opts)
        if rc != 0:
            err = ctypes.get_errno()
            path.rmdir()
            raise SandboxUnavailable(f"cannot mount the workdir tmpfs: {os.strerror(err)}")
        return cls(path, quota_enforced=True)

    def remove(self) -> None:
        remove_workdir(self.path)


def remove_workdir(path: Path) -> None:
    """Unmount (if mounted) and delete a workdir; idempotent, used for orphans too."""
    if not path.exists():
        return
    if os.path.ismount(path):
        _libc.umount2(bytes(path), _MNT_DETACH)
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)
