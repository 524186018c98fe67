"""Applying manifests to a real cluster (kubernetes client, imported lazily; ``roost[k8s]``).

Every apply is a server-side apply, after a server-side dry run of all the documents:
the API server's own validation and admission (names, selectors, quotas, RBAC) judge
the whole set before anything changes, so a bad manifest never leaves half a deploy.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from roost.deploy.errors import ClusterRefused, ClusterUnavailable

FIELD_MANAGER = "roost"


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:  # pragma: no cover - kubernetes is a declared extra
        raise ClusterUnavailable(
            "deploying to Kubernetes needs the kubernetes client",
            hint="pip install 'roost[k8s]'",
        ) from exc


class Cluster:
    """One API server, reached through a kubeconfig (or the pod's service account)."""

    def __init__(self, *, kubeconfig: str | None = None, context: str | None = None) -> None:
        client = _module("kubernetes.client")
        config = _module("kubernetes.config")
        configuration = client.Configuration()
        try:
            config.load_kube_config(
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
        except Exception as exc:
            try:
                config.load_incluster_config(client_configuration=configuration)
            except Exception:
                raise ClusterUnavailable(
                    f"no Kubernetes cluster configured: {exc}",
                    hint="set KUBECONFIG or pass --kubeconfig (and --context)",
                ) from exc
        self.api = client.ApiClient(configuration)
        try:
            self.version = client.VersionApi(self.api).get_code(_request_timeout=10).git_version
            dynamic = _module("kubernetes.dynamic")
            self._dynamic = dynamic.DynamicClient(self.api)
        except Exception as exc:
            self.api.close()
            raise ClusterUnavailable(
                f"the Kubernetes API server does not answer: {exc}",
                hint="check the kubeconfig's server address and credentials",
            ) from exc

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def served_versions(self) -> set[str]:
        """Every ``group/version`` the API server serves (``v1`` for the core group)."""
        groups = _module("kubernetes.client").ApisApi(self.api).get_api_versions()
        served = {"v1"}
        for group in groups.groups:
            served.update(v.group_version for v in group.versions)
        return served

    def _resource(self, doc: dict[str, Any]) -> Any:
        try:
            return self._dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        except Exception as exc:
            raise ClusterRefused(
                f"the cluster does not serve {doc['kind']} in {doc['apiVersion']}",
                hint="install the CRD (e.g. Knative Serving) or pick an API version it serves",
            ) from exc

    def _apply_one(self, doc: dict[str, Any], dry_run: bool) -> None:
        resource = self._resource(doc)
        kwargs: dict[str, Any] = {"field_manager": FIELD_MANAGER, "force_conflicts": True}
        if dry_run:
            kwargs["dry_run"] = "All"
        meta = doc["metadata"]
        try:
            self._dynamic.server_side_apply(
                resource, body=doc, name=meta["name"], namespace=meta.get("namespace"), **kwargs
            )
        except Exception as exc:
            raise ClusterRefused(
                f"{doc['kind']} {meta['name']}: {_reason(exc)}",
                hint="the API server's message above says which field to fix",
                dry_run=dry_run,
            ) from exc

    def apply(self, docs: Iterable[dict[str, Any]], *, dry_run: bool = False) -> list[str]:
        """Dry-run every document on the server, then (unless ``dry_run``) apply them.
        Namespaces go first, for real (unless ``dry_run``), so the dry run of what they
        hold can pass. Returns one line per document: ``Kind/name`` and what happened."""
        docs = list(docs)
        namespaces = [d for d in docs if d["kind"] == "Namespace"]
        rest = [d for d in docs if d["kind"] != "Namespace"]
        report: list[str] = []
        for doc in namespaces:
            self._apply_one(doc, dry_run=True)
            if not dry_run:
                self._apply_one(doc, dry_run=False)
        missing = {n["metadata"]["name"] for n in namespaces if dry_run and not self._exists(n)}
        errors: list[str] = []
        for doc in rest:
            if doc["metadata"].get("namespace") in missing:
                # The server cannot judge objects of a namespace that does not exist yet.
                report.append(
                    f"{_ref(doc)} not checked (namespace {doc['metadata']['namespace']} is new)"
                )
                continue
            try:
                self._apply_one(doc, dry_run=True)
            except ClusterRefused as exc:
                errors.append(exc.message)
        if errors:
            raise ClusterRefused(
                "the API server refused the manifests (nothing was applied): " + "; ".join(errors),
                hint="fix the values named above and deploy again",
            )
        if not dry_run:
            for doc in rest:
                self._apply_one(doc, dry_run=False)
        verb = "accepted (server-side dry run)" if dry_run else "applied"
        done = {line.split(" ")[0] for line in report}
        return [f"{_ref(d)} {verb}" for d in docs if _ref(d) not in done] + report

    def _exists(self, doc: dict[str, Any]) -> bool:
        try:
            self._resource(doc).get(name=doc["metadata"]["name"])
        except Exception:
            return False
        return True

    def delete(self, docs: Iterable[dict[str, Any]]) -> list[str]:
        """Delete the documents' objects (already gone is fine); returns what was deleted."""
        deleted = []
        for doc in reversed(list(docs)):
            meta = doc["metadata"]
            try:
                self._resource(doc).delete(
                    name=meta["name"],
                    namespace=meta.get("namespace"),
                    propagation_policy="Background",
                )
                deleted.append(f"{doc['kind']}/{meta['name']}")
            except ClusterRefused:
                continue  # a kind this cluster never served (an HPA version): nothing to delete
            except Exception as exc:
                if getattr(exc, "status", None) != 404:
                    raise ClusterRefused(
                        f"cannot delete {doc['kind']} {meta['name']}: {_reason(exc)}"
                    ) from exc
        return deleted

    def status(self, name: str, namespace: str) -> AppStatus:
        apps = _module("kubernetes.client").AppsV1Api(self.api)
        core = _module("kubernetes.client").CoreV1Api(self.api)
        try:
            dep = apps.read_namespaced_deployment(name, namespace)
        except Exception as exc:
            raise ClusterRefused(f"no deployment {namespace}/{name}: {_reason(exc)}") from exc
        pods = core.list_namespaced_pod(namespace, label_selector=_instance(name)).items
        return AppStatus(
            name=name,
            namespace=namespace,
            replicas=dep.spec.replicas or 0,
            ready=dep.status.ready_replicas or 0,
            updated=dep.status.updated_replicas or 0,
            image=dep.spec.template.spec.containers[0].image,
            pods=[(p.metadata.name, p.status.phase or "Unknown") for p in pods],
        )

    def logs(self, name: str, namespace: str, *, tail: int = 200) -> dict[str, str]:
        """The last ``tail`` lines of the server container of each pod of the app."""
        core = _module("kubernetes.client").CoreV1Api(self.api)
        out: dict[str, str] = {}
        for pod in core.list_namespaced_pod(namespace, label_selector=_instance(name)).items:
            try:
                text = core.read_namespaced_pod_log(
                    pod.metadata.name, namespace, container="roost", tail_lines=tail
                )
                out[pod.metadata.name] = text or f"(no logs yet: {pod.status.phase})"
            except Exception as exc:
                out[pod.metadata.name] = f"(no logs: {_reason(exc)})"
        return out


@dataclass(frozen=True)
class AppStatus:
    name: str
    namespace: str
    replicas: int
    ready: int
    updated: int
    image: str
    pods: list[tuple[str, str]]


def _ref(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def _instance(name: str) -> str:
    return f"app.kubernetes.io/instance={name},app.kubernetes.io/name=roost"


def _reason(exc: Exception) -> str:
    """The API server's own message (its Status body), else the exception text."""
    import json

    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            return str(json.loads(body).get("message", body))[:1000]
        except ValueError:
            return body[:1000]
    summary = getattr(exc, "summary", None)
    if callable(summary):
        return str(summary())[:1000]
    return str(exc)[:1000]
