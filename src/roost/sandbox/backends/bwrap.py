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
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from roost.core import get_settings
from roost.sandbox.backends.kernel_sandbox import (
    KernelSandbox,
    Launched,
    cached_kernel,
    compiled_kernel,
    kernel_source,
)
from roost.sandbox.base import SandboxSpec
from roost.sandbox.errors import SandboxError, SandboxQuotaExceeded, SandboxUnavailable
from roost.sandbox.isolation import leftovers, privdrop, seccomp
from roost.sandbox.isolation.cgroups import SandboxCgroup
from roost.sandbox.isolation.workdir import Workdir

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
    override = get_settings().sandbox_python
    candidates = [override] if override else [sys.executable, "/usr/bin/python3"]
    for exe in candidates:
        if not exe or not Path(exe).exists():
            continue
        real = os.path.realpath(exe)
        if privdrop.is_root() and not privdrop.world_reachable(real):
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
_EXTRA_BIN = "/opt/roost/bin"
"""Commands the sandbox adds to the host's (on its tmpfs root, last on ``PATH``)."""
_EXTRA_BINDS = ("/etc/fonts", "/usr/share/fonts", "/var/cache/fontconfig")
"""Read-only paths a program started with ``isolated`` may need (fonts for Chromium)."""


@dataclass
class IsolatedCommand:
    """How to start one more process inside an existing sandbox's isolation: the full
    argv (bwrap … program), its environment, and what the launcher applies before exec
    (cgroups, rlimits, uid drop, files handed over as fds)."""

    argv: list[str]
    env: dict[str, str]
    procs_files: list[str]
    rlimits: dict[int, int]
    uid: int
    gid: int
    drop: bool
    fd_files: dict[str, bytes]
    """``{placeholder}`` in the argv → bytes the process reads from an inherited fd."""
    workdir_inside: str


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
    if Path("/usr/bin/python3").exists() and not Path("/usr/bin/python").exists():
        # Debian has no `python`; models (and people) type it: it is python3 here
        argv += ["--symlink", "/usr/bin/python3", f"{_EXTRA_BIN}/python"]
    return tuple(argv)


class BwrapSandbox(KernelSandbox):
    """A bubblewrap sandbox; see the module docstring and decisions 0030-0033."""

    backend = "bwrap"

    def __init__(self, spec: SandboxSpec | None = None, *, sandbox_id: str | None = None) -> None:
        super().__init__(spec, sandbox_id=sandbox_id)
        self._lease: privdrop.UidLease | None = None
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
        if not leftovers.reaped():  # the first start of this process
            await asyncio.to_thread(leftovers.reap_once)
        limits = self.spec.limits
        t0 = time.monotonic()
        self._claim = leftovers.claim(self.id)  # before anything that could be left over
        self._lease = privdrop.lease_uid()
        t1 = time.monotonic()
        self._cgroup = SandboxCgroup.create(self.id, limits)
        leftovers.note(self._claim, self._cgroup.paths)
        t2 = time.monotonic()
        self._workdir = Workdir.create(self.id, self._lease.uid, self._lease.gid, limits.disk_mb)
        if privdrop.is_root() and not self._workdir.quota_enforced:
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
            privdrop.bwrap_binary(privdrop.is_root()),
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
            "PATH": f"/usr/local/bin:/usr/bin:/bin:{_EXTRA_BIN}",
            "HOME": WORKDIR,
            "TMPDIR": "/tmp",
            "LANG": "C.UTF-8",
            "MPLBACKEND": "Agg",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        env.update(self.spec.env)
        return env

    def _rlimits(self, nofile: int) -> dict[int, int]:
        limits = self.spec.limits
        rlimits = {
            resource.RLIMIT_CORE: 0,
            resource.RLIMIT_FSIZE: limits.max_file_mb << 20,
            resource.RLIMIT_NOFILE: nofile,
        }
        if privdrop.is_root():
            # NPROC counts per real uid: with one uid per sandbox it is per sandbox.
            rlimits[resource.RLIMIT_NPROC] = limits.pids
        return rlimits

    def _passwd(self) -> bytes:
        assert self._lease is not None
        uid, gid = self._lease.uid, self._lease.gid
        return (
            f"root:x:0:0::/:/usr/sbin/nologin\nsandbox:x:{uid}:{gid}::{WORKDIR}:/bin/sh\n".encode()
        )

    async def isolated(self, program: list[str]) -> IsolatedCommand:
        """How to run one more program in this started sandbox's isolation (its uid,
        cgroups, rlimits, seccomp filter, workdir and network: a second bwrap), e.g. the
        browser. File descriptors are ``{placeholders}`` the launcher fills in."""
        if self._lease is None or self._cgroup is None or self._workdir is None:
            raise SandboxError("the sandbox is not started", hint="call start() first")
        _, binds = sandbox_python()
        argv = self._isolation_argv(binds, -1, -2)
        argv[argv.index("--ro-bind-data") + 1] = "{passwd_fd}"
        at = argv.index("--seccomp")
        argv[at + 1] = "{seccomp_fd}"
        for path in _EXTRA_BINDS:
            argv[at:at] = ["--ro-bind-try", path, path]
        env = {**self._env(), "XDG_CONFIG_HOME": "/tmp/.config", "XDG_CACHE_HOME": "/tmp/.cache"}
        return IsolatedCommand(
            [*argv, *program],
            env=env,
            procs_files=list(self._cgroup.procs_files),
            rlimits=self._rlimits(4096),
            uid=self._lease.uid,
            gid=self._lease.gid,
            drop=privdrop.is_root(),
            fd_files={"{seccomp_fd}": seccomp.build_filter(), "{passwd_fd}": self._passwd()},
            workdir_inside=WORKDIR,
        )

    async def _launch(self, stderr: IO[bytes]) -> Launched:
        assert self._lease is not None and self._cgroup is not None
        python, binds = sandbox_python()
        rlimits = self._rlimits(1024)
        kernel_dir = privdrop.runtime_dir() / "kernel"
        pyc = cached_kernel(python, kernel_dir) or await asyncio.to_thread(
            compiled_kernel, python, kernel_dir
        )
        passwd_fd = os.memfd_create("roost-passwd")
        os.write(passwd_fd, self._passwd())
        os.lseek(passwd_fd, 0, os.SEEK_SET)
        t0 = time.monotonic()
        seccomp_fd = seccomp.filter_fd()
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
                preexec_fn=privdrop.make_preexec(self._lease, self._cgroup.entry_files, rlimits),
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
            leftovers.release(self.id, self._claim)
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


async def reap(detail: dict[str, Any]) -> None:
    """Kill and remove what a local sandbox of a dead manager left (from its binding's
    ``detail``): processes in its cgroups, the cgroup directories, the workdir (with its
    tmpfs) and browser launcher files."""
    workdir = detail.get("workdir")
    if workdir:
        cgroups = [Path(p) for p in detail.get("cgroups") or []]
        await asyncio.to_thread(leftovers.remove, Path(workdir).name, cgroups)


def _du(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total
