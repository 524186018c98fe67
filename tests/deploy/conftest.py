"""Real tools for the deployment tests, built once by scripts/test-fixtures.sh and cached
outside the repository: helm and kubectl, a kube-apiserver 1.20 with etcd, Podman with
its Docker-compatible API and a Debian base image. A test that needs a missing one is
skipped with the command that builds it."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._tools import BASE_IMAGE, FIXTURES, ApiServer, cache_dir, cached_tool, free_port, wait_http


@pytest.fixture(scope="session")
def helm() -> str:
    return cached_tool("helm", "helm")


@pytest.fixture(scope="session")
def kubectl() -> str:
    return cached_tool("kubectl", "helm")


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    """Wheels kept between runs, so image and bundle builds download nothing twice."""
    path = cache_dir() / "wheelhouse"
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- Podman ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def podman() -> Iterator[str]:
    """Podman with the cached containers.conf and the Debian base image."""
    path = shutil.which("podman")
    if path is None:
        pytest.skip(
            "podman is not installed: apt-get install podman runc (scripts/test.sh does as root)"
        )
    conf = cache_dir() / "containers.conf"
    if not conf.is_file():
        pytest.skip(f"no Podman configuration: run {FIXTURES} podman")
    old = os.environ.get("CONTAINERS_CONF")
    os.environ["CONTAINERS_CONF"] = str(conf)
    try:
        if subprocess.run([path, "image", "exists", BASE_IMAGE], check=False).returncode != 0:
            pytest.skip(f"no base image {BASE_IMAGE}: run {FIXTURES} image")
        yield path
    finally:
        if old is None:
            os.environ.pop("CONTAINERS_CONF", None)
        else:
            os.environ["CONTAINERS_CONF"] = old


@pytest.fixture(scope="session")
def docker_api(podman: str) -> Iterator[str]:
    """Podman's Docker-compatible API on a private socket; yields its DOCKER_HOST."""
    tmp = Path(tempfile.mkdtemp(prefix="roost-podman-"))
    url = f"unix://{tmp}/podman.sock"
    proc = subprocess.Popen(
        [podman, "system", "service", "--time=0", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd=tmp,  # conmon drops an "oom" marker in its working directory after an OOM kill
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (tmp / "podman.sock").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("podman system service did not start")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


# -- a real Kubernetes API server ----------------------------------------------------------
@pytest.fixture(scope="session")
def apiserver() -> Iterator[ApiServer]:
    """etcd + kube-apiserver + kube-controller-manager (1.20, no kubelet: pods stay
    Pending) on loopback, with RBAC on and an admin token; torn down at the end."""
    apiserver_bin = cached_tool("kube-apiserver", "apiserver")
    manager_bin = cached_tool("kube-controller-manager", "apiserver")
    etcd = shutil.which("etcd")
    openssl = shutil.which("openssl")
    if etcd is None or openssl is None:
        pytest.skip("etcd or openssl missing: apt-get install etcd-server openssl")
    tmp = Path(tempfile.mkdtemp(prefix="roost-k8s-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        etcd_log = tmp / "etcd.log"
        procs.append(subprocess.Popen(
            [etcd, "--data-dir", str(tmp / "etcd"), "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
             "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer_port}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
             "--initial-cluster", f"default=http://127.0.0.1:{peer_port}", "--quota-backend-bytes", str(1 << 30)],
            stdout=etcd_log.open("wb"), stderr=subprocess.STDOUT,
        ))  # fmt: skip
        wait_http(f"http://127.0.0.1:{etcd_port}/health", procs[0], etcd_log)
        subprocess.run(
            [openssl, "genrsa", "-out", str(tmp / "sa.key"), "2048"],
            check=True,
            capture_output=True,
        )
        token = secrets.token_hex(16)
        (tmp / "tokens.csv").write_text(f'{token},admin,admin,"system:masters"\n')
        api_log = tmp / "apiserver.log"
        procs.append(subprocess.Popen(
            [apiserver_bin, f"--etcd-servers=http://127.0.0.1:{etcd_port}", "--bind-address=127.0.0.1",
             f"--secure-port={api_port}", f"--cert-dir={tmp / 'certs'}", f"--token-auth-file={tmp / 'tokens.csv'}",
             "--authorization-mode=RBAC", f"--service-account-key-file={tmp / 'sa.key'}",
             f"--service-account-signing-key-file={tmp / 'sa.key'}", "--service-account-issuer=https://kubernetes.default.svc",
             "--service-cluster-ip-range=10.96.0.0/16", "--advertise-address=127.0.0.1", "--allow-privileged=false",
             "--enable-priority-and-fairness=false", "--profiling=false", "--v=0"],
            stdout=api_log.open("wb"), stderr=subprocess.STDOUT,
        ))  # fmt: skip
        url = f"https://127.0.0.1:{api_port}"
        wait_http(f"{url}/readyz", procs[1], api_log, {"Authorization": f"Bearer {token}"})
        kubeconfig = tmp / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
            f"clusters:\n- name: test\n  cluster:\n    server: {url}\n"
            f"    certificate-authority: {tmp / 'certs' / 'apiserver.crt'}\n"
            f"users:\n- name: admin\n  user:\n    token: {token}\n"
            "contexts:\n- name: test\n  context: {cluster: test, user: admin}\n"
        )
        manager_log = tmp / "controller-manager.log"
        procs.append(subprocess.Popen(
            [manager_bin, f"--kubeconfig={kubeconfig}", f"--service-account-private-key-file={tmp / 'sa.key'}",
             "--controllers=serviceaccount,serviceaccount-token,namespace,garbagecollector,deployment,replicaset,statefulset,job",
             "--use-service-account-credentials=false", "--leader-elect=false", "--port=0",
             f"--secure-port={free_port()}", "--bind-address=127.0.0.1", "--concurrent-gc-syncs=2"],
            stdout=manager_log.open("wb"), stderr=subprocess.STDOUT,
        ))  # fmt: skip
        yield ApiServer(url=url, kubeconfig=kubeconfig, token=token)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(15)
            if proc.poll() is None:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
