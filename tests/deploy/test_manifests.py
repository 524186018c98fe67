"""``roost deploy k8s`` manifests (pure): schema-valid for every Kubernetes version the
validator knows, locked down, and API versions picked from what a cluster serves."""

from __future__ import annotations

import pytest
import yaml
from kubernetes_validate.utils import validate

from roost.core import ConfigError
from roost.deploy.knative import SESSION_HEADER, KnativeService
from roost.deploy.knative import render as render_knative
from roost.deploy.manifests import ApiVersions, AppDeployment, owned, render

from ._tools import roost_cli

HA = AppDeployment(image="registry.corp/roost:1.0", secret="roost-env", image_pull_secrets=["corp"])


@pytest.mark.parametrize("version", ["1.25", "1.30", "1.37"])
def test_manifests_pass_strict_schema_validation(version: str) -> None:
    for spec in (HA, AppDeployment(image="roost:1", replicas=1)):
        for doc in render(spec):
            validate(doc, version, strict=True)


def test_deployment_is_locked_down_probed_and_migrates_first() -> None:
    dep = next(d for d in render(HA) if d["kind"] == "Deployment")
    pod = dep["spec"]["template"]["spec"]
    (server,) = pod["containers"]
    assert server["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
    sc = server["securityContext"]
    assert (
        sc["readOnlyRootFilesystem"]
        and sc["runAsNonRoot"]
        and sc["capabilities"]["drop"] == ["ALL"]
    )
    assert not sc["allowPrivilegeEscalation"]
    assert server["resources"]["requests"] and server["resources"]["limits"]
    assert pod["imagePullSecrets"] == [{"name": "corp"}]
    assert {"secretRef": {"name": "roost-env"}} in server["envFrom"]
    (migrate,) = pod["initContainers"]
    assert migrate["args"][:3] == ["roost", "db", "upgrade"], "schema before any replica serves"
    kinds = [d["kind"] for d in render(HA)]
    for kind in (
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Role",
        "RoleBinding",
        "ServiceAccount",
        "ConfigMap",
        "Service",
    ):
        assert kind in kinds
    hpa = next(d for d in render(HA) if d["kind"] == "HorizontalPodAutoscaler")
    assert {m["type"] for m in hpa["spec"]["metrics"]} == {"Resource", "Pods"}, "CPU and tokens/s"


def test_role_reaches_only_the_sandbox_namespace() -> None:
    role = next(d for d in render(HA) if d["kind"] == "Role")
    assert role["metadata"]["namespace"] == "roost-sandboxes"
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert resources == {"pods", "pods/exec", "pods/log", "networkpolicies"}
    assert not any("*" in rule["verbs"] for rule in role["rules"])


def test_api_versions_follow_what_the_cluster_serves() -> None:
    old = ApiVersions.from_served({"v1", "policy/v1beta1", "autoscaling/v2beta2", "autoscaling/v1"})
    assert (old.pdb, old.hpa) == ("policy/v1beta1", "autoscaling/v2beta2")
    new = ApiVersions.from_served({"v1", "policy/v1", "autoscaling/v2"})
    assert (new.pdb, new.hpa) == ("policy/v1", "autoscaling/v2")
    docs = render(HA, old)
    assert {d["apiVersion"] for d in docs if d["kind"] == "PodDisruptionBudget"} == {
        "policy/v1beta1"
    }


def test_several_replicas_need_postgres_and_redis() -> None:
    with pytest.raises(ConfigError, match="PostgreSQL and Redis"):
        AppDeployment(image="roost:1", replicas=3)
    single = render(AppDeployment(image="roost:1", replicas=1))
    assert "PersistentVolumeClaim" in [d["kind"] for d in single], "SQLite on a volume"
    dep = next(d for d in single if d["kind"] == "Deployment")
    assert dep["spec"]["strategy"]["type"] == "Recreate", "never two pods on one SQLite file"


def test_bad_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="not a valid Kubernetes name"):
        AppDeployment(image="roost:1", name="Roost_App", replicas=1)


def test_owned_covers_everything_render_makes() -> None:
    names = {(d["kind"], d["metadata"]["name"]) for d in owned("roost", "roost", ApiVersions())}
    for spec in (HA, AppDeployment(image="roost:1", replicas=1)):
        assert {(d["kind"], d["metadata"]["name"]) for d in render(spec)} <= names


def test_render_command_prints_valid_yaml() -> None:
    done = roost_cli("deploy", "k8s", "--image", "roost:1", "--secret", "env", "--render")
    assert done.returncode == 0, done.stderr
    docs = list(yaml.safe_load_all(done.stdout))
    assert [d["kind"] for d in docs][-2:] == ["HorizontalPodAutoscaler", "PodDisruptionBudget"]
    bad = roost_cli("deploy", "k8s", "--image", "roost:1", "--replicas", "2", "--render")
    assert bad.returncode == 2 and "config_invalid" in bad.stderr and "hint:" in bad.stderr


def test_knative_service_scales_to_zero_with_a_concurrency_target() -> None:
    (plain,) = render_knative(KnativeService(image="roost:1"))
    assert plain["kind"] == "Service", "no Istio object unless asked"
    service, affinity = render_knative(
        KnativeService(image="roost:1", concurrency=15, max_scale=4, affinity_header=SESSION_HEADER)
    )
    annotations = service["spec"]["template"]["metadata"]["annotations"]
    assert annotations["autoscaling.knative.dev/min-scale"] == "0"
    assert annotations["autoscaling.knative.dev/target"] == "15"
    assert annotations["autoscaling.knative.dev/max-scale"] == "4"
    assert service["spec"]["template"]["spec"]["timeoutSeconds"] >= 600, "long streams pass"
    hashing = affinity["spec"]["trafficPolicy"]["loadBalancer"]["consistentHash"]
    assert hashing == {"httpHeaderName": "X-Roost-Session-Id"}
    with pytest.raises(ConfigError):
        KnativeService(image="roost:1", min_scale=3, max_scale=2)
