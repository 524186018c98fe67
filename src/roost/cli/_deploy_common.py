"""What the deployment commands (build, deploy, bundle, db) share."""

from __future__ import annotations

import typer

from roost.core import RoostError


def fail(err: RoostError) -> typer.Exit:
    """Print a typed error with its hint on stderr; the command exits with code 2."""
    typer.echo(f"error: [{err.code}] {err.message}", err=True)
    if err.hint:
        typer.echo(f"  hint: {err.hint}", err=True)
    return typer.Exit(code=2)


def split_csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
