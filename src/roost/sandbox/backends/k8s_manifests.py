"""Pure builders of the Pod and NetworkPolicy manifests of a Kubernetes sandbox.

Kept free of the ``kubernetes`` client so they can be validated (``kubernetes-validate
--strict``) and reviewed on a machine without a cluster.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from roost.core import ConfigError, get_settings
from roost.sandbox.backends.docker_spec import KEEPER, WORKDIR, json_object
from roost.sandbox.base import SandboxSpec

SANDBOX_LABEL = "roost.dev/sandbox-id"
TYPE_LABEL = "roost.dev/sandbox-type"
MANAGED_BY = {"app.kubernetes.io/managed-by": "roost", "app.kubernetes.io/name": "roost-sandbox"}

_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_METADATA_CIDR = "169.254.0.0/16"


class KubernetesConfig(BaseModel):
    """Where and how sandbox pods run; :meth:`from_settings` reads the
    ``ROOST_SANDBOX_K8S_*`` variables. ``runtime_class`` selects gVisor (``gvisor``) or
    Kata (``kata``); empty uses the cluster default (a shared kernel: not for hostile
    code)."""

    model_config = ConfigDict(extra="ignore")

    namespace: str = "roost-sandboxes"
    image: str = "python:3.12-slim"
    image_pull_policy: str = "IfNotPresent"
    runtime_class: str | None = "gvisor"
    max_lifetime_s: int = 3600
    """``activeDeadlineSeconds``: the kubelet kills the pod after this even if Roost dies."""
    run_as_user: int = 65532
    python: str = "python3"
    node_selector: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    tmp_mb: int = 64
    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool | None = None
    """``None``: in-cluster config when running in a pod, else the kubeconfig."""
    ready_timeout_s: float = 120.0

    @classmethod
    def from_settings(cls, **overrides: Any) -> KubernetesConfig:
        return cls.model_validate({**get_settings().sandbox_k8s, **overrides})

    _dicts = field_validator("node_selector", "labels", mode="before")(json_object)


def pod_name(sandbox_id: str) -> str:
    name = "roost-" + sandbox_id.lower().replace("_", "-")
    if len(name) > 63 or not _DNS1123.match(name):
        raise ConfigError(
            f"sandbox id {sandbox_id!r} does not make a valid pod name",
            hint="use ids made of lowercase letters, digits, '-' and '_' (≤ 57 chars)",
        )
    return name


def _cpu(cores: float) -> str:
    if cores <= 0:
        raise ConfigError("limits.cpu must be > 0", hint="e.g. 0.5 for half a core")
    return f"{max(1, round(cores * 1000))}m"


def _labels(sandbox_id: str, spec: SandboxSpec, config: KubernetesConfig) -> dict[str, str]:
    return {**config.labels, **MANAGED_BY, SANDBOX_LABEL: sandbox_id, TYPE_LABEL: spec.type}


def build_pod_manifest(
    sandbox_id: str, spec: SandboxSpec, config: KubernetesConfig
) -> dict[str, Any]:
    """The Pod of one sandbox: non-root, read-only root filesystem, no capabilities,
    RuntimeDefault seccomp, no service-account token, bounded lifetime and resources."""
    limits = spec.limits
    if limits.memory_mb <= 0 or limits.disk_mb <= 0:
        raise ConfigError("limits.memory_mb and limits.disk_mb must be > 0")
    resources = {
        "cpu": _cpu(limits.cpu),
        "memory": f"{limits.memory_mb}Mi",
        "ephemeral-storage": f"{limits.disk_mb + config.tmp_mb}Mi",
    }
    env = [
        {"name": "HOME", "value": WORKDIR},
        {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": "MPLBACKEND", "value": "Agg"},
        *({"name": k, "value": v} for k, v in sorted(spec.env.items())),
    ]
    no_privileges: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": config.run_as_user,
        "runAsGroup": config.run_as_user,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "activeDeadlineSeconds": config.max_lifetime_s,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "hostNetwork": False,
        "hostPID": False,
        "hostIPC": False,
        "terminationGracePeriodSeconds": 1,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": config.run_as_user,
            "runAsGroup": config.run_as_user,
            "fsGroup": config.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "sandbox",
                "image": spec.image or config.image,
                "imagePullPolicy": config.image_pull_policy,
                "command": [config.python, "-c", KEEPER],
                "workingDir": WORKDIR,
                "env": env,
                "resources": {"requests": dict(resources), "limits": dict(resources)},
                "securityContext": no_privileges,
                "volumeMounts": [
                    {"name": "workspace", "mountPath": WORKDIR},
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
            }
        ],
        "volumes": [
            {"name": "workspace", "emptyDir": {"sizeLimit": f"{limits.disk_mb}Mi"}},
            {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": f"{config.tmp_mb}Mi"}},
        ],
    }
    if config.runtime_class:
        pod_spec["runtimeClassName"] = config.runtime_class
    if config.node_selector:
        pod_spec["nodeSelector"] = dict(config.node_selector)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(sandbox_id),
            "namespace": config.namespace,
            "labels": _labels(sandbox_id, spec, config),
            "annotations": {"roost.dev/network": "true" if spec.network else "false"},
        },
        "spec": pod_spec,
    }


def build_network_policy(
    sandbox_id: str, spec: SandboxSpec, config: KubernetesConfig
) -> dict[str, Any]:
    """Deny all ingress, and all egress unless the sandbox asked for network; even then
    the link-local range (cloud metadata endpoints) stays unreachable."""
    egress: list[dict[str, Any]] = []
    if spec.network:
        egress = [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [_METADATA_CIDR]}}]}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": pod_name(sandbox_id),
            "namespace": config.namespace,
            "labels": _labels(sandbox_id, spec, config),
        },
        "spec": {
            "podSelector": {"matchLabels": {SANDBOX_LABEL: sandbox_id}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": egress,
        },
    }
