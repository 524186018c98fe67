"""Errors of the deployment layer: each says which tool or cluster refused and what to do."""

from __future__ import annotations

from roost.core.errors import RoostError


class DeployError(RoostError):
    """A deployment step failed (a build, an apply, a bundle)."""

    code = "deploy_failed"
    status = 500


class EngineUnavailable(DeployError):
    """No container engine (Docker or Podman) answers."""

    code = "container_engine_unavailable"
    status = 503


class ClusterUnavailable(DeployError):
    """No Kubernetes API server answers."""

    code = "cluster_unavailable"
    status = 503


class ClusterRefused(DeployError):
    """The API server rejected a manifest (validation, admission, RBAC)."""

    code = "cluster_refused"
    status = 422
