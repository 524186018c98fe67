"""Security suite on the default (bwrap) backend: every escape attempt from the issue
is made for real from inside a sandbox, and containment is asserted from the host."""

# ruff: noqa: ASYNC110, ASYNC220, ASYNC221, ASYNC240 - host-side checks in tests/benchmarks block on purpose

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from roost.core import get_settings
from roost.sandbox import BwrapSandbox, SandboxQuotaExceeded, SandboxStatus, create_sandbox

from .conftest import SandboxFactory


async def test_default_backend_is_bwrap() -> None:
    sandbox = create_sandbox()
    assert isinstance(sandbox, BwrapSandbox)


async def test_host_files_outside_the_workdir_are_invisible(sandbox: BwrapSandbox) -> None:
    home = get_settings().ensure_home()
    secret = home / "secret.txt"
    secret.write_text("host secret")
    res = await sandbox.run_python(
        "import os\n"
        f"paths = ['/etc/shadow', {str(secret)!r}, '/root/.bashrc', '/proc/1/root/etc/shadow']\n"
        "out = {}\n"
        "for p in paths:\n"
        "    try:\n"
        "        out[p] = open(p).read()[:20]\n"
        "    except OSError as e:\n"
        "        out[p] = type(e).__name__\n"
        "out"
    )
    assert "host secret" not in (res.result or "")
    assert res.result is not None and "root:" not in res.result
    listing = await sandbox.run_shell("ls /; ls /etc")
    assert "shadow" not in listing.stdout and "root" not in listing.stdout.split()


async def test_the_sandbox_uid_is_not_host_root(sandbox: BwrapSandbox) -> None:
    res = await sandbox.run_shell(
        "id -u; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status"
    )
    lines = dict(line.split(":\t") for line in res.stdout.splitlines()[1:])
    assert int(res.stdout.splitlines()[0]) != 0
    assert int(lines["CapEff"], 16) == 0 and int(lines["CapBnd"], 16) == 0
    assert lines["NoNewPrivs"] == "1" and lines["Seccomp"] == "2"
    # From the host: the sandbox's uid map points at the unprivileged sandbox uid.
    assert sandbox.uid is not None and sandbox.uid >= 1000
    for pid in _cgroup_pids(sandbox):
        status = Path(f"/proc/{pid}/status").read_text()
        uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
        assert set(uids) == {str(sandbox.uid)}


async def test_writes_outside_the_workdir_do_not_reach_the_host(sandbox: BwrapSandbox) -> None:
    marker = f"roost-escape-{sandbox.id}"
    res = await sandbox.run_shell(
        f"echo x > /usr/{marker}; echo x > /etc/{marker}; echo x > /tmp/{marker}; "
        f"echo x > /{marker}; ls /tmp"
    )
    assert "Read-only file system" in res.stderr
    for host_dir in ("/usr", "/etc", "/tmp", "/"):
        assert not Path(host_dir, marker).exists()


async def test_host_processes_are_invisible_and_unkillable(sandbox: BwrapSandbox) -> None:
    victim = subprocess.Popen(["sleep", "60"])
    try:
        res = await sandbox.run_python(
            "import os, signal\n"
            "pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
            "try:\n"
            f"    os.kill({victim.pid}, signal.SIGKILL); killed = 'sent'\n"
            "except OSError as e:\n"
            "    killed = type(e).__name__\n"
            "(len(pids), killed)"
        )
        count, killed = eval(res.result or "")
        assert count <= 4  # bwrap's init, the kernel (and its threads' process)
        assert killed == "ProcessLookupError"
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()


@pytest.fixture
async def host_tcp_server() -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"host-server-says-hi")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield port


_CONNECT = (
    "import socket\n"
    "try:\n"
    "    s = socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
    "    r = s.recv(100).decode()\n"
    "except OSError as e:\n"
    "    r = type(e).__name__\n"
    "r"
)


async def test_no_network_to_the_host_loopback(sandbox: BwrapSandbox, host_tcp_server: int) -> None:
    res = await sandbox.run_python(_CONNECT.format(port=host_tcp_server))
    assert res.result == "'ConnectionRefusedError'"
    ifaces = await sandbox.run_shell("cat /proc/net/dev")
    assert "lo:" in ifaces.stdout and "eth" not in ifaces.stdout


async def test_network_true_reaches_the_host(
    make_sandbox: SandboxFactory, host_tcp_server: int
) -> None:
    sandbox = await make_sandbox(network=True)
    res = await sandbox.run_python(_CONNECT.format(port=host_tcp_server))
    assert res.result == "'host-server-says-hi'"


async def test_no_root_through_nested_user_namespaces(sandbox: BwrapSandbox) -> None:
    res = await sandbox.run_shell("unshare -Ur id -u; echo rc=$?")
    assert "rc=0" not in res.stdout
    py = await sandbox.run_python(
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "r = libc.unshare(0x10000000)\n"  # CLONE_NEWUSER
        "(r, os.strerror(ctypes.get_errno()))"
    )
    assert py.result is not None and py.result.startswith("(-1,")
    assert "Operation not permitted" in py.result or "No space left" in py.result


async def test_no_root_through_setuid_binaries(sandbox: BwrapSandbox) -> None:
    res = await sandbox.run_shell(
        "ls -l /usr/bin/su /usr/bin/mount; "
        "su -c id root </dev/null; echo su=$?; "
        "mkdir -p m; mount -t tmpfs none m; echo mount=$?; "
        "id -u"
    )
    assert "s" in res.stdout.splitlines()[0][:10]  # the binary really is setuid
    assert "su=0" not in res.stdout and "mount=0" not in res.stdout
    assert res.stdout.strip().splitlines()[-1] != "0"


async def test_seccomp_denies_dangerous_syscalls(sandbox: BwrapSandbox) -> None:
    res = await sandbox.run_python(
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "out = {}\n"
        "for name, nr, args in [('ptrace', 101, (16, 1, 0, 0)), ('mount', 165, (0, 0, 0, 0)),\n"
        "                      ('keyctl', 250, (0, 0, 0, 0)), ('bpf', 321, (0, 0, 0, 0)),\n"
        "                      ('perf_event_open', 298, (0, 0, 0, 0)), ('setns', 308, (0, 0, 0, 0)),\n"
        "                      ('pidfd_getfd', 438, (0, 0, 0, 0))]:\n"
        "    ctypes.set_errno(0)\n"
        "    r = libc.syscall(nr, *args)\n"
        "    out[name] = (r, ctypes.get_errno())\n"
        "out"
    )
    results = eval(res.result or "{}")
    assert results and all(r == (-1, 1) for r in results.values()), results  # EPERM


async def test_fork_bomb_is_contained(make_sandbox: SandboxFactory) -> None:
    sandbox = await make_sandbox(pids=48)
    neighbour = await make_sandbox()
    idle = _cgroup_pids(sandbox)
    res = await sandbox.run_shell("bomb() { bomb | bomb & }; bomb; sleep 2", timeout=4)
    assert res.timed_out or res.exit_code is not None
    # Stopped by RLIMIT_NPROC (per sandbox uid) or the pids cgroup, whichever hits first.
    refused = "Resource temporarily unavailable" in res.stderr or "fork" in res.stderr
    assert refused or sandbox.info().detail["pids_limit_hits"] > 0
    # The call's processes ended with it: only the sandbox's own are left.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _cgroup_pids(sandbox) - idle:
        await asyncio.sleep(0.05)
    assert _cgroup_pids(sandbox) == idle
    # The host and the other sandbox still work.
    assert subprocess.run(["true"]).returncode == 0
    assert (await neighbour.run_python("6 * 7")).result == "42"
    await sandbox.close()
    assert sandbox.info().status is SandboxStatus.CLOSED


async def test_memory_limit_kills_and_reports(make_sandbox: SandboxFactory) -> None:
    sandbox = await make_sandbox(memory_mb=96)
    res = await sandbox.run_python("hog = b'x' * (512 << 20)\nlen(hog)")
    assert res.result is None
    assert res.error is not None
    if res.restarted:
        assert "out of memory" in res.error
        assert sandbox.info().detail["oom_kills"] >= 1
        assert "out of memory" in sandbox.info().detail["last_death"]
    else:
        assert "MemoryError" in res.error
    assert (await sandbox.run_python("1 + 1")).result == "2"


async def test_disk_quota_is_contained(make_sandbox: SandboxFactory) -> None:
    sandbox = await make_sandbox(disk_mb=16, max_file_mb=64)
    res = await sandbox.run_shell("dd if=/dev/zero of=fill bs=1M count=64 2>&1; df -m . | tail -1")
    assert "No space left" in res.stdout
    with pytest.raises(SandboxQuotaExceeded):
        await sandbox.write_file("more.bin", b"z" * (4 << 20))
    ls = await sandbox.list_files()
    assert sum(f.size for f in ls) <= 16 << 20


async def test_nothing_outlives_release(make_sandbox: SandboxFactory) -> None:
    sandbox = await make_sandbox()
    await sandbox.run_shell(
        "(setsid sh -c 'trap \"\" TERM HUP; sleep 600' >/dev/null 2>&1 &); "
        "nohup sleep 600 >/dev/null 2>&1 &"
    )
    await sandbox.run_python(
        "import subprocess\np = subprocess.Popen(['sleep', '600'], start_new_session=True)"
    )
    pids = _cgroup_pids(sandbox)
    assert len(pids) >= 5
    workdir = sandbox.workdir
    assert workdir is not None
    await sandbox.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        await asyncio.sleep(0.05)
    assert not any(_alive(p) for p in pids)
    assert not workdir.exists()


async def test_two_sandboxes_cannot_see_each_other(make_sandbox: SandboxFactory) -> None:
    a = await make_sandbox()
    b = await make_sandbox()
    assert a.uid != b.uid
    await a.write_file("a-secret.txt", "only for a")
    await a.run_shell("setsid sleep 300 > /dev/null 2>&1 &\nsleep 0.2")
    probe = await b.run_shell(
        f"ls /workspace; cat {a.workdir}/a-secret.txt; ls /run; ps -e -o comm= | grep -c sleep"
    )
    assert "a-secret" not in probe.stdout and "only for a" not in probe.stdout
    assert probe.stdout.strip().splitlines()[-1] == "0"
    assert a.workdir is not None
    # Even from outside the namespaces, B's uid cannot enter A's workdir (mode 0700).
    st = os.stat(a.workdir)
    assert st.st_uid == a.uid and st.st_mode & 0o077 == 0


def _cgroup_pids(sandbox: BwrapSandbox) -> set[int]:
    pids: set[int] = set()
    for path in sandbox.cgroup_paths:
        pids.update(int(p) for p in Path(path, "cgroup.procs").read_text().split())
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
