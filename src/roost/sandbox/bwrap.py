"""The default backend: bubblewrap namespaces + seccomp + cgroups + rlimits, started as
a dedicated unprivileged uid. Fails closed (``SandboxUnavailable``) when the host cannot
provide any of it."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import resource
import socket
import sys
import time
from pathlib import Path
from typing import IO, Any

from roost.sandbox import _leftovers, _privdrop, _seccomp
from roost.sandbox._cgroups import SandboxCgroup
from roost.sandbox._local import (
    KernelSandbox,
    Launched,
    cached_kernel,
    compiled_kernel,
    kernel_source,
)
from roost.sandbox._workdir import Workdir
from roost.sandbox.base import SandboxSpec
from roost.sandbox.errors import SandboxQuotaExceeded, SandboxUnavailable

WORKDIR = "/workspace"
_ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/mime.types",
    "/etc/matplotlibrc",  # Debian's matplotlib reads its rc file from /etc
)
_NETWORK_ETC = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/gai.conf")


def _userns_available() -> str | None:
    """None when unprivileged user namespaces can be created, else why not."""
    for path, bad in (
        ("/proc/sys/user/max_user_namespaces", "0"),
        ("/proc/sys/kernel/unprivileged_userns_clone", "0"),
        ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1"),
    ):
        with contextlib.suppress(OSError):
            if Path(path).read_text().strip() == bad:
                return f"{path} is {bad}: the kernel refuses unprivileged user namespaces"
    return None


def sandbox_python() -> tuple[str, list[str]]:
    """(interpreter path, extra read-only binds) for the kernel inside the sandbox.

    The supervisor's own interpreter when the sandbox uid can reach it, else the
    system ``/usr/bin/python3``. Override with ``ROOST_SANDBOX_PYTHON``.
    """
    override = os.environ.get("ROOST_SANDBOX_PYTHON")
    candidates = [override] if override else [sys.executable, "/usr/bin/python3"]
    for exe in candidates:
        if not exe or not Path(exe).exists():
            continue
        real = os.path.realpath(exe)
        if _privdrop.is_root() and not _privdrop.world_reachable(real):
            continue
        binds = []
        for prefix in {sys.base_prefix, sys.prefix} if exe == sys.executable else set():
            if not prefix.startswith("/usr/"):
                binds.append(prefix)
        if not real.startswith("/usr/") and exe != sys.executable:
            binds.append(str(Path(real).parent.parent))
        return real, sorted(binds)
    raise SandboxUnavailable(
        "no Python interpreter the sandbox uid can run",
        hint="install python3 under /usr or set ROOST_SANDBOX_PYTHON",
    )


_KERNEL_INSIDE = "/.roost-kernel.pyc"


@functools.cache
def _static_args(network: bool) -> tuple[str, ...]:
    """The part of the bwrap argv that depends only on the host and ``network``
    (namespaces, /usr and /etc binds): built once per process."""
    argv = [
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--hostname",
        "sandbox",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    if network:
        argv.append("--share-net")
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / name
        if host.is_symlink():
            argv += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            argv += ["--ro-bind", str(host), f"/{name}"]
    for path in _ETC_FILES + (_NETWORK_ETC if network else ()):
        argv += ["--ro-bind-try", path, path]
    return tuple(argv)


class BwrapSandbox(KernelSandbox):
    """A bubblewrap sandbox; see the module docstring and decisions 0030-0033."""

    backend = "bwrap"

    def __init__(self, spec: SandboxSpec | None = None, *, sandbox_id: str | None = None) -> None:
        super().__init__(spec, sandbox_id=sandbox_id)
        self._lease: _privdrop.UidLease | None = None
        self._cgroup: SandboxCgroup | None = None
        self._workdir: Workdir | None = None
        self._claim: int | None = None
        self._oom_before = 0

    @property
    def workdir(self) -> Path | None:
        return self._workdir.path if self._workdir else None

    @property
    def uid(self) -> int | None:
        return self._lease.uid if self._lease else None

    @property
    def cgroup_paths(self) -> list[str]:
        return [str(p) for p in self._cgroup.paths] if self._cgroup else []

    async def _prepare(self) -> None:
        reason = _userns_available()
        if reason:
            raise SandboxUnavailable(reason, hint="enable user namespaces or use docker/kubernetes")
        if not _leftovers.reaped():  # the first start of this process
            await asyncio.to_thread(_leftovers.reap_once)
        limits = self.spec.limits
        t0 = time.monotonic()
        self._claim = _leftovers.claim(self.id)  # before anything that could be left over
        self._lease = _privdrop.lease_uid()
        t1 = time.monotonic()
        self._cgroup = SandboxCgroup.create(self.id, limits)
        t2 = time.monotonic()
        self._workdir = Workdir.create(self.id, self._lease.uid, self._lease.gid, limits.disk_mb)
        if _privdrop.is_root() and not self._workdir.quota_enforced:
            os.chown(self._workdir.path, self._lease.uid, self._lease.gid)
        t3 = time.monotonic()
        self.startup_ms.update(
            {
                "uid_lease": round((t1 - t0) * 1000, 3),
                "cgroup_create": round((t2 - t1) * 1000, 3),
                "workdir_tmpfs": round((t3 - t2) * 1000, 3),
            }
        )

    def _isolation_argv(self, binds: list[str], passwd_fd: int, seccomp_fd: int) -> list[str]:
        """bwrap and every option up to (not including) the program to run in it."""
        assert self._workdir is not None
        limits = self.spec.limits
        argv = [
            _privdrop.bwrap_binary(_privdrop.is_root()),
            *_static_args(self.spec.network),
        ]
        for path in binds:
            argv += ["--ro-bind", path, path]
        argv += [
            "--ro-bind-data",
            str(passwd_fd),
            "/etc/passwd",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            str(max(16, limits.disk_mb // 2) << 20),
            "--perms",
            "1777",
            "--tmpfs",
            "/tmp",
            "--bind",
            str(self._workdir.path),
            WORKDIR,
            "--chdir",
            WORKDIR,
            "--seccomp",
            str(seccomp_fd),
        ]
        return argv

    def _argv(self, python: str, binds: list[str], passwd_fd: int, seccomp_fd: int) -> list[str]:
        """The isolation argv + ``python -I -c <kernel source>`` (kept in this shape for
        callers that reuse the prefix; the kernel itself starts with ``_kernel_argv``)."""
        return [
            *self._isolation_argv(binds, passwd_fd, seccomp_fd),
            python,
            "-I",
            "-c",
            kernel_source(),
        ]

    def _kernel_argv(
        self,
        python: str,
        binds: list[str],
        passwd_fd: int,
        seccomp_fd: int,
        pyc: Path | None,
        channel_fd: int,
    ) -> list[str]:
        """What ``_launch`` runs: ``-S`` (site is completed by the kernel after its ready
        frame) and the precompiled kernel bound read-only, else its source with ``-c``;
        the channel is the socket ``channel_fd``, not stdio (bwrap's pid 1 keeps its
        stdio open, and only the supervisor may hold the channel)."""
        argv = self._isolation_argv(binds, passwd_fd, seccomp_fd)
        fd = str(channel_fd)
        if pyc is None:
            return [*argv, python, "-I", "-S", "-c", kernel_source(), fd]
        inside = [python, "-I", "-S", _KERNEL_INSIDE, fd]
        return [*argv, "--ro-bind", str(pyc), _KERNEL_INSIDE, *inside]

    def _env(self) -> dict[str, str]:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": WORKDIR,
            "TMPDIR": "/tmp",
            "LANG": "C.UTF-8",
            "MPLBACKEND": "Agg",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        env.update(self.spec.env)
        return env

    async def _launch(self, stderr: IO[bytes]) -> Launched:
        assert self._lease is not None and self._cgroup is not None
        python, binds = sandbox_python()
        limits = self.spec.limits
        rlimits = {
            resource.RLIMIT_CORE: 0,
            resource.RLIMIT_FSIZE: limits.max_file_mb << 20,
            resource.RLIMIT_NOFILE: 1024,
        }
        if _privdrop.is_root():
            # NPROC counts per real uid: with one uid per sandbox it is per sandbox.
            rlimits[resource.RLIMIT_NPROC] = limits.pids
        kernel_dir = _privdrop.runtime_dir() / "kernel"
        pyc = cached_kernel(python, kernel_dir) or await asyncio.to_thread(
            compiled_kernel, python, kernel_dir
        )
        uid = self._lease.uid
        passwd = f"root:x:0:0::/:/usr/sbin/nologin\nsandbox:x:{uid}:{uid}::{WORKDIR}:/bin/sh\n"
        passwd_fd = os.memfd_create("roost-passwd")
        os.write(passwd_fd, passwd.encode())
        os.lseek(passwd_fd, 0, os.SEEK_SET)
        t0 = time.monotonic()
        seccomp_fd = _seccomp.filter_fd()
        self.startup_ms["seccomp_fd"] = round((time.monotonic() - t0) * 1000, 3)
        self._oom_before = self._cgroup.oom_kills()
        host_end, kernel_end = socket.socketpair()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._kernel_argv(python, binds, passwd_fd, seccomp_fd, pyc, kernel_end.fileno()),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
                env=self._env(),
                cwd="/",
                pass_fds=(passwd_fd, seccomp_fd, kernel_end.fileno()),
                preexec_fn=_privdrop.make_preexec(self._lease, self._cgroup.entry_files, rlimits),
            )
        except BaseException:
            host_end.close()
            raise
        finally:
            kernel_end.close()
            os.close(passwd_fd)
            os.close(seccomp_fd)
        reader, writer = await asyncio.open_unix_connection(sock=host_end)
        return proc, reader, writer

    async def _kill_all(self) -> None:
        if self._cgroup is not None:
            await asyncio.to_thread(self._cgroup.kill)

    async def _teardown(self) -> None:
        if self._cgroup is not None:
            await asyncio.to_thread(self._cgroup.destroy)
            self._cgroup = None
        if self._workdir is not None:
            await asyncio.to_thread(self._workdir.remove)
            self._workdir = None
        if self._lease is not None:
            self._lease.release()
            self._lease = None
        if self._claim is not None:
            _leftovers.release(self.id, self._claim)
            self._claim = None

    def _death_reason(self, returncode: int | None) -> str:
        if self._cgroup is not None and self._cgroup.oom_kills() > self._oom_before:
            return f"out of memory: the {self.spec.limits.memory_mb} MB limit was hit"
        return super()._death_reason(returncode)

    async def _check_quota(self, nbytes: int) -> None:
        if self._workdir is None or self._workdir.quota_enforced:
            return
        used = await asyncio.to_thread(_du, self._workdir.path)
        if used + nbytes > self.spec.limits.disk_mb << 20:
            raise SandboxQuotaExceeded(
                f"writing {nbytes} bytes would exceed the {self.spec.limits.disk_mb} MB workdir",
                hint="delete files or raise limits.disk_mb",
            )

    def _detail(self) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "uid": self.uid,
            "workdir": str(self.workdir) if self.workdir else None,
            "cgroups": self.cgroup_paths,
            "quota_enforced": bool(self._workdir and self._workdir.quota_enforced),
        }
        if self._cgroup is not None:
            detail["memory_bytes"] = self._cgroup.memory_bytes()
            detail["oom_kills"] = self._cgroup.oom_kills()
            detail["pids_limit_hits"] = self._cgroup.pids_limit_hits()
        return detail


async def reap_orphan(detail: dict[str, Any]) -> None:
    """Kill and remove what a sandbox of a dead manager left: processes in its cgroups,
    the cgroup directories and the workdir (with its tmpfs)."""
    from roost.sandbox._workdir import remove_workdir

    paths = [Path(p) for p in detail.get("cgroups") or []]
    if paths:
        await asyncio.to_thread(SandboxCgroup(paths, "orphan").destroy)
    workdir = detail.get("workdir")
    if workdir:
        await asyncio.to_thread(remove_workdir, Path(workdir))


def _du(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total
