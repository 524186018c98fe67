"""Nothing acknowledged is lost when the writing process is killed with SIGKILL."""

from __future__ import annotations

import asyncio
import secrets
import signal
import sys
from pathlib import Path

import pytest

from roost.store import Store

from .conftest import drop_schema

_WRITER = """
import asyncio, sys
from roost.core import Msg
from roost.store import Store

async def main():
    store = await Store.open(sys.argv[1], schema=sys.argv[2] or None)
    session = await store.create_session(app="durability", session_id=sys.argv[3])
    run = await store.create_run(session_id=session.id, status="running")
    print("run", run.id, flush=True)
    i = 0
    while True:
        msg = Msg.user(f"row {i}")
        await store.flush_run(run.id, [(i, "text.delta", {"i": i})], msg, partial=False)
        print("ack", i, msg.id, flush=True)   # acknowledged only after commit
        i += 1

asyncio.run(main())
"""


@pytest.mark.parametrize("backend_name", ["sqlite", "postgresql"])
async def test_acknowledged_rows_survive_kill_9(
    backend_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    schema = ""
    if backend_name == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'durable.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        schema = f"t_{secrets.token_hex(6)}"
    session_id = f"ses_kill_{secrets.token_hex(4)}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _WRITER, url, schema, session_id, stdout=asyncio.subprocess.PIPE
    )
    acked: list[tuple[int, str]] = []
    run_id = ""
    try:
        assert proc.stdout is not None
        while len(acked) < 40:
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().split()
            assert line, "writer exited early"
            if line[0] == "run":
                run_id = line[1]
            else:
                acked.append((int(line[1]), line[2]))
        proc.send_signal(signal.SIGKILL)
        # Whatever it printed before dying counts as acknowledged too.
        rest = (await proc.stdout.read()).decode().split("\n")
        acked += [
            (int(p[1]), p[2]) for p in (x.split() for x in rest) if len(p) == 3 and p[0] == "ack"
        ]  # a line cut by the kill was never acknowledged
        await proc.wait()
        assert proc.returncode == -signal.SIGKILL

        store = await Store.open(url, schema=schema or None)
        try:
            page = await store.list_messages(session_id, limit=None)
            stored_ids = {m.id for m in page.items}
            assert {mid for _, mid in acked} <= stored_ids
            events = await store.list_events(run_id)
            assert {i for i, _ in acked} <= {e.seq for e in events}
            assert [e.seq for e in events] == list(range(len(events)))  # no torn batch
        finally:
            await store.close()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if schema:
            await drop_schema(url, schema)
