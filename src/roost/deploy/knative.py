"""Scale-to-zero with Knative Serving (``roost deploy knative``): one Knative Service.

Roost keeps sessions in PostgreSQL and locks/streams in Redis, so any replica serves any
session and scaling to zero loses nothing; the optional Istio DestinationRule hashes a
session header to one replica only to keep its caches warm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from roost.core.errors import ConfigError
from roost.deploy.image import PORT, UID

SESSION_HEADER = "X-Roost-Session-Id"


@dataclass
class KnativeService:
    image: str
    name: str = "roost"
    namespace: str = "default"
    app: str | None = None
    secret: str | None = None
    """Secret with ``ROOST_DATABASE_URL``, ``ROOST_REDIS_URL``, ``ROOST_ADMIN_KEY``."""
    min_scale: int = 0
    max_scale: int = 10
    concurrency: int = 20
    """Target concurrent requests per replica (soft: the autoscaler aims for it)."""
    container_concurrency: int = 0
    """Hard limit per replica; 0 = none (streams are long and mostly idle)."""
    timeout_s: int = 900
    """Longest request (a streamed run) the activator lets through."""
    scale_down_delay: str = "5m"
    cpu: str = "500m"
    memory: str = "512Mi"
    memory_limit: str = "1Gi"
    env: dict[str, str] = field(default_factory=dict)
    image_pull_secrets: list[str] = field(default_factory=list)
    affinity_header: str | None = None
    """With Istio: hash this header (e.g. :data:`SESSION_HEADER`) to keep a session on one
    replica. ``None``: no DestinationRule (clusters without Istio would refuse it)."""

    def __post_init__(self) -> None:
        if self.min_scale < 0 or self.max_scale < max(1, self.min_scale):
            raise ConfigError("need 0 <= min_scale <= max_scale and max_scale >= 1")
        if self.concurrency < 1:
            raise ConfigError("the concurrency target must be >= 1")


def knative_service(k: KnativeService) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "roost", "app.kubernetes.io/instance": k.name}
    annotations = {
        "autoscaling.knative.dev/class": "kpa.autoscaling.knative.dev",
        "autoscaling.knative.dev/metric": "concurrency",
        "autoscaling.knative.dev/target": str(k.concurrency),
        "autoscaling.knative.dev/min-scale": str(k.min_scale),
        "autoscaling.knative.dev/max-scale": str(k.max_scale),
        "autoscaling.knative.dev/scale-down-delay": k.scale_down_delay,
    }
    env = [{"name": "ROOST_LOG_FORMAT", "value": "json"}, {"name": "ROOST_SANDBOX", "value": "0"}]
    env += [{"name": key, "value": value} for key, value in sorted(k.env.items())]
    container: dict[str, Any] = {
        "name": "roost",
        "image": k.image,
        "args": ["roost", "serve", *([k.app] if k.app else []), "--host", "0.0.0.0", "--port", str(PORT)],
        "ports": [{"name": "http1", "containerPort": PORT, "protocol": "TCP"}],
        "env": env,
        "resources": {
            "requests": {"cpu": k.cpu, "memory": k.memory},
            "limits": {"memory": k.memory_limit},
        },
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": PORT}, "periodSeconds": 2},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": PORT}, "periodSeconds": 10},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "home", "mountPath": "/var/lib/roost"}],
    }  # fmt: skip
    if k.secret:
        container["envFrom"] = [{"secretRef": {"name": k.secret}}]
    spec: dict[str, Any] = {
        "containerConcurrency": k.container_concurrency,
        "timeoutSeconds": k.timeout_s,
        "containers": [container],
        "volumes": [{"name": "home", "emptyDir": {}}],
    }
    if k.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": s} for s in k.image_pull_secrets]
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": k.name, "namespace": k.namespace, "labels": labels},
        "spec": {
            "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": spec},
            "traffic": [{"latestRevision": True, "percent": 100}],
        },
    }


def session_affinity(k: KnativeService) -> dict[str, Any] | None:
    """An Istio DestinationRule hashing ``affinity_header`` to a replica (Knative Serving
    has no affinity of its own; with Kourier or Contour leave it out)."""
    if not k.affinity_header:
        return None
    return {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "DestinationRule",
        "metadata": {"name": f"{k.name}-affinity", "namespace": k.namespace},
        "spec": {
            "host": f"{k.name}.{k.namespace}.svc.cluster.local",
            "trafficPolicy": {
                "loadBalancer": {"consistentHash": {"httpHeaderName": k.affinity_header}}
            },
        },
    }


def render(k: KnativeService) -> list[dict[str, Any]]:
    affinity = session_affinity(k)
    return [knative_service(k), *([affinity] if affinity else [])]
