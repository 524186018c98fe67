"""The bwrap backend: persistent Python, shell, timeouts, restart and close."""

# ruff: noqa: ASYNC240 - host-side checks in tests/benchmarks block on purpose

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from roost.sandbox import BwrapSandbox, SandboxClosed, SandboxStatus


async def test_python_state_persists_between_cells(sandbox: BwrapSandbox) -> None:
    first = await sandbox.run_python("import math\nx = 20")
    assert first.error is None and first.result is None
    second = await sandbox.run_python("x * 2 + int(math.sqrt(4))")
    assert second.result == "42"


async def test_kernel_starts_from_the_compiled_kernel_and_completes_site(
    sandbox: BwrapSandbox,
) -> None:
    res = await sandbox.run_python(
        "import sys, site\n"
        "(sys.flags.no_site, sys.argv[0], callable(exit), "
        "any(p.endswith(('site-packages', 'dist-packages')) for p in sys.path))"
    )
    # Started with -S from the bound .pyc; site was completed before the first cell.
    assert res.result == "(1, '/.roost-kernel.pyc', True, True)", res
    phases = sandbox.startup_ms
    for name in ("uid_lease", "cgroup_create", "workdir_tmpfs", "spawn", "kernel_init"):
        assert phases[name] >= 0, phases
    assert phases["launch_to_kernel_main"] <= phases["launch_to_ready"]


async def test_stdout_stderr_and_fd_level_output_are_captured(sandbox: BwrapSandbox) -> None:
    res = await sandbox.run_python(
        "import sys, os\nprint('out')\nprint('err', file=sys.stderr)\nos.system('echo from-c')"
    )
    assert res.stdout == "out\nfrom-c\n"
    assert res.stderr == "err\n"
    assert res.result == "0"


async def test_exception_returns_traceback_and_kernel_survives(sandbox: BwrapSandbox) -> None:
    res = await sandbox.run_python("y = 1\n1 / 0")
    assert res.error is not None and "ZeroDivisionError" in res.error
    assert "<cell>" in res.error
    assert (await sandbox.run_python("y")).result == "1"


async def test_user_code_cannot_read_the_protocol_stream(sandbox: BwrapSandbox) -> None:
    res = await sandbox.run_python("import sys\nsys.stdin.read()")
    assert res.result == "''"
    res = await sandbox.run_python("import os\nos.close(1); os.close(0)\n'still here'")
    assert res.result == "'still here'"
    assert (await sandbox.run_python("1 + 1")).result == "2"


async def test_sys_exit_does_not_kill_the_interpreter(sandbox: BwrapSandbox) -> None:
    res = await sandbox.run_python("z = 5\nimport sys\nsys.exit(3)")
    assert res.error is not None and "SystemExit" in res.error
    assert (await sandbox.run_python("z")).result == "5"


async def test_timed_out_cell_is_interrupted_and_state_survives(sandbox: BwrapSandbox) -> None:
    await sandbox.run_python("kept = 'yes'")
    res = await sandbox.run_python("import time\ntime.sleep(30)", timeout=0.3)
    assert res.timed_out and not res.restarted
    assert res.error is not None and "KeyboardInterrupt" in res.error
    assert (await sandbox.run_python("kept")).result == "'yes'"
    assert sandbox.info().status is SandboxStatus.READY


async def test_cell_ignoring_interrupt_gets_a_fresh_interpreter(sandbox: BwrapSandbox) -> None:
    await sandbox.write_file("keep.txt", "file survives")
    await sandbox.run_python("lost = 1")
    sandbox.interrupt_grace = 0.5
    res = await sandbox.run_python(
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(60)",
        timeout=0.3,
    )
    assert res.timed_out and res.restarted
    assert sandbox.info().status is SandboxStatus.RESTARTED
    assert sandbox.info().detail["restarts"] == 1
    after = await sandbox.run_python("'lost' in globals()")
    assert after.result == "False"
    assert await sandbox.read_file("keep.txt") == b"file survives"


async def test_python_is_a_command_of_the_shell(sandbox: BwrapSandbox) -> None:
    # a model (or a person) types `python`; Debian only has python3
    res = await sandbox.run_shell("python -c 'print(6 * 7)' && python3 -c 'print(1)'")
    assert (res.exit_code, res.stdout) == (0, "42\n1\n"), res


async def test_shell_runs_in_the_workdir_as_the_sandbox_user(sandbox: BwrapSandbox) -> None:
    res = await sandbox.run_shell("pwd; id -u; echo oops >&2; exit 3")
    lines = res.stdout.splitlines()
    assert lines[0] == "/workspace"
    assert int(lines[1]) == sandbox.uid
    assert res.stderr == "oops\n" and res.exit_code == 3


async def test_shell_timeout_kills_the_process_group(sandbox: BwrapSandbox) -> None:
    res = await sandbox.run_shell("sleep 100 & sleep 100; echo never", timeout=0.5)
    assert res.timed_out and res.exit_code is None and "never" not in res.stdout
    ps = await sandbox.run_shell("ps -e -o comm= | grep -c sleep || true")
    assert ps.stdout.strip() == "0"


async def test_shell_returns_when_the_shell_exits_despite_background_jobs(
    sandbox: BwrapSandbox,
) -> None:
    # The background sleep inherits the output pipes and keeps them open; the answer
    # must come when /bin/sh exits, not at the timeout.
    res = await sandbox.run_shell(
        "(sleep 0.3; echo late; exec sleep 100) & echo started; exit 7", timeout=15
    )
    assert not res.timed_out
    assert res.exit_code == 7 and res.stdout == "started\n"
    # A call's processes end with the call: the '&' job is gone. One detached with
    # setsid keeps running (a server) and does not die of SIGPIPE when it writes after
    # the answer: its late output is drained.
    res = await sandbox.run_shell(
        "setsid sh -c 'sleep 0.3; echo late; exec sleep 99' & pid=$!\n"
        "until [ \"$(ps -o sid= -p $pid | tr -d ' ')\" = $pid ]; do sleep 0.01; done\n"
        "echo started",
        timeout=15,
    )
    assert res.stdout == "started\n" and not res.timed_out
    ps = await sandbox.run_shell("sleep 1; ps -e -o args= | grep -c '^sleep 99$' || true")
    assert ps.stdout.strip() == "1"
    # A shell that closes its own output early is still waited for until it exits.
    closed = await sandbox.run_shell("echo before; exec >&- 2>&-; sleep 0.3; exit 4", timeout=15)
    assert closed.stdout == "before\n" and closed.exit_code == 4 and not closed.timed_out


async def test_shell_output_is_capped(sandbox: BwrapSandbox) -> None:
    res = await sandbox.run_shell("head -c 3000000 /dev/zero | tr '\\0' a", timeout=30)
    assert res.exit_code == 0
    assert res.stdout.startswith("a" * 1000) and "truncated" in res.stdout
    assert len(res.stdout) < 1_100_000


async def test_shell_answers_while_a_cell_is_busy(sandbox: BwrapSandbox) -> None:
    cell = asyncio.create_task(sandbox.run_python("import time\ntime.sleep(1.5)\n'done'"))
    await asyncio.sleep(0.2)
    shell = await sandbox.run_shell("echo concurrent")
    assert shell.stdout == "concurrent\n"
    assert not cell.done()
    assert (await cell).result == "'done'"


async def test_matplotlib_figures_come_back_as_png(sandbox: BwrapSandbox) -> None:
    probe = await sandbox.run_python(
        "import importlib.util\nimportlib.util.find_spec('matplotlib') is not None"
    )
    if probe.result != "True":
        pytest.skip("matplotlib is not installed for the sandbox interpreter")
    res = await sandbox.run_python("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nNone")
    assert len(res.images) == 1 and res.images[0].to_bytes().startswith(b"\x89PNG")


async def test_close_kills_everything_and_removes_the_workdir(sandbox: BwrapSandbox) -> None:
    workdir = sandbox.workdir
    cgroups = sandbox.cgroup_paths
    assert workdir is not None and workdir.exists() and cgroups
    await sandbox.run_shell("setsid sleep 300 > /dev/null 2>&1 &")
    pids = {int(p) for p in Path(cgroups[0], "cgroup.procs").read_text().split()}
    assert len(pids) >= 3
    await sandbox.close()
    assert sandbox.info().status is SandboxStatus.CLOSED
    assert not workdir.exists()
    assert not any(Path(c).exists() for c in cgroups)
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie_or_gone(pid)
    with pytest.raises(SandboxClosed):
        await sandbox.run_python("1")
    await sandbox.close()  # idempotent


def _is_zombie_or_gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_compiled_kernel_is_built_by_the_sandbox_interpreter(tmp_path: Path) -> None:
    import json
    import struct
    import subprocess

    from roost.sandbox.backends.kernel_sandbox import compiled_kernel

    pyc = compiled_kernel("/usr/bin/python3", tmp_path / "kernel")
    assert pyc is not None and pyc.parent == tmp_path / "kernel"
    assert compiled_kernel("/usr/bin/python3", tmp_path / "kernel") == pyc  # cached
    # The .pyc runs on that interpreter with -S and answers the ready frame.
    proc = subprocess.Popen(
        ["/usr/bin/python3", "-I", "-S", str(pyc)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    hlen, plen = struct.unpack("!II", proc.stdout.read(8))
    ready = json.loads(proc.stdout.read(hlen))
    proc.stdin.close()  # EOF on the protocol stream ends the kernel
    assert proc.wait(timeout=30) == 0
    assert ready["ready"] is True and ready["id"] == 0 and plen == 0
    # An interpreter that cannot compile it gives None (the caller falls back to -c).
    assert compiled_kernel("/bin/false", tmp_path / "other") is None
