"""`roost serve` (real processes) and `roost init` (the scaffold's own test passes)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from server_support import fake_openai, start_process

__all__ = ["fake_openai"]


def _roost(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roost.cli.main", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_serve_prints_the_admin_key_once_and_it_works(roost_home, fake_openai):
    env = {"ROOST_HOME": str(roost_home)}
    first = start_process(None, env, "--model", f"{fake_openai}#fake")
    try:
        text = "".join(first.output)
        assert "Roost is serving 'assistant' at http://127.0.0.1:" in text
        assert f"Web console: {first.url}/console/" in text
        key = text.split("ROOST_ADMIN_KEY=")[1].split()[0]
        r = httpx.post(
            first.url + "/v1/sessions", json={}, headers={"authorization": f"Bearer {key}"}
        )
        assert r.status_code == 201
    finally:
        first.stop()
    second = start_process(None, env, "--model", f"{fake_openai}#fake")
    try:
        assert "ROOST_ADMIN_KEY=" not in "".join(second.output)
    finally:
        second.stop()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--port", "70000"], "--port"),
        (["--port", "-1"], "--port"),
        (["--workers", "0"], "--workers"),
        (["--log-level", "loud"], "--log-level"),
        (["--host", "999.1.1.1"], "cannot listen on 999.1.1.1:8000"),
        (["--port", "{busy}"], "Address already in use"),
    ],
)
def test_serve_exits_with_a_clear_error_on_bad_options(tmp_path, roost_home, args, says):
    # the default (local) model: the bad option must stop everything before it starts
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        proc = _roost(
            "serve",
            *[a.replace("{busy}", port) for a in args],
            cwd=tmp_path,
            env={"ROOST_HOME": str(roost_home)},
        )
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stderr and "Traceback" not in proc.stderr + proc.stdout
    assert "Roost is serving" not in proc.stdout


def test_serve_refuses_several_workers_without_redis(tmp_path, roost_home):
    proc = _roost("serve", "--workers", "2", cwd=tmp_path, env={"ROOST_HOME": str(roost_home)})
    assert proc.returncode == 2
    assert "ROOST_REDIS_URL" in proc.stderr


def test_serve_reports_an_unimportable_app(tmp_path, roost_home):
    proc = _roost("serve", "nosuchmodule:app", cwd=tmp_path, env={"ROOST_HOME": str(roost_home)})
    assert proc.returncode == 2
    assert "config_invalid" in proc.stderr and "MODULE:APP" in proc.stderr


@pytest.mark.slow
def test_init_scaffolds_a_project_whose_test_passes(tmp_path):
    made = _roost("init", "weather-bot", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    project = tmp_path / "weather-bot"
    assert {p.name for p in project.iterdir()} >= {"app.py", "test_app.py", "README.md"}
    assert "roost serve app:app" in (project / "README.md").read_text()
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_app.py"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    again = _roost("init", "weather-bot", cwd=tmp_path)
    assert again.returncode == 2 and "not empty" in again.stderr
    bad = _roost("init", "../escape", cwd=tmp_path)
    assert bad.returncode == 2
