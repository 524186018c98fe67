"""The container sandbox backends on real engines: the Docker backend end to end on
Podman's Docker-compatible API (a base image built from Debian's archive, no registry),
and the Kubernetes backend's pods and policies admitted by a real API server."""

from __future__ import annotations

import asyncio

import pytest

from roost.sandbox import SandboxLimits, SandboxSpec, SandboxTimeout, create_sandbox

from ._tools import BASE_IMAGE, ApiServer, wait_for_service_account


@pytest.fixture
def docker_env(docker_api: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DOCKER_HOST", docker_api)
    monkeypatch.setenv("ROOST_SANDBOX_DOCKER_IMAGE", BASE_IMAGE)
    return docker_api


async def test_docker_sandbox_runs_code_locked_down_on_podman(docker_env: str) -> None:
    sandbox = create_sandbox(SandboxSpec(), backend="docker")
    async with sandbox:
        first = await sandbox.run_python("x = 6 * 7\nx")
        assert first.result == "42"
        assert (await sandbox.run_python("print(x + 1)")).stdout == "43\n", "state is kept"
        assert (await sandbox.run_shell("id -u")).stdout.strip() == "65532"
        caps = await sandbox.run_shell("grep -E '^(CapEff|NoNewPrivs)' /proc/self/status")
        assert "CapEff:\t0000000000000000" in caps.stdout
        assert "NoNewPrivs:\t1" in caps.stdout
        net = await sandbox.run_python(
            "import socket\ntry:\n    socket.create_connection(('10.0.0.1', 80), 2)\n"
            "    print('reached')\nexcept OSError as e:\n    print('blocked', e.errno)"
        )
        assert net.stdout.startswith("blocked"), "no network by default"
        ro = await sandbox.run_shell("touch /usr/x 2>&1; echo $?")
        assert ro.stdout.strip().endswith("1"), "read-only root"
        await sandbox.write_file("data/report.txt", "résumé 数据")
        assert (await sandbox.read_file("data/report.txt")).decode() == "résumé 数据"
        assert [f.path for f in await sandbox.list_files("data")] == ["data/report.txt"]
        name = sandbox.info().detail["container"]
    import docker

    engine = docker.DockerClient(base_url=docker_env)
    try:
        left = engine.containers.list(all=True, filters={"name": name})
    finally:
        engine.close()
    assert left == [], "a closed sandbox leaves no container behind"


async def test_docker_sandbox_memory_limit_is_enforced_on_podman(docker_env: str) -> None:
    sandbox = create_sandbox(SandboxSpec(limits=SandboxLimits(memory_mb=128)), backend="docker")
    async with sandbox:
        hog = await sandbox.run_python("b = bytearray(600 * 1024 * 1024)\nlen(b)")
        assert hog.result != str(600 * 1024 * 1024)
        assert (await sandbox.run_python("1 + 1")).result == "2", "a new kernel after the kill"


async def test_kubernetes_sandbox_pod_and_policy_are_admitted_by_a_real_api_server(
    apiserver: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubernetes import client, config

    api = config.new_client_from_config(str(apiserver.kubeconfig))
    core, net = client.CoreV1Api(api), client.NetworkingV1Api(api)
    namespace = "roost-sandboxes"
    core.create_namespace({"metadata": {"name": namespace}})
    # The cluster admin installs gVisor's RuntimeClass; the API server refuses pods naming
    # an unknown one (RuntimeClass admission).
    client.NodeV1Api(api).create_runtime_class({"metadata": {"name": "gvisor"}, "handler": "runsc"})
    wait_for_service_account(apiserver, namespace)
    for key, value in {
        "NAMESPACE": namespace,
        "KUBECONFIG": str(apiserver.kubeconfig),
        "IN_CLUSTER": "false",
        "READY_TIMEOUT_S": "4",  # no kubelet here: the pod is admitted, never runs
    }.items():
        monkeypatch.setenv(f"ROOST_SANDBOX_K8S_{key}", value)
    sandbox = create_sandbox(SandboxSpec(), backend="kubernetes")
    start = asyncio.create_task(sandbox.start())
    seen: dict[str, object] = {}
    for _ in range(80):
        pods = await asyncio.to_thread(core.list_namespaced_pod, namespace)
        if pods.items:
            seen["pod"] = pods.items[0]
            seen["policy"] = (
                await asyncio.to_thread(net.list_namespaced_network_policy, namespace)
            ).items[0]
            break
        await asyncio.sleep(0.05)
    with pytest.raises(SandboxTimeout):
        await start
    pod, policy = seen["pod"], seen["policy"]
    spec = pod.spec  # type: ignore[attr-defined]
    assert spec.runtime_class_name == "gvisor"
    assert spec.automount_service_account_token is False
    sc = spec.containers[0].security_context
    assert sc.read_only_root_filesystem and sc.run_as_non_root and sc.capabilities.drop == ["ALL"]
    assert policy.spec.egress == [] or policy.spec.egress is None  # type: ignore[attr-defined]
    assert policy.spec.policy_types == ["Ingress", "Egress"]  # type: ignore[attr-defined]
    await asyncio.sleep(0.5)
    left = await asyncio.to_thread(core.list_namespaced_pod, namespace)
    assert [p for p in left.items if p.metadata.deletion_timestamp is None] == [], (
        "a failed start deletes its pod"
    )
    api.close()
