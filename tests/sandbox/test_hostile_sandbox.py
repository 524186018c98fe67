"""Every byte from a sandbox is hostile (issue 15, decision 0140): code in a real bwrap
sandbox cannot reach the channel to the host, and a channel that carries a bad frame
kills that sandbox only, without the host parsing (or holding) anything large."""

# ruff: noqa: ASYNC240 - host-side /proc reads in tests block on purpose

from __future__ import annotations

import asyncio
import os
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from roost.sandbox import BwrapSandbox, SandboxSpec, SandboxStatus

from .conftest import SandboxFactory

_RECON = """
import gc, os
reached = []
for obj in gc.get_objects():  # the supervisor's objects, copied into this process by fork
    if isinstance(obj, object) and hasattr(obj, "chan_out") and hasattr(obj, "send"):
        try:
            obj.send({"id": 1, "ok": True, "parts": [["stdout", 6]]}, [("stdout", b"forged")])
            reached.append("sent")
        except Exception as exc:
            reached.append(type(exc).__name__)
opened = []
for pid in (1, os.getppid()):
    for fd in range(16):
        try:
            os.close(os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY))
            opened.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
(len(reached), sorted(set(opened)))
"""

_FLOOD = """
import os, struct
bomb = struct.pack("!II", 200 << 20, 0) + b"[]," * 50000
for fd in range(64):
    try:
        os.write(fd, bomb)
    except OSError:
        pass
"""

_FORGED_ANSWER = """
import os, struct, sys
frame = sys._getframe()
while "rid" not in frame.f_locals:
    frame = frame.f_back
rid, ans = frame.f_locals["rid"], frame.f_locals["self"].ans_fd
text = b"x" * (3 << 20)  # a well-formed answer for this very cell, over the text limit
body = struct.pack("!IBdH", rid, 0, 1.0, 1) + struct.pack("!BI", 0, len(text)) + text
os.write(ans, struct.pack("!I", len(body)) + body)
"""


def _sockets(pid: int) -> set[str]:
    out = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:"):
            out.add(target)
    return out


def _kernel_processes(sandbox: BwrapSandbox) -> tuple[int, int]:
    """(supervisor, cell interpreter) host pids: the kernel's two Python processes."""
    procs = {}
    for pid in {int(p) for p in Path(sandbox.cgroup_paths[0], "cgroup.procs").read_text().split()}:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if "(python" in stat:
            procs[pid] = int(stat.rsplit(")", 1)[1].split()[1])  # ppid
    (cell,) = [pid for pid, ppid in procs.items() if ppid in procs]
    return procs[cell], cell


async def test_user_code_cannot_reach_the_host_channel(sandbox: BwrapSandbox) -> None:
    res = await sandbox.run_python(_RECON)
    assert res.error is None, res.error
    # It finds the supervisor's objects (a copy) but no descriptor that leads out:
    # bwrap's pid 1 has only /dev/null as stdio, the supervisor's fds are closed to it.
    assert res.result in ("(1, [])", "(1, ['/dev/null'])"), res.result
    assert "forged" not in res.stdout or res.stdout.count("forged") == 1  # went to own stdout
    supervisor, cell = _kernel_processes(sandbox)
    assert _sockets(supervisor), "the supervisor holds the channel socket"
    assert not _sockets(cell), "the cell interpreter holds no socket at all"
    assert (await sandbox.run_python("6 * 7")).result == "42"


async def test_forged_frames_from_a_cell_kill_its_sandbox_only(
    make_sandbox: SandboxFactory,
) -> None:
    sandbox = await make_sandbox()
    neighbour = await make_sandbox()
    await sandbox.run_python("x = 1")
    tracemalloc.start()
    try:
        flood, neighbour_answer = await asyncio.gather(
            sandbox.run_python(_FLOOD, timeout=20), neighbour.run_python("6 * 7")
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"the host held {peak >> 20} MiB for a 200 MiB forged frame"
    assert neighbour_answer.result == "42"
    assert flood.restarted and flood.error is not None
    assert "forged or oversized answer" in flood.error, flood.error
    # Replaced, not left as it was: variables are gone, the sandbox answers again.
    after = await sandbox.run_python("'x' in globals()")
    assert after.result == "False" and sandbox.info().detail["restarts"] == 1
    forged = await sandbox.run_python(_FORGED_ANSWER)
    assert forged.restarted and "forged or oversized answer" in (forged.error or "")
    assert "x" * 1000 not in forged.stdout
    assert (await neighbour.run_python("6 * 7")).result == "42"


_EVIL_KERNEL = """
import json, marshal, os, struct, sys, time
fd = int(sys.argv[1])
def hdr(raw, payload=b""):
    return struct.pack("!II", len(raw), len(payload)) + raw + payload
ready = json.dumps({"id": 0, "ok": True, "ready": True}).encode()
os.write(fd, hdr(ready))
rid = 0
if sys.argv[3] == "prompted":  # answer the first request badly
    hlen, plen = struct.unpack("!II", os.read(fd, 8))
    rid = marshal.loads(os.read(fd, hlen))["id"]
else:
    time.sleep(0.2)
bad = eval(sys.argv[2])
try:
    while bad:
        bad = bad[os.write(fd, bad):]
except OSError:
    pass
time.sleep(600)
"""


class _CompromisedKernel(BwrapSandbox):
    """A real bwrap sandbox whose kernel is replaced by a program that writes ``bad``
    frames: what a compromised supervisor could send."""

    def __init__(self, bad: str, prompted: bool) -> None:
        super().__init__(SandboxSpec())
        self._bad = bad
        self._prompted = prompted

    def _kernel_argv(
        self,
        python: str,
        binds: list[str],
        passwd_fd: int,
        seccomp_fd: int,
        pyc: Any,
        channel_fd: int,
    ) -> list[str]:
        argv = self._isolation_argv(binds, passwd_fd, seccomp_fd)
        mode = "prompted" if self._prompted else "idle"
        return [*argv, python, "-I", "-S", "-c", _EVIL_KERNEL, str(channel_fd), self._bad, mode]


_BAD_FRAMES = {
    "header of 256 MiB": ("struct.pack('!II', 256 << 20, 0) + b'[],' * 1000", False),
    "60 KB header of empty lists": ("hdr(b'[' + b'[],' * 19999 + b'[]]')", False),
    "60 KB of nesting": ("hdr(b'[' * 60000)", False),
    "answer nobody asked for": ("hdr(json.dumps({'id': 7, 'ok': True}).encode())", False),
    "payload over the request's limit": (
        "hdr(json.dumps({'id': rid, 'ok': True, 'parts': [['stdout', 30 << 20]]}).encode())"
        " + b'x' * (30 << 20)",
        True,
    ),
    "parts that do not add up": (
        "hdr(json.dumps({'id': rid, 'ok': True, 'parts': [['stdout', 9]]}).encode(), b'x' * 4)",
        True,
    ),
    "a nested header value": ("hdr(json.dumps({'id': rid, 'stdout': [[]] * 99}).encode())", True),
}


@pytest.mark.parametrize("case", list(_BAD_FRAMES))
async def test_a_bad_frame_kills_that_sandbox_and_nothing_else(
    case: str, make_sandbox: SandboxFactory
) -> None:
    bad, prompted = _BAD_FRAMES[case]
    neighbour = await make_sandbox()
    sandbox = _CompromisedKernel(bad, prompted)
    await sandbox.start()
    tracemalloc.start()
    try:
        if prompted:
            res = await sandbox.run_python("1 + 1", timeout=10)
            assert res.restarted and "protocol violation" in (res.error or ""), res
        else:
            for _ in range(100):
                if sandbox.info().status is SandboxStatus.DEAD:
                    break
                await asyncio.sleep(0.05)
            info = sandbox.info()
            assert info.status is SandboxStatus.DEAD  # never left "ready"
            assert "protocol violation" in info.detail["last_death"]
            for _ in range(100):  # and its processes are gone
                if not Path(sandbox.cgroup_paths[0], "cgroup.procs").read_text().split():
                    break
                await asyncio.sleep(0.05)
            assert not Path(sandbox.cgroup_paths[0], "cgroup.procs").read_text().split()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await sandbox.close()
    assert peak < 16 << 20, f"the host held {peak >> 20} MiB"
    assert (await neighbour.run_python("6 * 7")).result == "42"
