"""The floor with persistence: the bare Starlette floor (``bench.apps.floor``) plus the rows a
persisted run must write, on raw ``sqlite3`` — a lower bound for any server that keeps
what the reliability tests demand, with no framework, agent, auth or validation.

    python -m bench.apps.floor_db --port 8092      # database: $ROOST_HOME/floor.db

Per run, on Roost's own tables and indexes (``roost.store.schema``, created once at
start-up) in WAL mode with ``synchronous=NORMAL`` as Roost opens them:

- ``POST /v1/sessions``: the session row, committed before the 201;
- ``POST /v1/sessions/{id}/runs``: before the first event, one transaction with the run
  row, the user's message and its sequence number; at the end, one transaction with every
  event (``Last-Event-ID`` resume reads them), the reply, the run's final status and the
  agent's state (a session survives a restart).

Writes queued in one loop turn commit together (group commit), as Roost's do. What it
leaves out is all a real server adds: authentication, request validation, the agent and
model, partial-reply flushes, metrics. ``bench/server.py --db-floor`` measures it beside
the floor: its ratio to the floor is the share of the CPU goal that persistence alone uses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

CHUNKS = [f"w{i:02d} " for i in range(int(os.environ.get("BENCH_CHUNKS", "20")))]
Body = Callable[[sqlite3.Connection], Any]


def _create_schema(path: Path) -> None:
    """Roost's tables and indexes, created with SQLAlchemy once (start-up is not measured)."""
    import sqlalchemy as sa

    from roost.store.schema import metadata

    engine = sa.create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    engine.dispose()


class GroupWriter:
    """Runs the write transactions queued during one loop turn in one BEGIN … COMMIT."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        # checkpoints as Roost paces them: one per ~4,000 WAL pages (decision 0108)
        self.conn.execute("PRAGMA wal_autocheckpoint=0")
        self._commits = 0
        self._checkpoint_every = 32
        self._pending: list[tuple[Body, asyncio.Future[Any]]] = []

    def submit(self, body: Body) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._run)
        self._pending.append((body, fut))
        return fut

    def _run(self) -> None:
        batch, self._pending = self._pending, []
        self.conn.execute("BEGIN IMMEDIATE")
        results = [body(self.conn) for body, _ in batch]
        self.conn.execute("COMMIT")
        self._commits += 1
        if self._commits >= self._checkpoint_every:
            frames = self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
            if frames > 0:
                self._checkpoint_every = int(min(1024, max(32, 4000 * self._commits / frames)))
            self._commits = 0
        for (_, fut), result in zip(batch, results, strict=True):
            fut.set_result(result)


writer: GroupWriter | None = None


def _now() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def create_session(request: Request) -> Response:
    await request.body()
    session_id = "ses_" + secrets.token_hex(8)
    now = _now()
    assert writer is not None
    await writer.submit(
        lambda c: c.execute(
            "INSERT INTO sessions (id, app, metadata, msg_seq, created_at, updated_at)"
            " VALUES (?, 'floor', '{}', 0, ?, ?)",
            (session_id, now, now),
        )
    )
    return JSONResponse({"id": session_id}, status_code=201)


async def run(request: Request) -> Response:
    body = json.loads(await request.body())
    session_id = request.path_params["session_id"]
    run_id = "run_" + secrets.token_hex(8)
    user_msg = {"id": "msg_" + secrets.token_hex(8), "role": "user", "content": body["input"]}
    assert writer is not None
    gw = writer

    def begin(c: sqlite3.Connection) -> None:
        now = _now()
        (seq,) = c.execute(
            "UPDATE sessions SET msg_seq = msg_seq + 1, updated_at = ? WHERE id = ?"
            " RETURNING msg_seq",
            (now, session_id),
        ).fetchone()
        c.execute(
            "INSERT INTO runs (id, session_id, agent, status, input_message_id,"
            " input_tokens, output_tokens, metadata, created_at, started_at, heartbeat_at)"
            " VALUES (?, ?, 'floor', 'running', ?, 0, 0, '{}', ?, ?, ?)",
            (run_id, session_id, user_msg["id"], now, now, now),
        )
        c.execute(
            "INSERT INTO messages (id, session_id, run_id, seq, role, content, partial,"
            " created_at) VALUES (?, ?, ?, ?, 'user', ?, 0, ?)",
            (user_msg["id"], session_id, run_id, seq, json.dumps(user_msg["content"]), now),
        )

    await gw.submit(begin)

    async def events() -> AsyncIterator[bytes]:
        seq = 0
        rows: list[tuple[str, int, str, str]] = []

        def frame(type_: str, data: dict[str, object]) -> bytes:
            nonlocal seq
            seq += 1
            env = {"seq": seq, "run_id": run_id, "session_id": session_id, **data, "type": type_}
            text = json.dumps(env)
            rows.append((run_id, seq, type_, text))
            return f"id: {seq}\nevent: {type_}\ndata: {text}\n\n".encode()

        yield frame("run.started", {"agent": "floor", "status": "running"})
        for piece in CHUNKS:
            yield frame("text.delta", {"msg_id": "msg_1", "delta": piece, "agent": "floor"})
        reply = {
            "id": "msg_" + secrets.token_hex(8),
            "role": "assistant",
            "content": "".join(CHUNKS),
        }
        last = frame("run.completed", {"status": "succeeded", "output": reply})

        def finish(c: sqlite3.Connection) -> None:
            now = _now()
            c.executemany(
                "INSERT INTO run_events (run_id, seq, type, payload, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [(*row, now) for row in rows],
            )
            (mseq,) = c.execute(
                "UPDATE sessions SET msg_seq = msg_seq + 1, updated_at = ? WHERE id = ?"
                " RETURNING msg_seq",
                (now, session_id),
            ).fetchone()
            c.execute(
                "INSERT INTO messages (id, session_id, run_id, seq, role, content, partial,"
                " created_at) VALUES (?, ?, ?, ?, 'assistant', ?, 0, ?)",
                (reply["id"], session_id, run_id, mseq, json.dumps(reply["content"]), now),
            )
            c.execute(
                "UPDATE runs SET status = 'succeeded', finished_at = ?, heartbeat_at = ?"
                " WHERE id = ?",
                (now, now, run_id),
            )
            c.execute(
                "INSERT INTO agent_states (session_id, agent_name, version, state, updated_at)"
                " VALUES (?, 'floor', 1, ?, ?) ON CONFLICT (session_id, agent_name)"
                " DO UPDATE SET version = version + 1, state = excluded.state,"
                " updated_at = excluded.updated_at",
                (session_id, json.dumps({"memory": [user_msg, reply]}), now),
            )

        await gw.submit(finish)  # the stream ends after the run's end is durable
        yield last

    return StreamingResponse(events(), media_type="text/event-stream")


app = Starlette(
    routes=[
        Route("/healthz", healthz),
        Route("/v1/sessions", create_session, methods=["POST"]),
        Route("/v1/sessions/{session_id}/runs", run, methods=["POST"]),
    ]
)

if __name__ == "__main__":
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    db = Path(os.environ.get("ROOST_HOME", ".")) / "floor.db"
    _create_schema(db)
    writer = GroupWriter(db)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
