"""Nothing acknowledged is lost when the writing process is killed with SIGKILL, on every
backend — with several runs writing at once, so the SQLite writer commits in groups."""

from __future__ import annotations

import asyncio
import secrets
import signal
import sys
from collections.abc import Callable

from .conftest import Target

_WRITER = """
import asyncio, sys
from roost.core import Msg
from roost.store import Store

async def main():
    store = await Store.open(sys.argv[1], schema=sys.argv[2] or None, backend=sys.argv[4])
    session = await store.create_session(app="durability", session_id=sys.argv[3])

    async def writer():
        run = await store.create_run(session_id=session.id, status="running")
        i = 0
        while True:
            msg = Msg.user(f"row {i}")
            await store.flush_run(run.id, [(i, "text.delta", {"i": i})], msg, partial=False)
            print("ack", run.id, i, msg.id, flush=True)   # acknowledged only after commit
            i += 1

    await asyncio.gather(*(writer() for _ in range(4)))

asyncio.run(main())
"""


async def test_acknowledged_rows_survive_kill_9(targets: Callable[[], Target]) -> None:
    target = targets()
    url, schema = target.url, target.schema or ""
    session_id = f"ses_kill_{secrets.token_hex(4)}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _WRITER,
        url,
        schema,
        session_id,
        target.backend,
        stdout=asyncio.subprocess.PIPE,
    )
    acked: list[tuple[str, int, str]] = []
    try:
        assert proc.stdout is not None
        while len(acked) < 80:
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().split()
            assert line, "writer exited early"
            acked.append((line[1], int(line[2]), line[3]))
        proc.send_signal(signal.SIGKILL)
        # Whatever it printed before dying counts as acknowledged too; a last line the
        # kill cut short (no newline) was never acknowledged.
        rest = (await proc.stdout.read()).decode().split("\n")[:-1]
        acked += [(p[1], int(p[2]), p[3]) for p in (x.split() for x in rest)]
        await proc.wait()
        assert proc.returncode == -signal.SIGKILL

        store = await target.open()
        try:
            page = await store.list_messages(session_id, limit=None)
            assert {mid for _, _, mid in acked} <= {m.id for m in page.items}
            for run_id in {r for r, _, _ in acked}:
                events = await store.list_events(run_id)
                assert {i for r, i, _ in acked if r == run_id} <= {e.seq for e in events}
                assert [e.seq for e in events] == list(range(len(events)))  # no torn batch
        finally:
            await store.close()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
