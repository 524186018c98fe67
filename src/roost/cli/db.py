"""``roost db``: bring the database schema to this Roost's head before servers start
(a Kubernetes init container or a Helm hook), and show where it stands."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer

from roost.cli._deploy_common import fail

app = typer.Typer(name="db", help="The database schema: upgrade, show the revision.")


async def _upgrade(url: str | None, wait: float) -> tuple[set[str], set[str]]:
    from roost.store import Store, StoreUnavailable

    deadline = time.monotonic() + wait
    while True:
        try:
            # Store.open migrates under the store's cross-process lock (a PostgreSQL
            # advisory lock; a file lock for SQLite): many pods may run this at once.
            store = await Store.open(url)
            break
        except StoreUnavailable:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(2)
    try:
        return await store.schema_revision(), Store.head_revisions()
    finally:
        await store.close()


@app.command()
def upgrade(
    url: Annotated[
        str | None,
        typer.Option(help="Database URL (default: ROOST_DATABASE_URL or the SQLite file)."),
    ] = None,
    wait: Annotated[
        float, typer.Option(min=0, help="Seconds to wait for the database to answer.")
    ] = 0,
) -> None:
    """Create or migrate the schema to this Roost's head revision (idempotent)."""
    from roost.core import RoostError

    try:
        current, head = asyncio.run(_upgrade(url, wait))
    except RoostError as err:
        raise fail(err) from None
    typer.echo(f"schema at {', '.join(sorted(current))} (head {', '.join(sorted(head))})")
    if current != head:
        raise typer.Exit(1)
