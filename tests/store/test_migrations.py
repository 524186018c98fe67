from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from roost.core import ConfigError, Msg
from roost.store import InvalidStoreArgument, MigrationError, Store, StoreUnavailable
from roost.store.backends.sqlalchemy import parse_url
from roost.store.store import BackendChoice

from .conftest import StoreFactory, Target, drop_schema

CORE_TABLES = {"sessions", "messages", "agent_states", "runs", "run_events", "api_keys"}


async def _tables(store: Store) -> set[str]:
    async with store.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))


async def test_fresh_database_is_migrated_to_head(store: Store) -> None:
    assert await _tables(store) >= CORE_TABLES
    assert "alembic_version" in await _tables(store)
    assert await store.schema_revision() == Store.head_revisions()
    assert "0001_core" not in Store.head_revisions() or len(Store.head_revisions()) == 1


async def test_reopen_is_idempotent_and_keeps_data(open_store: StoreFactory) -> None:
    first = await open_store()
    s = await first.create_session(app="demo")
    await first.append_messages(s.id, [Msg.user("kept")])
    await first.close()
    second = await open_store()
    assert await second.schema_revision() == Store.head_revisions()
    assert [m.text for m in (await second.list_messages(s.id)).items] == ["kept"]


@pytest.mark.parametrize("choice", ["auto", "sqlalchemy"])
async def test_sqlite_connection_settings(tmp_path: Path, choice: BackendChoice) -> None:
    names = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
    store = await Store.open(f"sqlite:///{tmp_path / 'x.db'}", backend=choice)
    try:
        assert store.dialect == "sqlite"
        for run in (store.backend.read, store.backend.write):  # readers and the writer
            found = await run(lambda tx: [tx.rows(f"PRAGMA {n}")[0] for n in names])
            assert {n: next(iter(row.values())) for n, row in zip(names, found, strict=True)} == {
                "journal_mode": "wal",
                "synchronous": 1,
                "foreign_keys": 1,
                "busy_timeout": 10_000,
            }
    finally:
        await store.close()


async def test_default_url_is_sqlite_under_roost_home(roost_home: Path) -> None:
    async with await Store.open() as store:
        assert store.url.endswith("roost.db") and str(roost_home) in store.url
        await store.create_session(app="demo")
        for name in ("roost.db", "roost.db-wal"):  # prompts are private to the owner
            assert (roost_home / name).stat().st_mode & 0o777 == 0o600


def test_urls_are_normalised_to_async_drivers() -> None:
    assert parse_url("postgresql://u:p@h/db").drivername == "postgresql+asyncpg"
    assert parse_url("postgres://u@h/db").drivername == "postgresql+asyncpg"
    assert parse_url("sqlite:////tmp/x.db").drivername == "sqlite+aiosqlite"
    with pytest.raises(ConfigError) as info:
        parse_url("mysql://u@h/db")
    assert info.value.code == "config_invalid"
    with pytest.raises(ConfigError):
        parse_url("::not a url::")


@pytest.mark.parametrize(
    ("url", "choice", "expected"),
    [
        ("sqlite:///{dir}/a.db", "auto", "SqliteBackend"),
        ("sqlite+aiosqlite:///{dir}/a.db", "auto", "SqliteBackend"),
        ("sqlite:///{dir}/a.db", "sqlite3", "SqliteBackend"),
        ("sqlite:///{dir}/a.db", "sqlalchemy", "SqlAlchemyBackend"),
        ("sqlite://", "auto", "SqliteBackend"),
        ("sqlite://", "sqlalchemy", "SqlAlchemyBackend"),
    ],
)
async def test_the_url_and_the_backend_argument_pick_the_backend(
    tmp_path: Path, url: str, choice: BackendChoice, expected: str
) -> None:
    async with await Store.open(url.format(dir=tmp_path), backend=choice) as store:
        assert type(store.backend).__name__ == expected
        await store.create_session(app="demo")


async def test_sqlite3_backend_needs_a_sqlite_url() -> None:
    with pytest.raises(InvalidStoreArgument):
        await Store.open("postgresql://u@127.0.0.1:1/db", backend="sqlite3")


async def test_unreachable_postgres_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable) as info:
        await Store.open("postgresql://postgres@127.0.0.1:1/none")
    assert info.value.code == "store_unavailable" and info.value.retryable


async def test_database_from_a_newer_roost_is_refused(open_store: StoreFactory) -> None:
    store = await open_store()
    async with store.engine.begin() as conn:
        await conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    await store.close()
    with pytest.raises(MigrationError) as info:
        await open_store()
    assert "newer Roost" in (info.value.hint or "")


_OPEN_SCRIPT = """
import asyncio, sys
from roost.core import Msg
from roost.store import SessionExists, Store
async def main():
    store = await Store.open(sys.argv[1], schema=sys.argv[2] or None, backend=sys.argv[4])
    try:
        await store.create_session(app="race", session_id="ses_shared")
    except SessionExists:
        pass
    for i in range(20):  # both processes write to the same session at once
        await store.append_messages("ses_shared", [Msg.user(f"{sys.argv[3]}-{i}")])
        if i == 10 and store.dialect == "sqlite":  # another layer builds an engine (0095)
            assert store.engine is not None
    await store.close()
asyncio.run(main())
"""


async def test_processes_starting_at_once_migrate_and_write_safely(
    targets: Callable[[], Target],
) -> None:
    target = targets()
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _OPEN_SCRIPT,
            target.url,
            target.schema or "",
            f"p{n}",
            target.backend,
            stderr=subprocess.PIPE,
        )
        for n in range(2)
    ]
    results = [await p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1].decode()[-2000:] for r in results]
    async with await target.open() as store:
        assert await store.schema_revision() == Store.head_revisions()
        page = await store.list_messages("ses_shared", limit=None)
        assert [r.seq for r in page.records] == list(range(1, 41))
        for p in ("p0", "p1"):  # each writer's messages in its own order
            mine = [m.text for m in page.items if m.text.startswith(p)]
            assert mine == [f"{p}-{i}" for i in range(20)]


async def test_schema_can_be_given_in_the_url(postgres_url: str) -> None:
    schema = f"t_{secrets.token_hex(6)}"
    sep = "&" if "?" in postgres_url else "?"
    try:
        async with await Store.open(f"{postgres_url}{sep}schema={schema}") as store:
            await store.create_session(app="in-schema")
            assert "schema" not in store.url
            async with store.engine.connect() as conn:
                found = (
                    await conn.execute(
                        sa.text(
                            "SELECT count(*) FROM information_schema.tables"
                            " WHERE table_schema = :s AND table_name = 'sessions'"
                        ),
                        {"s": schema},
                    )
                ).scalar()
            assert found == 1
        with pytest.raises(InvalidStoreArgument):
            await Store.open(f"sqlite:///x.db?schema={schema}")
        with pytest.raises(ConfigError):
            await Store.open(postgres_url, schema="Bad-Name")
    finally:
        await drop_schema(postgres_url, schema)


def test_offline_sql_script_for_dbas() -> None:
    """``alembic upgrade head --sql`` works on the packaged environment (for DBAs who
    apply DDL themselves) and covers every core table."""
    import io

    from alembic import command

    from roost.store._migrate import alembic_config

    cfg = alembic_config()
    cfg.set_main_option("sqlalchemy.url", "postgresql+asyncpg://user@db.invalid/roost")
    cfg.output_buffer = io.StringIO()
    command.upgrade(cfg, "head", sql=True)
    script = cfg.output_buffer.getvalue()
    for table in CORE_TABLES:
        assert f"CREATE TABLE {table} (" in script
    assert "ck_runs_status" in script


def test_head_revision_constant_matches_the_versions_folder() -> None:
    from roost.store.store import HEAD_REVISION

    assert Store.head_revisions() == {HEAD_REVISION}, "update HEAD_REVISION in store.py"


async def test_a_database_migrated_by_alembic_opens_on_every_backend(
    targets: Callable[[], Target],
) -> None:
    """An existing database (built by Alembic, one revision behind) is migrated to head
    by whichever backend opens it, and keeps its rows."""
    from roost.store import _migrate

    target = targets()
    async with await target.open(migrate=False) as old:
        await _migrate.migrate(old.backend, target="0003_traces")
        await old.backend.write(
            lambda tx: tx.run(
                "INSERT INTO sessions (id, app, metadata, msg_seq, created_at, updated_at)"
                " VALUES ('ses_old', 'demo', '{}', 0, :at, :at)",
                {"at": datetime.now(UTC)},
            )
        )
    async with await target.open() as store:
        assert await store.schema_revision() == Store.head_revisions()
        assert (await store.get_session("ses_old")).app == "demo"


_REOPEN_SCRIPT = """
import asyncio, sys
from roost.store import Store
async def main():
    store = await Store.open(sys.argv[1], backend=sys.argv[2])
    await store.close()
    print(*(m in sys.modules for m in ("alembic", "sqlalchemy.ext.asyncio", "sqlalchemy")))
asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("auto", ["False False True", "False False False"]), ("sqlalchemy", ["False True True"] * 2)],
)
def test_reopening_a_current_database_does_not_import_alembic(
    tmp_path: Path, choice: str, expected: list[str]
) -> None:
    """At head, a restart is one SELECT; an empty file gets the head schema from the
    table definitions (decision 0096). Neither imports Alembic; on the sqlite3 backend a
    restart does not even import SQLAlchemy."""
    url = f"sqlite:///{tmp_path / 'r.db'}"

    def imported() -> str:
        return subprocess.run(
            [sys.executable, "-c", _REOPEN_SCRIPT, url, choice],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout.strip()

    assert imported() == expected[0]  # fresh file: created without Alembic
    assert imported() == expected[1]  # at head
