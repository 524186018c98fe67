"""Helpers of the deployment tests: real tools, built once by scripts/test-fixtures.sh and cached
outside the repository: helm and kubectl, a kube-apiserver 1.20 with etcd, Podman with
its Docker-compatible API and a Debian base image. A test that needs a missing one is
skipped with the command that builds it."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
BASE_IMAGE = "localhost/roost-test/debian-python:bookworm"
FIXTURES = "scripts/test-fixtures.sh"


def cache_dir() -> Path:
    if os.environ.get("ROOST_TEST_CACHE"):
        return Path(os.environ["ROOST_TEST_CACHE"])
    if os.geteuid() == 0:
        return Path("/var/cache/roost-test")
    return Path.home() / ".cache" / "roost-test"


def cached_tool(name: str, step: str) -> str:
    path = cache_dir() / "bin" / name
    if not os.access(path, os.X_OK):
        pytest.skip(f"{name} is not built: run {FIXTURES} {step}")
    return str(path)


def podman_ready() -> dict[str, str] | None:
    """The environment for Podman (its cached configuration) when Podman and the base
    image are set up here, else ``None``."""
    import shutil

    conf = cache_dir() / "containers.conf"
    podman = shutil.which("podman")
    if podman is None or not conf.is_file():
        return None
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    found = subprocess.run([podman, "image", "exists", BASE_IMAGE], env=env, check=False)
    return {"CONTAINERS_CONF": str(conf)} if found.returncode == 0 else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def roost_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 900, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The ``roost`` command of this tree in a subprocess (its real entry point)."""
    full_env = {**os.environ, "PYTHONPATH": str(SRC), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "roost.cli.main", *args],
        capture_output=True, text=True, env=full_env, timeout=timeout, cwd=cwd, check=False,
    )  # fmt: skip


@dataclass
class ApiServer:
    url: str
    kubeconfig: Path
    token: str

    def env(self) -> dict[str, str]:
        return {"KUBECONFIG": str(self.kubeconfig)}


def wait_http(
    url: str, proc: subprocess.Popen[bytes], log: Path, headers: dict[str, str] | None = None
) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args[0]} exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, verify=False, headers=headers, timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    pytest.fail(f"{url} not ready: {log.read_text()[-2000:]}")


def wait_for_service_account(server: ApiServer, namespace: str, timeout: float = 60) -> None:
    """Pods are admitted only once the controller made the namespace's default account."""
    from kubernetes import client, config

    api = config.new_client_from_config(str(server.kubeconfig))
    try:
        core = client.CoreV1Api(api)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(client.ApiException):
                core.read_namespaced_service_account("default", namespace)
                return
            time.sleep(0.2)
        pytest.fail(f"no default service account in {namespace}")
    finally:
        api.close()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
