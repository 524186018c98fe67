"""``roost build``: write an image build context for an app (or the platform) and build it
with the container engine found here, streaming its output."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from roost.cli._deploy_common import fail, split_csv

app = typer.Typer(no_args_is_help=False)


@app.command()
def build(
    target: Annotated[
        str | None,
        typer.Argument(
            metavar="[MODULE:APP]", help="Your AgentApp; default: the Roost platform image."
        ),
    ] = None,
    tag: Annotated[str, typer.Option("--tag", "-t", help="Image name and tag.")] = "roost:latest",
    source: Annotated[Path, typer.Option(help="The app's directory.")] = Path("."),
    context: Annotated[
        Path | None,
        typer.Option(help="Where to write the build context (default: a temporary directory)."),
    ] = None,
    extras: Annotated[
        str,
        typer.Option(
            help="Roost extras to install, comma-separated (the -full image: "
            "postgres,redis,fast,otlp,k8s,local)."
        ),
    ] = "postgres,redis,fast",
    with_packages: Annotated[
        str, typer.Option("--with", help="The app's own distributions, comma-separated.")
    ] = "",
    base: Annotated[str | None, typer.Option(help="Base image (Debian with python3).")] = None,
    platform: Annotated[
        str, typer.Option(help="Target platform for the wheels: linux/amd64, linux/arm64@3.11.")
    ] = "linux/amd64",
    engine: Annotated[
        str, typer.Option(help="auto, docker or podman (or ROOST_CONTAINER_ENGINE).")
    ] = "auto",
    wheelhouse: Annotated[
        Path | None, typer.Option(help="A directory of wheels kept between builds.")
    ] = None,
    strip: Annotated[
        bool, typer.Option(help="Strip debug symbols from native extensions (smaller image).")
    ] = True,
    no_build: Annotated[
        bool, typer.Option("--no-build", help="Only write the context and say how to build it.")
    ] = False,
) -> None:
    """Write a multi-stage Containerfile, pinned wheels and the app's files, then build."""
    from roost.core import RoostError
    from roost.deploy.engine import build_image, find_engine, image_size, require_engine
    from roost.deploy.image import DEFAULT_BASE, ImageSpec, write_context
    from roost.deploy.wheelhouse import parse_target

    try:
        spec = ImageSpec(
            app=target,
            source=source.resolve(),
            extras=split_csv(extras),
            packages=split_csv(with_packages),
            base=base or DEFAULT_BASE,
            target=parse_target(platform),
            strip=strip,
        )
        # An engine named explicitly must be there; "auto" without one writes the context
        # and says how to build it elsewhere (a CI runner, a build host).
        if no_build:
            found = None
        elif engine == "auto":
            found = find_engine()
        else:
            found = require_engine(engine)
        ctx = context or Path(tempfile.mkdtemp(prefix="roost-build-"))
        typer.echo(f"writing the build context in {ctx}")
        write_context(ctx, spec, wheelhouse=wheelhouse, echo=typer.echo)
        if found is None:
            if not no_build:
                typer.echo("no container engine answers here (Docker or Podman)")
            typer.echo(
                f"context ready. Build it with: docker build -t {tag} -f {ctx}/Containerfile {ctx}"
                f"  (podman: add --format docker; another base: --build-arg BASE=IMAGE)"
            )
            return
        typer.echo(f"building {tag} with {found.name}")
        build_image(found, ctx, tag, typer.echo, build_args={"BASE": spec.base})
        typer.echo(f"built {tag} ({image_size(found, tag) / 1e6:.0f} MB)")
    except RoostError as err:
        raise fail(err) from None
