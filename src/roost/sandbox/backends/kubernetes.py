"""The ``kubernetes`` backend: one pod per sandbox (kubernetes client, imported lazily).

Each sandbox is a locked-down Pod (runtime class for gVisor/Kata, non-root, read-only
root, no capabilities, RuntimeDefault seccomp, bounded lifetime) plus a NetworkPolicy
that denies all egress unless the sandbox asked for network. Shell, files and the Python
kernel run through the pod ``exec`` websocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import threading
import time
from typing import IO, Any

from roost.core import SandboxError, SandboxTimeout, SandboxUnavailable
from roost.sandbox.backends.container import ContainerSandbox, ExecOutput, StreamChannel
from roost.sandbox.backends.k8s_manifests import (
    KubernetesConfig,
    build_network_policy,
    build_pod_manifest,
    pod_name,
)
from roost.sandbox.base import SandboxSpec

__all__ = [
    "KubernetesConfig",
    "KubernetesSandbox",
    "build_network_policy",
    "build_pod_manifest",
    "kubernetes_available",
]

_STDIN, _STDOUT, _STDERR = 0, 1, 2
_FATAL_WAITING = {
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}


def _module(name: str) -> Any:
    """Import a kubernetes-client module lazily (it is an optional extra, and slow)."""
    return importlib.import_module(name)


def _api_client(config: KubernetesConfig) -> Any:
    try:
        k8s_client = _module("kubernetes.client")
        k8s_config = _module("kubernetes.config")
    except ImportError as exc:  # pragma: no cover - kubernetes is a declared extra
        raise SandboxUnavailable(
            "the kubernetes backend needs the kubernetes client",
            hint="pip install 'roost[k8s]'",
        ) from exc
    configuration = k8s_client.Configuration()
    try:
        in_cluster = config.in_cluster
        if in_cluster is None:
            import os

            in_cluster = "KUBERNETES_SERVICE_HOST" in os.environ
        if in_cluster:
            k8s_config.load_incluster_config(client_configuration=configuration)
        else:
            k8s_config.load_kube_config(
                config_file=config.kubeconfig,
                context=config.context,
                client_configuration=configuration,
            )
    except Exception as exc:
        raise SandboxUnavailable(
            f"no Kubernetes cluster configured: {exc}",
            hint="set KUBECONFIG (or run inside a pod with a service account)",
        ) from exc
    api = k8s_client.ApiClient(configuration)
    try:
        k8s_client.VersionApi(api).get_code(_request_timeout=5)
    except Exception as exc:
        api.close()
        raise SandboxUnavailable(
            f"Kubernetes API server unreachable: {exc}", hint="check the kubeconfig context"
        ) from exc
    return api


def _delete_pod_and_policy(api: Any, name: str, namespace: str) -> None:
    """Delete a sandbox's pod and network policy; already gone is fine."""
    k8s_client = _module("kubernetes.client")
    api_exception = _module("kubernetes.client.exceptions").ApiException
    core = k8s_client.CoreV1Api(api)
    net = k8s_client.NetworkingV1Api(api)
    for kind in ("pod", "policy"):
        try:
            if kind == "pod":
                core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
            else:
                net.delete_namespaced_network_policy(name, namespace)
        except api_exception as exc:
            if exc.status != 404:
                raise


def kubernetes_available(config: KubernetesConfig | None = None) -> str | None:
    """``None`` when a cluster answers, else the reason it does not."""
    try:
        _api_client(config or KubernetesConfig.from_settings()).close()
    except SandboxUnavailable as exc:
        return exc.message
    return None


class KubernetesSandbox(ContainerSandbox):
    """A sandbox in its own pod."""

    backend = "kubernetes"

    def __init__(
        self,
        spec: SandboxSpec | None = None,
        *,
        config: KubernetesConfig | None = None,
        sandbox_id: str | None = None,
    ) -> None:
        super().__init__(spec, sandbox_id=sandbox_id)
        self.config = config or KubernetesConfig.from_settings()
        self.python = self.config.python
        self._api: Any = None
        self._pod = pod_name(self.id)
        self.container_detail: dict[str, Any] = {}

    def _core(self) -> Any:
        return _module("kubernetes.client").CoreV1Api(self._api)

    async def _create(self) -> None:
        k8s_client = _module("kubernetes.client")
        self._api = await asyncio.to_thread(_api_client, self.config)
        pod = build_pod_manifest(self.id, self.spec, self.config)
        policy = build_network_policy(self.id, self.spec, self.config)
        namespace = self.config.namespace

        def create() -> None:
            api_exception = _module("kubernetes.client.exceptions").ApiException
            try:
                # The policy first: the pod must never run a moment without it.
                k8s_client.NetworkingV1Api(self._api).create_namespaced_network_policy(
                    namespace, policy
                )
                self._core().create_namespaced_pod(namespace, pod)
            except api_exception as exc:
                raise SandboxUnavailable(
                    f"the cluster refused the sandbox ({exc.status} {exc.reason}): "
                    f"{str(exc.body)[:500]}",
                    hint="check the namespace exists, RBAC (pods, pods/exec, networkpolicies) "
                    "and that the runtime class is installed",
                ) from exc

        # Recorded before creation so a failed start still deletes what was created.
        self.container_detail = {
            "pod": self._pod,
            "namespace": namespace,
            "runtime_class": self.config.runtime_class,
        }
        await asyncio.to_thread(create)
        await self._wait_running()

    async def _wait_running(self) -> None:
        deadline = time.monotonic() + self.config.ready_timeout_s
        while True:
            pod = await asyncio.to_thread(
                self._core().read_namespaced_pod, self._pod, self.config.namespace
            )
            phase = pod.status.phase if pod.status else None
            if phase == "Running":
                return
            for status in (pod.status.container_statuses or []) if pod.status else []:
                waiting = status.state.waiting if status.state else None
                if waiting is not None and waiting.reason in _FATAL_WAITING:
                    raise SandboxUnavailable(
                        f"sandbox pod {self._pod} cannot start: {waiting.reason}: "
                        f"{waiting.message or ''}".strip(),
                        hint="check the image name and that the nodes can pull it",
                    )
            if phase in ("Failed", "Succeeded"):
                raise SandboxError(f"sandbox pod {self._pod} ended ({phase}) before it was ready")
            if time.monotonic() > deadline:
                raise SandboxTimeout(
                    f"sandbox pod {self._pod} not running after {self.config.ready_timeout_s}s"
                    f" (phase {phase})",
                    hint="check image pulls, the runtime class and namespace quotas",
                )
            await asyncio.sleep(0.25)

    async def _destroy(self) -> None:
        if self._api is None:
            return
        api, self._api = self._api, None

        def delete() -> None:
            try:
                _delete_pod_and_policy(api, self._pod, self.config.namespace)
            finally:
                api.close()

        await asyncio.to_thread(delete)

    def _ws(self, argv: list[str], stdin: bool) -> Any:
        return _module("kubernetes.stream").stream(
            self._core().connect_get_namespaced_pod_exec,
            self._pod,
            self.config.namespace,
            container="sandbox",
            command=argv,
            stdin=stdin,
            stdout=True,
            stderr=True,
            tty=False,
            _preload_content=False,
            binary=True,
        )

    async def _exec(self, argv: list[str], *, stdin: bytes | None, timeout: float) -> ExecOutput:
        def run() -> ExecOutput:
            ws = self._ws(argv, stdin is not None)
            stdout, stderr = bytearray(), bytearray()
            try:
                if stdin is not None:
                    ws.write_stdin(stdin)
                    ws.close_channel(_STDIN)
                deadline = time.monotonic() + timeout
                while ws.is_open():
                    if time.monotonic() > deadline:
                        raise SandboxTimeout(f"exec in {self._pod} exceeded {timeout}s")
                    ws.update(timeout=1)
                    stdout += ws.read_channel(_STDOUT)
                    stderr += ws.read_channel(_STDERR)
                stdout += ws.read_channel(_STDOUT)
                stderr += ws.read_channel(_STDERR)
                return ExecOutput(ws.returncode, bytes(stdout), bytes(stderr))
            finally:
                ws.close()

        return await asyncio.to_thread(run)

    async def _open_stream(self, argv: list[str], stderr: IO[bytes]) -> StreamChannel:
        ws = await asyncio.to_thread(self._ws, argv, True)

        async def write(data: bytes) -> None:
            await asyncio.to_thread(ws.write_stdin, data)

        async def close() -> None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(ws.close)

        channel = StreamChannel(write, close)

        def pump() -> None:
            try:
                while ws.is_open():
                    ws.update(timeout=1)
                    data = ws.read_channel(_STDOUT)
                    if data:
                        channel.feed(data)
                    err = ws.read_channel(_STDERR)
                    if err:
                        stderr.write(err)
            except Exception:  # the websocket closed under us: the reader sees EOF
                pass
            finally:
                channel.finish()

        threading.Thread(target=pump, name=f"k8s-kernel-{self.id}", daemon=True).start()
        return channel


async def reap(detail: dict[str, Any]) -> None:
    """Delete the pod and network policy of a sandbox whose manager died."""
    pod, namespace = detail.get("pod"), detail.get("namespace")
    if not pod or not namespace:
        return
    api = await asyncio.to_thread(_api_client, KubernetesConfig.from_settings(namespace=namespace))

    def delete() -> None:
        try:
            _delete_pod_and_policy(api, pod, namespace)
        finally:
            api.close()

    await asyncio.to_thread(delete)
