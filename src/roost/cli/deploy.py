"""``roost deploy``: Kubernetes (apply, status, logs, delete), Knative, systemd."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from roost.cli._deploy_common import fail, split_csv

app = typer.Typer(
    name="deploy",
    help="Deploy to Kubernetes, Knative (scale to zero) or one server with systemd.",
    no_args_is_help=True,
)

Kubeconfig = Annotated[str | None, typer.Option(help="kubeconfig file (default: KUBECONFIG).")]
Context = Annotated[str | None, typer.Option(help="kubeconfig context.")]
Namespace = Annotated[str, typer.Option("--namespace", "-n", help="Namespace.")]
Name = Annotated[str, typer.Option(help="Release name (labels every object).")]


def _emit(docs: list[dict[str, Any]], output: Path | None) -> None:
    from roost.deploy.manifests import to_yaml

    text = to_yaml(docs)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {len(docs)} manifests to {output}")


def _apply(docs: list[dict[str, Any]], cluster: Any, dry_run: bool) -> None:
    for line in cluster.apply(docs, dry_run=dry_run):
        typer.echo(f"  {line}")


@app.command()
def k8s(
    image: Annotated[str, typer.Option(help="Image to run (see roost build).")],
    target: Annotated[
        str | None, typer.Argument(metavar="[MODULE:APP]", help="Your app; default: built-in.")
    ] = None,
    name: Name = "roost",
    namespace: Namespace = "roost",
    secret: Annotated[
        str | None,
        typer.Option(help="Secret with ROOST_DATABASE_URL, ROOST_REDIS_URL, ROOST_ADMIN_KEY."),
    ] = None,
    replicas: Annotated[int, typer.Option(min=1, help="Minimum replicas.")] = 2,
    max_replicas: Annotated[int, typer.Option(min=1, help="HPA maximum.")] = 10,
    tokens_per_second: Annotated[
        int, typer.Option(help="HPA target tokens/s per pod (0: CPU only).")
    ] = 200,
    pull_secret: Annotated[str, typer.Option(help="Image pull secrets, comma-separated.")] = "",
    render: Annotated[
        bool, typer.Option("--render", help="Print the manifests, touch no cluster.")
    ] = False,
    output: Annotated[Path | None, typer.Option("-o", help="Write manifests here.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only the server-side dry run.")
    ] = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
) -> None:
    """Render the app's manifests and apply them (server-side dry run of all first)."""
    from roost.core import RoostError
    from roost.deploy.manifests import ApiVersions, AppDeployment
    from roost.deploy.manifests import render as render_docs

    try:
        spec = AppDeployment(
            image=image,
            name=name,
            namespace=namespace,
            app=target,
            secret=secret,
            replicas=replicas,
            max_replicas=max(max_replicas, replicas),
            tokens_per_second=tokens_per_second or None,
            image_pull_secrets=split_csv(pull_secret),
        )
        if render:
            _emit(render_docs(spec), output)
            return
        from roost.deploy.cluster import Cluster

        with Cluster(kubeconfig=kubeconfig, context=context) as cluster:
            versions = ApiVersions.from_served(cluster.served_versions())
            docs = render_docs(spec, versions)
            namespace_doc = {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": namespace},
            }
            typer.echo(f"cluster {cluster.version}: PDB {versions.pdb}, HPA {versions.hpa}")
            if output is not None:
                _emit(docs, output)
            _apply([namespace_doc, *docs], cluster, dry_run)
    except RoostError as err:
        raise fail(err) from None


@app.command()
def status(
    name: Name = "roost",
    namespace: Namespace = "roost",
    kubeconfig: Kubeconfig = None,
    context: Context = None,
) -> None:
    """Replicas ready, image and pod phases of a deployed app."""
    from roost.core import RoostError
    from roost.deploy.cluster import Cluster

    try:
        with Cluster(kubeconfig=kubeconfig, context=context) as cluster:
            st = cluster.status(name, namespace)
    except RoostError as err:
        raise fail(err) from None
    typer.echo(f"{st.namespace}/{st.name}: {st.ready}/{st.replicas} ready, image {st.image}")
    for pod, phase in st.pods:
        typer.echo(f"  {pod}  {phase}")


@app.command()
def logs(
    name: Name = "roost",
    namespace: Namespace = "roost",
    tail: Annotated[int, typer.Option(help="Lines per pod.")] = 200,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
) -> None:
    """The server logs of every pod of a deployed app."""
    from roost.core import RoostError
    from roost.deploy.cluster import Cluster

    try:
        with Cluster(kubeconfig=kubeconfig, context=context) as cluster:
            found = cluster.logs(name, namespace, tail=tail)
    except RoostError as err:
        raise fail(err) from None
    if not found:
        typer.echo(f"no pods of {namespace}/{name}")
    for pod, text in found.items():
        typer.echo(f"==> {pod} <==")
        typer.echo(text.rstrip("\n"))


@app.command()
def delete(
    name: Name = "roost",
    namespace: Namespace = "roost",
    kubeconfig: Kubeconfig = None,
    context: Context = None,
) -> None:
    """Delete what ``roost deploy k8s`` created, sandbox namespace included (the app's
    namespace stays)."""
    from roost.core import RoostError
    from roost.deploy.cluster import Cluster
    from roost.deploy.manifests import ApiVersions, owned

    try:
        with Cluster(kubeconfig=kubeconfig, context=context) as cluster:
            versions = ApiVersions.from_served(cluster.served_versions())
            for item in cluster.delete(owned(name, namespace, versions)):
                typer.echo(f"  {item} deleted")
    except RoostError as err:
        raise fail(err) from None


@app.command()
def knative(
    image: Annotated[str, typer.Option(help="Image to run (see roost build).")],
    target: Annotated[str | None, typer.Argument(metavar="[MODULE:APP]")] = None,
    name: Name = "roost",
    namespace: Namespace = "default",
    secret: Annotated[str | None, typer.Option(help="Secret with the ROOST_* URLs.")] = None,
    min_scale: Annotated[int, typer.Option(min=0, help="0 = scale to zero.")] = 0,
    max_scale: Annotated[int, typer.Option(min=1)] = 10,
    concurrency: Annotated[int, typer.Option(min=1, help="Target requests per replica.")] = 20,
    affinity_header: Annotated[
        str,
        typer.Option(
            help="With Istio: hash this header (e.g. X-Roost-Session-Id) to keep a "
            "session on one replica; empty: no DestinationRule."
        ),
    ] = "",
    render: Annotated[bool, typer.Option("--render", help="Print, touch no cluster.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Server-side dry run only.")] = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
) -> None:
    """A Knative Service that scales to zero, with a concurrency target."""
    from roost.core import RoostError
    from roost.deploy.knative import KnativeService
    from roost.deploy.knative import render as render_docs

    try:
        docs = render_docs(
            KnativeService(
                image=image,
                name=name,
                namespace=namespace,
                app=target,
                secret=secret,
                min_scale=min_scale,
                max_scale=max_scale,
                concurrency=concurrency,
                affinity_header=affinity_header or None,
            )
        )
        if render:
            _emit(docs, None)
            return
        from roost.deploy.cluster import Cluster

        with Cluster(kubeconfig=kubeconfig, context=context) as cluster:
            _apply(docs, cluster, dry_run)
    except RoostError as err:
        raise fail(err) from None


@app.command()
def systemd(
    output: Annotated[Path, typer.Option("-o", help="Directory to write the files to.")],
    target: Annotated[str | None, typer.Argument(metavar="[MODULE:APP]")] = None,
    server_name: Annotated[str, typer.Option(help="DNS name nginx answers to.")] = (
        "roost.example.internal"
    ),
    workers: Annotated[int, typer.Option(min=1, help="Server worker processes.")] = 2,
    prefix: Annotated[Path, typer.Option(help="Virtualenv of the install.")] = Path("/opt/roost"),
    sandbox: Annotated[bool, typer.Option(help="Add the sandbox manager unit.")] = True,
) -> None:
    """Units for the server and the sandbox manager, an nginx site, a config, an installer."""
    from roost.core import RoostError
    from roost.deploy.systemd import SingleServer, write

    try:
        spec = SingleServer(
            server_name=server_name, app=target, workers=workers, prefix=prefix, sandbox=sandbox
        )
        for path in write(spec, output):
            typer.echo(f"wrote {path}")
    except RoostError as err:
        raise fail(err) from None
    typer.echo(f"next: copy {output} to the server and run sudo ./install.sh")
