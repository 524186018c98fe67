"""The kubernetes backend: registry wiring, and a real pod when a cluster is reachable."""

from __future__ import annotations

import pytest

from roost.core import get_settings
from roost.sandbox import SandboxSpec, SandboxUnavailable, create_sandbox
from roost.sandbox.backends.kubernetes import (
    KubernetesConfig,
    KubernetesSandbox,
    kubernetes_available,
)
from roost.sandbox.kinds.gui import GuiSandbox


def test_backend_is_registered_and_wraps_gui() -> None:
    base = create_sandbox(SandboxSpec(), backend="kubernetes")
    assert isinstance(base, KubernetesSandbox)
    assert base.backend == "kubernetes"
    gui = create_sandbox(SandboxSpec(type="gui"), backend="kubernetes")
    assert isinstance(gui, GuiSandbox) and isinstance(gui.inner, KubernetesSandbox)
    with pytest.raises(SandboxUnavailable):
        create_sandbox(SandboxSpec(type="browser"), backend="kubernetes")


def test_config_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOST_SANDBOX_K8S_NAMESPACE", "agents")
    monkeypatch.setenv("ROOST_SANDBOX_K8S_RUNTIME_CLASS", "kata")
    get_settings.cache_clear()
    config = KubernetesConfig.from_settings()
    assert (config.namespace, config.runtime_class) == ("agents", "kata")


async def test_start_without_a_cluster_fails_closed(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    if kubernetes_available() is None:
        pytest.skip("a cluster is reachable: the fail-closed path cannot be shown here")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    sandbox = KubernetesSandbox(SandboxSpec(), config=KubernetesConfig(in_cluster=False))
    with pytest.raises(SandboxUnavailable):
        await sandbox.start()


@pytest.fixture
def cluster() -> None:
    reason = kubernetes_available()
    if reason is not None:
        pytest.skip(f"no Kubernetes cluster reachable here: {reason}")


async def test_pod_sandbox_runs_code(cluster: None) -> None:
    sandbox = KubernetesSandbox(SandboxSpec())
    async with sandbox:
        assert (await sandbox.run_python("1 + 1")).result == "2"
        assert (await sandbox.run_shell("id -u")).stdout.strip() == "65532"
        await sandbox.write_file("a.txt", "hello")
        assert await sandbox.read_file("a.txt") == b"hello"
