"""Opening a backend or an engine must never disturb SQLite's file locks (docs/decisions/0095)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from roost.store.backends.sqlalchemy import create_engine, parse_url, sync_sqlite_engine
from roost.store.backends.sqlite import SqliteBackend

_TRY_WRITE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
# Leaving WAL mode needs every other connection gone: SQLite checks that through the
# shared lock each open connection holds on the database file.
try:
    print(conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0])
except sqlite3.OperationalError as exc:
    print(exc)
conn.close()
"""


def _other_process_leaves_wal(path: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-c", _TRY_WRITE, str(path)], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


async def _open_all(path: Path) -> None:
    """Everything that may open the file: the sqlite3 backend (and its connections), its
    SQLAlchemy engine, the async and the sync (Alembic) engines."""
    backend = SqliteBackend(path)
    assert await backend.write(lambda tx: tx.rows("SELECT count(*) AS n FROM t")) == [{"n": 1}]
    assert backend.engine is not None
    await create_engine(parse_url(f"sqlite:///{path}")).dispose()
    sync_sqlite_engine(path).dispose()
    await backend.close()


async def test_opening_backends_keeps_the_locks_of_open_connections(tmp_path: Path) -> None:
    path = tmp_path / "roost.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE t (x)")
    holder.execute("INSERT INTO t VALUES (1)")
    assert _other_process_leaves_wal(path) == "database is locked"
    # Opening then closing any descriptor of the file would drop this process's POSIX
    # locks: the other process would think it is alone, and checkpoint and delete the
    # WAL under our connection (the lost writes of docs/decisions/0095).
    try:
        await _open_all(path)
        assert _other_process_leaves_wal(path) == "database is locked"
        assert holder.execute("SELECT count(*) FROM t").fetchone()[0] == 1
    finally:
        holder.close()


@pytest.mark.parametrize("opener", ["sqlite3", "sqlalchemy"])
async def test_a_new_database_file_is_private(tmp_path: Path, opener: str) -> None:
    path = tmp_path / "sub" / "roost.db"
    if opener == "sqlite3":
        await SqliteBackend(path).close()
    else:
        await create_engine(parse_url(f"sqlite:///{path}")).dispose()
    assert path.exists()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
