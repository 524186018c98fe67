"""``roost bundle``: the air-gapped bundle (wheels, model, chart, image, checksums)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from roost.cli._deploy_common import fail, split_csv

app = typer.Typer(no_args_is_help=False)


@app.command()
def bundle(
    output: Annotated[Path, typer.Option("-o", help="The archive to write (.tar).")] = Path(
        "roost-bundle.tar"
    ),
    extras: Annotated[str, typer.Option(help="Roost extras, comma-separated.")] = (
        "postgres,redis,fast,local,sandbox,otlp,k8s"
    ),
    platform: Annotated[
        str, typer.Option(help="Target: linux/amd64 or linux/arm64, optionally @PYTHON.")
    ] = "linux/amd64",
    model: Annotated[
        str, typer.Option(help="Catalogue model to ship, a .gguf path, or 'none'.")
    ] = "default",
    image: Annotated[
        str | None, typer.Option(help="A locally built image to ship as an OCI archive.")
    ] = None,
    engine: Annotated[str, typer.Option(help="auto, docker or podman.")] = "auto",
    wheelhouse: Annotated[
        Path | None, typer.Option(help="A directory of wheels kept between runs.")
    ] = None,
) -> None:
    """Write one archive to install Roost where there is no network."""
    import time

    from roost.core import RoostError
    from roost.deploy.bundle import BundleSpec, write_bundle
    from roost.deploy.engine import require_engine
    from roost.deploy.wheelhouse import parse_target

    started = time.monotonic()
    try:
        models: list[Path] = []
        if model != "none":
            if model.endswith(".gguf"):
                models.append(Path(model))
            else:
                from roost.models.install import resolve_model_path

                models.append(resolve_model_path(None if model == "default" else model))
        spec = BundleSpec(
            extras=split_csv(extras), target=parse_target(platform), models=models, image=image
        )
        found = require_engine(engine) if image else None
        path = write_bundle(output, spec, engine=found, wheelhouse=wheelhouse, echo=typer.echo)
    except RoostError as err:
        raise fail(err) from None
    size = path.stat().st_size
    typer.echo(f"bundle {path}: {size / 1e6:.0f} MB in {time.monotonic() - started:.0f} s")
    typer.echo(f"offline: tar xf {path.name} && {path.name.removesuffix('.tar')}/install.sh")
