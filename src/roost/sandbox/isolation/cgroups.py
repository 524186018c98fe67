"""Per-sandbox cgroups: memory, pids and cpu limits, and "kill everything in it".

Works on cgroup v2 hosts (controllers enabled in the base cgroup) and on v1/hybrid hosts
(v1 memory/pids/cpu controllers, plus the unified hierarchy's ``cgroup.kill`` when it is
mounted). Sandbox cgroups nest under the supervisor's own cgroup in each v1 hierarchy,
so limits set on the supervisor (systemd unit, container) still cover its sandboxes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from roost.core import get_settings
from roost.sandbox.base import SandboxLimits
from roost.sandbox.errors import SandboxUnavailable

CGROUP_ROOT = Path("/sys/fs/cgroup")
_V1_CONTROLLERS = ("memory", "pids", "cpu")
_CPU_PERIOD_US = 100_000


def _own_v1_path(controller: str) -> str:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctrls, path = line.split(":", 2)
            if controller in ctrls.split(","):
                return path.lstrip("/")
    except OSError:
        pass
    return ""


@dataclass
class CgroupLayout:
    """Where sandbox cgroups are created on this host, and why not when they cannot be."""

    mode: str  # "v1", "v2" or "none"
    dirs: dict[str, Path] = field(default_factory=dict)
    """controller (or "unified") -> base directory that sandbox cgroups go under."""
    reason: str = ""


def detect(base_override: str | None = None) -> CgroupLayout:
    """Find a writable place for sandbox cgroups (v2 preferred when it has controllers)."""
    override = base_override or get_settings().sandbox_cgroup_root
    if override:
        base = Path(override)
        if not os.access(base, os.W_OK):
            return CgroupLayout("none", reason=f"ROOST_SANDBOX_CGROUP_ROOT {base} is not writable")
        return CgroupLayout("v2", {"unified": base})
    v2_controllers = CGROUP_ROOT / "cgroup.controllers"
    if v2_controllers.exists():
        have = set(v2_controllers.read_text().split())
        if {"memory", "pids", "cpu"} <= have and os.access(CGROUP_ROOT, os.W_OK):
            base = CGROUP_ROOT / "roost"
            try:
                base.mkdir(exist_ok=True)
                (CGROUP_ROOT / "cgroup.subtree_control").write_text("+memory +pids +cpu")
                (base / "cgroup.subtree_control").write_text("+memory +pids +cpu")
            except OSError as exc:
                return CgroupLayout("none", reason=f"cannot enable v2 controllers: {exc}")
            return CgroupLayout("v2", {"unified": base})
        return CgroupLayout(
            "none",
            reason="cgroup v2 without writable memory/pids/cpu controllers "
            "(run as root, or delegate a cgroup and set ROOST_SANDBOX_CGROUP_ROOT)",
        )
    dirs: dict[str, Path] = {}
    for ctrl in _V1_CONTROLLERS:
        mount = CGROUP_ROOT / ctrl
        if not (mount / "cgroup.procs").exists():
            return CgroupLayout("none", reason=f"cgroup v1 controller {ctrl!r} is not mounted")
        base = mount / _own_v1_path(ctrl) / "roost"
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return CgroupLayout("none", reason=f"cannot create {base}: {exc}")
        dirs[ctrl] = base
    unified = CGROUP_ROOT / "unified"
    if (unified / "cgroup.procs").exists():
        base = unified / "roost"
        with contextlib.suppress(OSError):
            base.mkdir(exist_ok=True)
            dirs["unified"] = base
    return CgroupLayout("v1", dirs)


_LAYOUT: CgroupLayout | None = None


def layout() -> CgroupLayout:
    global _LAYOUT
    if _LAYOUT is None:
        _LAYOUT = detect()
    return _LAYOUT


@dataclass
class SandboxCgroup:
    """The cgroup(s) of one sandbox: one directory per hierarchy."""

    paths: list[Path]
    mode: str

    @classmethod
    def create(cls, name: str, limits: SandboxLimits) -> SandboxCgroup:
        lay = layout()
        if lay.mode == "none":
            raise SandboxUnavailable(
                f"cannot apply sandbox resource limits: {lay.reason}",
                hint="run the sandbox supervisor as root or in a delegated cgroup",
            )
        paths = [base / name for base in lay.dirs.values()]
        for path in paths:
            path.mkdir(exist_ok=True)
        cg = cls(paths, lay.mode)
        try:
            cg._apply(lay, name, limits)
        except OSError as exc:
            cg.destroy()
            raise SandboxUnavailable(f"cannot set cgroup limits: {exc}") from exc
        return cg

    def _apply(self, lay: CgroupLayout, name: str, limits: SandboxLimits) -> None:
        mem = limits.memory_mb << 20
        quota = max(1000, int(limits.cpu * _CPU_PERIOD_US))
        if lay.mode == "v2":
            d = lay.dirs["unified"] / name
            (d / "memory.max").write_text(str(mem))
            with contextlib.suppress(OSError):
                (d / "memory.swap.max").write_text("0")
            (d / "pids.max").write_text(str(limits.pids))
            (d / "cpu.max").write_text(f"{quota} {_CPU_PERIOD_US}")
            return
        m = lay.dirs["memory"] / name
        (m / "memory.limit_in_bytes").write_text(str(mem))
        memsw = m / "memory.memsw.limit_in_bytes"
        if memsw.exists():
            memsw.write_text(str(mem))
        (lay.dirs["pids"] / name / "pids.max").write_text(str(limits.pids))
        c = lay.dirs["cpu"] / name
        (c / "cpu.cfs_period_us").write_text(str(_CPU_PERIOD_US))
        (c / "cpu.cfs_quota_us").write_text(str(quota))

    @property
    def procs_files(self) -> list[str]:
        """Files a child writes "0" to (in preexec) to enter every hierarchy before exec."""
        return [str(p / "cgroup.procs") for p in self.paths]

    @property
    def entry_files(self) -> list[str]:
        """Like ``procs_files`` but faster, for a single-threaded child (a forked child
        before exec): v1 ``tasks`` moves only the writing thread, which spares the
        kernel's global threadgroup lock and its RCU grace period (~5-10 ms per spawn
        here). The v2 hierarchy only takes whole processes (``cgroup.procs``)."""
        return [
            str(p / ("tasks" if (p / "tasks").exists() else "cgroup.procs")) for p in self.paths
        ]

    def pids(self) -> set[int]:
        out: set[int] = set()
        for p in self.paths:
            with contextlib.suppress(OSError, ValueError):
                out.update(int(x) for x in (p / "cgroup.procs").read_text().split())
        return out

    def kill(self) -> None:
        """SIGKILL every process (``cgroup.kill`` where available, else a freeze-free loop)."""
        for p in self.paths:
            killer = p / "cgroup.kill"
            if killer.exists():
                with contextlib.suppress(OSError):
                    killer.write_text("1")
        for _ in range(50):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    def destroy(self) -> None:
        """Kill what is left and remove the directories (idempotent)."""
        self.kill()
        for p in self.paths:
            for _ in range(100):
                try:
                    p.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)

    def oom_kills(self) -> int:
        """How many processes the memory limit killed so far."""
        for p in self.paths:
            for fname in ("memory.oom_control", "memory.events"):
                with contextlib.suppress(OSError):
                    for line in (p / fname).read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill":
                            return int(value)
        return 0

    def pids_limit_hits(self) -> int:
        """How many forks the pids limit refused (``pids.events max``)."""
        for p in self.paths:
            with contextlib.suppress(OSError):
                for line in (p / "pids.events").read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "max":
                        return int(value)
        return 0

    def memory_bytes(self) -> int:
        for p in self.paths:
            for fname in ("memory.usage_in_bytes", "memory.current"):
                with contextlib.suppress(OSError, ValueError):
                    return int((p / fname).read_text())
        return 0
