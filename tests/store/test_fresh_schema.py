"""An empty database is created from the table definitions, without Alembic (decision
0096). These tests prove it is the very schema the migrations build, on every backend,
and that Alembic can take over from it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from roost.core import Msg
from roost.store import MigrationError, Store, _migrate
from roost.store._migrate import alembic_config
from roost.store.backends.sqlalchemy import create_engine, parse_url
from roost.store.schema import HEAD_TABLES
from roost.store.store import HEAD_REVISION

from .conftest import Target

_real_migrate = _migrate.migrate  # what the tests themselves run, whatever is patched


@pytest.fixture
def no_alembic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if Store.open takes the Alembic path."""

    async def refuse(*_: object, **__: object) -> None:
        raise AssertionError("Store.open ran the Alembic migrations")

    monkeypatch.setattr(_migrate, "migrate", refuse)


def _engine(target: Target) -> AsyncEngine:
    return create_engine(parse_url(target.url), schema=target.schema)


def _describe(conn: sa.Connection) -> dict[str, Any]:
    """Everything reflection sees of each table (SQLite: also the DDL text it keeps)."""
    insp = sa.inspect(conn)
    schema = conn.exec_driver_sql("SELECT current_schema()").scalar() if _pg(conn) else None
    tables: dict[str, Any] = {}
    for name in sorted(insp.get_table_names(schema=schema)):
        tables[name] = {
            "columns": [
                (c["name"], repr(c["type"]), c["nullable"], c.get("default"))
                for c in insp.get_columns(name, schema=schema)
            ],
            "pk": insp.get_pk_constraint(name, schema=schema),
            # the schema differs between the two databases compared; the rest must not
            "fks": [
                {**fk, "referred_schema": None} for fk in insp.get_foreign_keys(name, schema=schema)
            ],
            "indexes": sorted(insp.get_indexes(name, schema=schema), key=lambda i: i["name"]),
            "uniques": insp.get_unique_constraints(name, schema=schema),
            "checks": insp.get_check_constraints(name, schema=schema),
        }
        if not _pg(conn):
            # a table Alembic rebuilt (batch mode) is named in quotes: the same table
            tables[name]["sql"] = [
                (kind, item, sql.replace(f'CREATE TABLE "{name}"', f"CREATE TABLE {name}", 1))
                if sql
                else (kind, item, sql)
                for kind, item, sql in conn.exec_driver_sql(
                    "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? ORDER BY name",
                    (name,),
                ).all()
            ]
    return tables


def _pg(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


async def _reflect(target: Target) -> dict[str, Any]:
    engine = _engine(target)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_describe)
    finally:
        await engine.dispose()


async def _alembic(target: Target, *steps: tuple[str, str]) -> None:
    """Run Alembic commands (``("downgrade", "base")`` …) on the target database."""
    from alembic import command

    def run(conn: sa.Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        for name, revision in steps:
            getattr(command, name)(cfg, revision)

    engine = _engine(target)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(run)
    finally:
        await engine.dispose()


async def _migrate_with_alembic(target: Target, revision: str = "heads") -> None:
    async with await target.open(migrate=False) as store:
        await _real_migrate(store.backend, target=revision)


@pytest.mark.usefixtures("no_alembic")
async def test_fresh_database_has_the_schema_the_migrations_build(
    targets: Callable[[], Target],
) -> None:
    fresh, migrated = targets(), targets()
    await (await fresh.open()).close()
    await _migrate_with_alembic(migrated)
    built_fresh, built_by_alembic = await _reflect(fresh), await _reflect(migrated)
    assert set(built_fresh) == {t.name for t in HEAD_TABLES} | {"alembic_version"}
    for table in sorted(set(built_fresh) | set(built_by_alembic)):  # one table per message
        assert built_fresh.get(table) == built_by_alembic.get(table), table


async def test_table_definitions_match_a_fresh_database(
    targets: Callable[[], Target], no_alembic: None
) -> None:
    """Alembic's autogenerate finds nothing to change between the fresh database and the
    tables every module defines for its queries (types and server defaults included)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from roost.store.schema import metadata

    assert set(metadata.tables) == {t.name for t in HEAD_TABLES}, "update HEAD_TABLES"

    def diff(conn: sa.Connection) -> list[Any]:
        opts = {"compare_type": True, "compare_server_default": True}
        return compare_metadata(MigrationContext.configure(conn, opts=opts), metadata)

    target = targets()
    await (await target.open()).close()
    engine = _engine(target)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


async def test_fresh_database_is_stamped_for_alembic(
    targets: Callable[[], Target], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alembic sees the head revision (``upgrade heads`` is a no-op) and can walk the
    whole history down and up again: every name the migrations refer to exists."""
    target = targets()

    async def refuse(*_: object) -> None:
        raise AssertionError("Store.open ran the Alembic migrations")

    with monkeypatch.context() as m:
        m.setattr(_migrate, "migrate", refuse)
        store = await target.open()
        await store.create_session(app="demo", session_id="ses_kept")
        assert await store.schema_revision() == Store.head_revisions() == {HEAD_REVISION}
        await store.close()
    before = await _reflect(target)
    await _alembic(target, ("upgrade", "heads"))
    assert await _reflect(target) == before
    await _alembic(target, ("downgrade", "base"), ("upgrade", "heads"))
    assert await _reflect(target) == before
    # the emptied alembic_version left by "downgrade base" is not an empty database:
    # Store.open hands it to Alembic rather than create tables over it
    await _alembic(target, ("downgrade", "base"))
    async with await target.open() as store:
        assert await store.schema_revision() == {HEAD_REVISION}
    assert await _reflect(target) == before


async def test_database_at_an_older_revision_goes_through_alembic(
    targets: Callable[[], Target], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = targets()
    await _migrate_with_alembic(target, "0002_sandbox_bindings")
    calls: list[object] = []
    real = _migrate.migrate

    async def spy(*args: Any, **kwargs: Any) -> None:
        calls.append(args)
        await real(*args, **kwargs)

    monkeypatch.setattr(_migrate, "migrate", spy)
    async with await target.open() as store:
        await store.create_session(app="demo", session_id="ses_1")
        await store.append_messages("ses_1", [Msg.user("hello")])
        assert await store.schema_revision() == {HEAD_REVISION}
    assert len(calls) == 1
    assert "spans" in await _reflect(target)


async def test_emptiness_is_checked_again_under_the_lock(
    targets: Callable[[], Target],
) -> None:
    """Another process may create the schema between our first look and the lock: then
    there is nothing to create (at head) or Alembic must take over (older revision)."""
    current, older = targets(), targets()
    await _migrate_with_alembic(current)
    await _migrate_with_alembic(older, "0002_sandbox_bindings")
    for target, expected in ((current, True), (older, False)):
        before = await _reflect(target)
        async with await target.open(migrate=False) as store:
            created = await _migrate.create_if_empty(
                store.backend, HEAD_REVISION, schema=target.schema
            )
        assert created is expected
        assert await _reflect(target) == before


async def test_failed_creation_is_a_migration_error_and_leaves_nothing(
    targets: Callable[[], Target],
) -> None:
    """A clash (here an index name taken by a table of someone else) rolls the whole
    creation back and is reported as a migration failure, not as an outage."""
    target = targets()
    schema = target.schema
    engine = _engine(target)
    try:
        async with engine.begin() as conn:
            if schema is not None:
                await conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            await conn.execute(sa.text("CREATE TABLE other (x INTEGER)"))
            await conn.execute(sa.text("CREATE INDEX ix_messages_run ON other (x)"))
    finally:
        await engine.dispose()
    with pytest.raises(MigrationError) as info:
        await target.open()
    assert info.value.code == "store_migration_failed"
    assert set(await _reflect(target)) == {"other"}


_OPEN_SCRIPT = """
import asyncio, sys
from roost.store import Store
async def main():
    store = await Store.open(sys.argv[1], schema=sys.argv[2] or None, backend=sys.argv[3])
    await store.create_session(app="demo")
    await store.close()
    print("alembic" in sys.modules)
asyncio.run(main())
"""


async def test_opening_a_fresh_database_does_not_import_alembic(
    targets: Callable[[], Target],
) -> None:
    target = targets()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _OPEN_SCRIPT,
        target.url,
        target.schema or "",
        target.backend,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert out.decode().split() == ["False"]
    async with await target.open() as store:
        assert await store.schema_revision() == {HEAD_REVISION}
