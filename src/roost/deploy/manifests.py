"""Kubernetes manifests of an agent app (``roost deploy k8s``): pure builders, no client.

One Deployment of stateless replicas (state in PostgreSQL, streams and locks in Redis)
behind a Service, scaled by an HPA on CPU and on token throughput, kept available by a
PodDisruptionBudget, fenced by a NetworkPolicy; the schema is migrated by an init
container under the store's migration lock, so replicas never race on it. Sandbox pods
live in their own namespace, managed through a ServiceAccount with just enough RBAC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from roost.core.errors import ConfigError
from roost.deploy.image import HOME, PORT, UID

_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
TOKENS_METRIC = "roost_model_tokens_per_second"
"""Pods metric the Prometheus adapter serves from ``rate(roost_model_tokens_total[2m])``."""


@dataclass(frozen=True)
class ApiVersions:
    """API versions to write, chosen from what the cluster serves (1.20 has no
    ``policy/v1`` PDB and no ``autoscaling/v2`` HPA)."""

    pdb: str = "policy/v1"
    hpa: str = "autoscaling/v2"

    @classmethod
    def from_served(cls, served: set[str]) -> ApiVersions:
        return cls(
            pdb="policy/v1" if "policy/v1" in served else "policy/v1beta1",
            hpa="autoscaling/v2" if "autoscaling/v2" in served else "autoscaling/v2beta2",
        )


@dataclass
class AppDeployment:
    """An app on Kubernetes. ``secret`` names a Secret with ``ROOST_DATABASE_URL``,
    ``ROOST_REDIS_URL``, ``ROOST_ADMIN_KEY`` (and model keys): required for more than
    one replica; without it one replica keeps SQLite on a PersistentVolumeClaim."""

    image: str
    name: str = "roost"
    namespace: str = "roost"
    app: str | None = None
    secret: str | None = None
    replicas: int = 2
    max_replicas: int = 10
    cpu_target: int = 70
    tokens_per_second: int | None = 200
    """Target tokens/s per pod for the HPA (``None``: CPU only, no Prometheus adapter)."""
    cpu: str = "500m"
    memory: str = "512Mi"
    cpu_limit: str = "2"
    memory_limit: str = "1Gi"
    storage: str = "5Gi"
    image_pull_secrets: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    sandbox_namespace: str | None = None
    """Namespace of sandbox pods (default ``<namespace>-sandboxes``)."""
    ingress_from: list[str] = field(default_factory=list)
    """Namespaces allowed to reach the pods (the ingress controller's); empty: any pod."""

    def __post_init__(self) -> None:
        for what, value in (("name", self.name), ("namespace", self.namespace)):
            if len(value) > 53 or not _DNS1123.match(value):
                raise ConfigError(
                    f"{what} {value!r} is not a valid Kubernetes name",
                    hint="lowercase letters, digits and '-', at most 53 characters",
                )
        if self.replicas < 1 or self.max_replicas < self.replicas:
            raise ConfigError("need 1 <= replicas <= max_replicas")
        if self.secret is None and self.replicas > 1:
            raise ConfigError(
                "more than one replica needs PostgreSQL and Redis",
                hint="create a Secret with ROOST_DATABASE_URL and ROOST_REDIS_URL and pass "
                "--secret NAME, or use --replicas 1 (SQLite on a volume)",
            )

    @property
    def sandboxes(self) -> str:
        return self.sandbox_namespace or f"{self.namespace}-sandboxes"

    def labels(self) -> dict[str, str]:
        return {
            "app.kubernetes.io/name": "roost",
            "app.kubernetes.io/instance": self.name,
            "app.kubernetes.io/managed-by": "roost",
        }


def _meta(d: AppDeployment, name: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name or d.name, "namespace": d.namespace, "labels": d.labels(), **extra}


def _container(d: AppDeployment) -> dict[str, Any]:
    serve = ["roost", "serve", *([d.app] if d.app else []), "--host", "0.0.0.0"]
    env_from: list[dict[str, Any]] = [{"configMapRef": {"name": d.name}}]
    if d.secret:
        env_from.append({"secretRef": {"name": d.secret}})
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10}
    return {
        "name": "roost",
        "image": d.image,
        "imagePullPolicy": "IfNotPresent",
        "args": [*serve, "--port", str(PORT)],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "envFrom": env_from,
        "resources": {
            "requests": {"cpu": d.cpu, "memory": d.memory},
            "limits": {"cpu": d.cpu_limit, "memory": d.memory_limit},
        },
        "startupProbe": {**probe, "failureThreshold": 30, "periodSeconds": 2},
        "livenessProbe": {**probe, "timeoutSeconds": 3},
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "http"},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
        },
        "securityContext": _locked_down(),
        "volumeMounts": [
            {"name": "home", "mountPath": HOME},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def _locked_down() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def deployment(d: AppDeployment) -> dict[str, Any]:
    container = _container(d)
    migrate = {
        "name": "migrate",
        "image": d.image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["roost", "db", "upgrade", "--wait", "120"],
        "envFrom": container["envFrom"],
        "resources": container["resources"],
        "securityContext": _locked_down(),
        "volumeMounts": container["volumeMounts"],
    }
    home: dict[str, Any] = (
        {"name": "home", "emptyDir": {}}
        if d.secret
        else {"name": "home", "persistentVolumeClaim": {"claimName": d.name}}
    )
    spec: dict[str, Any] = {
        "serviceAccountName": d.name,
        "automountServiceAccountToken": True,
        "securityContext": {
            "runAsNonRoot": True,
            "fsGroup": UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "initContainers": [migrate],
        "containers": [container],
        "volumes": [home, {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}],
        "terminationGracePeriodSeconds": 30,
    }
    if d.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": s} for s in d.image_pull_secrets]
    selector = {k: v for k, v in d.labels().items() if k != "app.kubernetes.io/managed-by"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(d),
        "spec": {
            "replicas": d.replicas,
            "selector": {"matchLabels": selector},
            # SQLite on one volume: never two pods at once
            "strategy": {"type": "RollingUpdate"} if d.secret else {"type": "Recreate"},
            "template": {"metadata": {"labels": d.labels()}, "spec": spec},
        },
    }


def _selector(d: AppDeployment) -> dict[str, str]:
    return {k: v for k, v in d.labels().items() if k != "app.kubernetes.io/managed-by"}


def service(d: AppDeployment) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(d),
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(d),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def autoscaler(d: AppDeployment, versions: ApiVersions) -> dict[str, Any]:
    metrics: list[dict[str, Any]] = [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": d.cpu_target},
            },
        }
    ]
    if d.tokens_per_second:
        metrics.append(
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": TOKENS_METRIC},
                    "target": {"type": "AverageValue", "averageValue": str(d.tokens_per_second)},
                },
            }
        )
    return {
        "apiVersion": versions.hpa,
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(d),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": d.name},
            "minReplicas": d.replicas,
            "maxReplicas": d.max_replicas,
            "metrics": metrics,
            # Streams last minutes: scale down slowly.
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


def disruption_budget(d: AppDeployment, versions: ApiVersions) -> dict[str, Any]:
    return {
        "apiVersion": versions.pdb,
        "kind": "PodDisruptionBudget",
        "metadata": _meta(d),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _selector(d)}},
    }


def network_policy(d: AppDeployment) -> dict[str, Any]:
    source: list[dict[str, Any]] = (
        [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
            for ns in d.ingress_from
        ]
        if d.ingress_from
        else [{"podSelector": {}}, {"namespaceSelector": {}}]
    )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(d),
        "spec": {
            "podSelector": {"matchLabels": _selector(d)},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": source, "ports": [{"port": PORT, "protocol": "TCP"}]}],
        },
    }


def sandbox_access(d: AppDeployment) -> list[dict[str, Any]]:
    """ServiceAccount of the server, the sandbox namespace, and a Role there that
    manages sandbox pods (create, exec, delete) and their NetworkPolicies: nothing else."""
    role_meta = {"name": d.name, "namespace": d.sandboxes, "labels": d.labels()}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(d)},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": d.sandboxes, "labels": d.labels()}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": role_meta,
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "create", "delete"]},
                {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
                {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
                {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["get", "list", "create", "delete"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": role_meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": d.name},
            "subjects": [{"kind": "ServiceAccount", "name": d.name, "namespace": d.namespace}],
        },
    ]  # fmt: skip


def config_map(d: AppDeployment) -> dict[str, Any]:
    data = {
        "ROOST_LOG_FORMAT": "json",
        "ROOST_SANDBOX": "0",
        "ROOST_SANDBOX_K8S_NAMESPACE": d.sandboxes,
        **d.env,
    }
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(d), "data": data}


def volume_claim(d: AppDeployment) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(d),
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": d.storage}},
        },
    }


def render(d: AppDeployment, versions: ApiVersions | None = None) -> list[dict[str, Any]]:
    """Every manifest, in apply order (namespace-free: the namespace must exist)."""
    versions = versions or ApiVersions()
    docs = [config_map(d), *sandbox_access(d)]
    if d.secret is None:
        docs.append(volume_claim(d))
    docs += [deployment(d), service(d), network_policy(d)]
    if d.max_replicas > 1 and d.secret:
        docs += [autoscaler(d, versions), disruption_budget(d, versions)]
    return docs


def owned(name: str, namespace: str, versions: ApiVersions) -> list[dict[str, Any]]:
    """Every object :func:`render` may have created for this release (to delete them)."""
    full = AppDeployment(image="-", name=name, namespace=namespace, secret="-")
    return [*render(full, versions), volume_claim(full)]


def to_yaml(docs: list[dict[str, Any]]) -> str:
    import yaml

    return "".join("---\n" + yaml.safe_dump(doc, sort_keys=False) for doc in docs)
