"""``roost bundle``: one archive that installs Roost with no package index into a fresh
virtualenv and starts the server on the bundled local model."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import httpx
import pytest

from roost.models.install import installed_model

from ._tools import BASE_IMAGE, podman_ready, roost_cli

SUITE_MODEL = "qwen2.5-coder-0.5b"
"""The suite's local model (tests/conftest.py; decision 0150): bundled and served here."""


def _model_home() -> Path:
    home = Path(os.environ.get("ROOST_TEST_MODEL_HOME", Path.home() / ".roost"))
    if installed_model(SUITE_MODEL, home=home) is None:
        pytest.skip(
            f"the default local model is not installed in {home}: roost model install --yes"
        )
    return home


@pytest.mark.slow
def test_bundle_installs_offline_and_serves_with_the_bundled_model(
    tmp_path: Path, wheelhouse: Path
) -> None:
    home = _model_home()
    podman_env = podman_ready()
    # The image goes in as an OCI archive when an engine is here (the Debian base image
    # stands in for the platform image: test_image builds and runs a real one).
    image_args = ["--image", BASE_IMAGE, "--engine", "podman"] if podman_env else []
    bundle = tmp_path / "roost-bundle.tar"
    started = time.monotonic()
    done = roost_cli(
        "bundle", "-o", str(bundle), "--wheelhouse", str(wheelhouse), *image_args,
        env={"ROOST_HOME": str(home), "ROOST_LOCAL_MODEL_NAME": SUITE_MODEL, **(podman_env or {})},
        timeout=1500,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(
        f"bundle written in {time.monotonic() - started:.1f} s, {bundle.stat().st_size / 1e6:.0f} MB"
    )
    with tarfile.open(bundle) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    root = tmp_path / "x" / "roost-bundle"
    names = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert {"install.sh", "SHA256SUMS", "wheels/requirements.txt", "helm/roost-0.1.0.tgz"} <= names
    assert any(n.startswith("models/") and n.endswith(".gguf") for n in names)
    if image_args:
        assert any(n.startswith("images/") and n.endswith(".oci.tar") for n in names)
    sums = dict(line.split("  ")[::-1] for line in (root / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == names - {"SHA256SUMS"}
    req = root / "wheels" / "requirements.txt"
    assert sums["wheels/requirements.txt"] == hashlib.sha256(req.read_bytes()).hexdigest()

    # Offline: no index, no find-links from the environment, no pip config.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "ROOST_", "PYTHON"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PREFIX=str(tmp_path / "venv"),
               PYTHON=sys.executable, ROOST_HOME=str(tmp_path / "home"), **(podman_env or {}))  # fmt: skip
    started = time.monotonic()
    install = subprocess.run(
        [str(root / "install.sh")], capture_output=True, text=True, env=env, timeout=900
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    print(f"offline install in {time.monotonic() - started:.1f} s")
    assert (tmp_path / "home" / "models").is_dir()

    env.update(ROOST_SANDBOX="0", OMP_WAIT_POLICY="PASSIVE", ROOST_LOCAL_MODEL_NAME=SUITE_MODEL)
    server = subprocess.Popen(
        [str(tmp_path / "venv" / "bin" / "roost"), "serve", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        url = key = None
        deadline = time.monotonic() + 120
        while (url is None or key is None) and time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                break
            if m := re.search(r"at (http://127\.0\.0\.1:\d+)", line):
                url = m.group(1)
            if m := re.search(r"ROOST_ADMIN_KEY=(\S+)", line):
                key = m.group(1)
        assert url and key, "the server started and printed its URL and admin key"
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=300
        ) as client:
            session = client.post("/v1/sessions", json={}).json()
            run = client.post(
                f"/v1/sessions/{session['id']}/runs",
                json={"input": "Reply with the single word: OK", "stream": False},
            ).json()
        assert run["status"] == "succeeded", run
        assert run["output"]["content"][0]["text"].strip()
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
