"""The Pod and NetworkPolicy of a Kubernetes sandbox: schema-valid (strict) and locked down."""

from __future__ import annotations

import kubernetes_validate
import pytest

from roost.core import ConfigError
from roost.sandbox.backends.k8s_manifests import (
    SANDBOX_LABEL,
    KubernetesConfig,
    build_network_policy,
    build_pod_manifest,
    pod_name,
)
from roost.sandbox.base import SandboxLimits, SandboxSpec

K8S_VERSIONS = ["1.25.0", "1.30.0", "1.37.0"]
SID = "sbx_0abc123def456ghi789jkl"


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("network", [False, True])
def test_manifests_validate_strict(version: str, network: bool) -> None:
    spec = SandboxSpec(network=network, env={"FOO": "bar"})
    config = KubernetesConfig(node_selector={"pool": "sandboxes"}, labels={"team": "a"})
    for manifest in (
        build_pod_manifest(SID, spec, config),
        build_network_policy(SID, spec, config),
    ):
        kubernetes_validate.validate(manifest, version, strict=True)


def test_strict_validation_rejects_an_unknown_field() -> None:
    pod = build_pod_manifest(SID, SandboxSpec(), KubernetesConfig())
    pod["spec"]["containers"][0]["securityContex"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, "1.37.0", strict=True)


def test_pod_is_locked_down() -> None:
    spec = SandboxSpec(limits=SandboxLimits(memory_mb=300, cpu=0.25, disk_mb=100))
    pod = build_pod_manifest(SID, spec, KubernetesConfig(runtime_class="kata"))
    pod_spec = pod["spec"]
    assert pod_spec["runtimeClassName"] == "kata"
    assert pod_spec["automountServiceAccountToken"] is False
    assert pod_spec["restartPolicy"] == "Never"
    assert pod_spec["activeDeadlineSeconds"] == 3600
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    container = pod_spec["containers"][0]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["resources"]["limits"] == {
        "cpu": "250m",
        "memory": "300Mi",
        "ephemeral-storage": "164Mi",
    }
    assert container["resources"]["requests"] == container["resources"]["limits"]
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    assert volumes["workspace"]["emptyDir"]["sizeLimit"] == "100Mi"
    assert pod["metadata"]["labels"][SANDBOX_LABEL] == SID


def test_runtime_class_can_be_left_to_the_cluster_default() -> None:
    pod = build_pod_manifest(SID, SandboxSpec(), KubernetesConfig(runtime_class=None))
    assert "runtimeClassName" not in pod["spec"]


def test_network_policy_denies_all_egress_by_default() -> None:
    policy = build_network_policy(SID, SandboxSpec(), KubernetesConfig())
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["egress"] == []
    assert policy["spec"]["ingress"] == []
    assert policy["spec"]["podSelector"]["matchLabels"] == {SANDBOX_LABEL: SID}


def test_network_policy_with_network_still_blocks_metadata_endpoint() -> None:
    policy = build_network_policy(SID, SandboxSpec(network=True), KubernetesConfig())
    (rule,) = policy["spec"]["egress"]
    block = rule["to"][0]["ipBlock"]
    assert block["cidr"] == "0.0.0.0/0"
    assert "169.254.0.0/16" in block["except"]


def test_bad_ids_and_limits_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        pod_name("Not A Valid Name!")
    with pytest.raises(ConfigError):
        build_pod_manifest(SID, SandboxSpec(limits=SandboxLimits(cpu=0)), KubernetesConfig())
    assert pod_name(SID) == "roost-sbx-0abc123def456ghi789jkl"
