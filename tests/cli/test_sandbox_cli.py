"""``roost sandbox``: exec, python, serve (fail closed) and list."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from typer.testing import CliRunner

from roost.cli.sandbox import app
from roost.core.settings import get_settings
from roost.sandbox.backends.remote import RemoteSandboxManager
from roost.sandbox.service.server import create_app

runner = CliRunner()


def test_exec_prints_output_and_exits_with_the_command_code() -> None:
    ok = runner.invoke(app, ["exec", "--", "echo", "hello", "sandbox"])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout == "hello sandbox\n"
    failed = runner.invoke(app, ["exec", "--", "sh", "-c", "echo oops >&2; exit 7"])
    assert failed.exit_code == 7
    assert "oops" in failed.stderr


def test_exec_runs_isolated_without_network() -> None:
    result = runner.invoke(
        app, ["exec", "--", "cat /etc/shadow 2>&1; id -u; ls /proc | grep -c '^[0-9]'"]
    )
    lines = result.stdout.splitlines()
    assert "No such file" in lines[0]
    if os.geteuid() == 0:
        assert lines[1] != "0", "never root inside"
    assert int(lines[2]) < 10, "own pid namespace"


def test_exec_rejects_an_unknown_type() -> None:
    result = runner.invoke(app, ["exec", "--type", "vm", "--", "ls"])
    assert result.exit_code == 2
    assert "invalid_request" in result.stderr


def test_python_prints_output_and_the_last_value() -> None:
    result = runner.invoke(app, ["python", "-c", "print('out'); 6 * 7"])
    assert result.exit_code == 0
    assert result.stdout == "out\n42\n"
    error = runner.invoke(app, ["python", "-c", "1/0"])
    assert error.exit_code == 1
    assert "ZeroDivisionError" in error.stderr


def test_serve_refuses_to_start_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROOST_SANDBOX_TOKEN", raising=False)
    result = runner.invoke(app, ["serve", "--port", "0"])
    assert result.exit_code == 2
    assert "config_invalid" in result.stderr and "ROOST_SANDBOX_TOKEN" in result.stderr


def test_list_shows_the_sandboxes_of_a_running_service(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "cli-list-token-0123456789"
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(create_app(token=token, pool_size=0), log_level="warning")
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive()
            time.sleep(0.02)

        async def acquire() -> str:
            async with RemoteSandboxManager(url, token) as manager:
                return (await manager.acquire("cli-session")).id

        sandbox_id = asyncio.run(acquire())
        monkeypatch.setenv("ROOST_SANDBOX_TOKEN", token)
        get_settings.cache_clear()  # the environment is read once per process
        result = runner.invoke(app, ["list", "--url", url])
        assert result.exit_code == 0, result.output
        assert sandbox_id in result.stdout and "cli-session" in result.stdout
        assert "1 sandbox(es)" in result.stdout
        denied = runner.invoke(app, ["list", "--url", url, "--token", "wrong-token-0123456789"])
        assert denied.exit_code == 2 and "unauthorized" in denied.stderr
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def test_serve_starts_the_service_behind_the_token() -> None:
    import httpx

    token = "cli-serve-token-0123456789"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "roost.cli.main",
            "sandbox",
            "serve",
            "--port",
            str(port),
            "--pool-size",
            "0",
        ],
        env={**os.environ, "ROOST_SANDBOX_TOKEN": token},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}/v1/health"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                ok = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "service did not start"
                time.sleep(0.1)
        assert ok.status_code == 200 and ok.json()["status"] == "ok"
        assert httpx.get(url).status_code == 401
    finally:
        proc.terminate()
        proc.wait(30)


def test_leftovers_of_a_killed_command_are_reaped_at_the_next_sandbox_start() -> None:
    from roost.sandbox.isolation.cgroups import layout
    from roost.sandbox.isolation.privdrop import runtime_dir

    root = runtime_dir()
    live = root / "live"
    before = set(live.glob("*.lock")) if live.exists() else set()
    roost = [sys.executable, "-m", "roost.cli.main", "sandbox"]
    proc = subprocess.Popen([*roost, "exec", "--", "sleep 60"])
    try:
        deadline = time.monotonic() + 60
        while not _running(new := set(live.glob("*.lock")) - before, "sleep\x0060"):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
    finally:
        proc.kill()  # kill -9: nothing of the command runs its clean-up
        proc.wait()
    (lock,) = new
    sandbox_id = lock.stem
    workdir = root / "work" / sandbox_id
    cgroups = [base / sandbox_id for base in layout().dirs.values()]
    assert workdir.exists() and any(c.exists() for c in cgroups)
    result = subprocess.run([*roost, "python", "-c", "6 * 7"], capture_output=True, timeout=120)
    assert result.stdout == b"42\n", result.stderr
    assert not workdir.exists() and not lock.exists()
    assert not any(c.exists() for c in cgroups)


def _running(locks: set[Path], cmdline: str) -> bool:
    """A sandbox of ``locks`` runs a process with this command line (NUL-separated)."""
    from roost.sandbox.isolation.cgroups import layout

    for lock in locks:
        for base in layout().dirs.values():
            with contextlib.suppress(OSError):
                for pid in (base / lock.stem / "cgroup.procs").read_text().split():
                    with contextlib.suppress(OSError):
                        if Path(f"/proc/{pid}/cmdline").read_text().rstrip("\0") == cmdline:
                            return True
    return False
