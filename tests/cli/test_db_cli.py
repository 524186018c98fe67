"""`roost db upgrade`: what the Kubernetes init container and the systemd unit run before
the server starts (real processes, SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path


def _roost(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "roost.cli.main", "db", "upgrade", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_db_upgrade_creates_the_schema_and_is_idempotent(roost_home: Path) -> None:
    for _ in range(2):
        proc = _roost(env={"ROOST_HOME": str(roost_home)})
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        current, head = out.strip().removeprefix("schema at ").split(" (head ")
        assert current == head.rstrip(")")
    assert (roost_home / "roost.db").is_file()


def test_db_upgrade_from_several_pods_at_once_on_postgres(
    postgres_url: str, tmp_path: Path
) -> None:
    schema = f"roost_db_cli_{secrets.token_hex(4)}"
    url = f"{postgres_url}?schema={schema}"
    procs = [_roost("--url", url, env={"ROOST_HOME": str(tmp_path)}) for _ in range(3)]
    try:
        results = [(p.communicate(timeout=180), p.returncode) for p in procs]
        for (out, err), code in results:
            assert code == 0, err
            assert out.startswith("schema at ")
        assert len({out for (out, _), _ in results}) == 1, "all see the same head revision"
    finally:
        asyncio.run(_drop(postgres_url, schema))


async def _drop(url: str, schema: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await engine.dispose()


def test_db_upgrade_waits_for_the_database_then_fails_typed(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    proc = _roost(
        "--url", f"postgresql+asyncpg://roost@127.0.0.1:{port}/roost", "--wait", "1",
        env={"ROOST_HOME": str(tmp_path)},
    )  # fmt: skip
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "store_unavailable" in err and "hint:" in err
    assert "Traceback" not in err
