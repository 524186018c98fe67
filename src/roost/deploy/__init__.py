"""Deployment: container images, Kubernetes manifests and the Helm chart, Knative
scale-to-zero, single-server systemd installs and the air-gapped bundle.

Pure builders (manifests, units, build contexts) need nothing installed; talking to a
cluster needs ``roost[k8s]``; building images needs Docker or Podman on the machine.
"""

from __future__ import annotations

from roost.deploy.errors import ClusterRefused, ClusterUnavailable, DeployError, EngineUnavailable

__all__ = ["ClusterRefused", "ClusterUnavailable", "DeployError", "EngineUnavailable"]
