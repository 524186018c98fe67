"""``roost build``: the build context (pure), and a real image built with Podman from a
base made of Debian's archive, run locked down, and spoken to over HTTP."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from roost.core import ConfigError
from roost.deploy.image import IGNORED, ImageSpec, write_context

from ._tools import BASE_IMAGE, free_port, roost_cli

APP_PY = '''"""A scripted agent service: the test knows its answer."""
from roost.agents import ReActAgent
from roost.models import ScriptedModel
from roost.server import AgentApp, AgentContext

app = AgentApp("echo")


@app.agent
def agent(ctx: AgentContext) -> ReActAgent:
    return ReActAgent("echo", ScriptedModel(["Bonjour from the container! 你好"]))
'''


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    src = tmp_path / "echo"
    src.mkdir()
    (src / "app.py").write_text(APP_PY)
    (src / "prompts").mkdir()
    (src / "prompts" / "system.md").write_text("Be brief.")
    for junk in (".env", "roost.db", ".git/config", "__pycache__/app.cpython-311.pyc", "m.gguf"):
        (src / junk).parent.mkdir(parents=True, exist_ok=True)
        (src / junk).write_text("secret")
    return src


def test_context_is_multi_stage_non_root_with_a_health_check(
    app_dir: Path, tmp_path: Path, wheelhouse: Path
) -> None:
    ctx = write_context(
        tmp_path / "ctx",
        ImageSpec(app="app:app", source=app_dir),
        wheelhouse=wheelhouse,
        echo=lambda _: None,
    )
    text = (ctx / "Containerfile").read_text()
    assert text.count("\nFROM ") == 2, "install stage + runtime stage"
    assert "--no-index --find-links /wheels" in text, "no package index at build time"
    assert "USER 10001:10001" in text
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert '"roost", "serve", "app:app", "--host", "0.0.0.0"' in text
    pins = (ctx / "wheels" / "requirements.txt").read_text().splitlines()
    assert pins[0].startswith("roost[postgres,redis,fast]==")
    from importlib import metadata

    assert f"pydantic=={metadata.version('pydantic')}" in pins, "pinned from this environment"
    names = {p.name.split("-")[0].lower() for p in (ctx / "wheels").glob("*.whl")}
    assert {"roost", "pydantic", "asyncpg", "redis"} <= names
    copied = sorted(
        str(p.relative_to(ctx / "app")) for p in (ctx / "app").rglob("*") if p.is_file()
    )
    assert copied == ["app.py", "prompts/system.md"], "no secrets, databases, VCS or caches"
    assert set((ctx / ".dockerignore").read_text().split()) == set(IGNORED)


def test_context_refuses_an_app_that_is_not_there(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no missing\.py"):
        write_context(tmp_path / "ctx", ImageSpec(app="missing:app", source=tmp_path))
    with pytest.raises(ConfigError, match="MODULE:APP"):
        write_context(tmp_path / "ctx2", ImageSpec(app="not an app", source=tmp_path))


def test_build_without_an_engine_writes_the_context_and_says_how(
    app_dir: Path, tmp_path: Path, wheelhouse: Path
) -> None:
    empty = tmp_path / "no-engines"
    empty.mkdir()
    done = roost_cli(
        "build", "app:app", "--source", str(app_dir), "--context", str(tmp_path / "ctx"),
        "--wheelhouse", str(wheelhouse), env={"PATH": str(empty)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "no container engine answers here" in done.stdout
    assert f"docker build -t roost:latest -f {tmp_path / 'ctx'}/Containerfile" in done.stdout
    assert (tmp_path / "ctx" / "Containerfile").is_file()
    named = roost_cli(
        "build", "--engine", "podman", "--source", str(app_dir), env={"PATH": str(empty)}
    )
    assert named.returncode == 2 and "container_engine_unavailable" in named.stderr


@pytest.fixture
def built_image(podman: str, app_dir: Path, tmp_path: Path, wheelhouse: Path) -> Iterator[str]:
    tag = f"localhost/roost-test/echo:{int(time.time())}"
    done = roost_cli(
        "build", "app:app", "--tag", tag, "--source", str(app_dir), "--base", BASE_IMAGE,
        "--context", str(tmp_path / "ctx"), "--wheelhouse", str(wheelhouse), "--engine", "podman",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "STEP" in done.stdout, "the engine's build output is streamed to the user"
    assert f"built {tag}" in done.stdout
    try:
        yield tag
    finally:
        subprocess.run([podman, "rmi", "-f", tag], capture_output=True, check=False)
        subprocess.run(
            [podman, "image", "prune", "-f", "--filter", "label=dev.roost.build-stage=install"],
            capture_output=True,
            check=False,
        )


def test_app_image_runs_locked_down_and_serves_a_run(podman: str, built_image: str) -> None:
    info = json.loads(
        subprocess.run(
            [podman, "image", "inspect", built_image], capture_output=True, check=True
        ).stdout
    )[0]
    assert info["Config"]["User"] == "10001:10001"
    health = info.get("Healthcheck") or info["Config"]["Healthcheck"]
    assert "/healthz" in " ".join(health["Test"])
    port = free_port()
    name = f"roost-test-echo-{port}"
    run = subprocess.run(
        [podman, "run", "-d", "--name", name, "--read-only", "--cap-drop", "ALL",
         "--security-opt", "no-new-privileges", "--memory", "512m", "--tmpfs", "/tmp",
         "-e", "ROOST_ADMIN_KEY=rk_test_admin_key_for_the_image_test",
         "-p", f"127.0.0.1:{port}:8000", built_image],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                logs = subprocess.run([podman, "logs", name], capture_output=True, text=True).stdout
                pytest.fail(f"the server in the container never became ready: {logs[-2000:]}")
            time.sleep(0.3)
        headers = {"Authorization": "Bearer rk_test_admin_key_for_the_image_test"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            assert client.get("/v1/sessions").status_code == 200
            assert httpx.get(f"{base}/v1/sessions", timeout=5).status_code == 401, "auth is on"
            session = client.post("/v1/sessions", json={}).json()
            result = client.post(
                f"/v1/sessions/{session['id']}/runs", json={"input": "hi", "stream": False}
            ).json()
        assert result["status"] == "succeeded"
        assert result["output"]["content"][0]["text"] == "Bonjour from the container! 你好"
        uid = subprocess.run([podman, "exec", name, "id", "-u"], capture_output=True, text=True)
        assert uid.stdout.strip() == "10001"
    finally:
        subprocess.run([podman, "rm", "-f", name], capture_output=True, check=False)
