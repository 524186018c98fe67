"""Both SQLite paths store the same bytes: the same operations through the ``sqlite3``
backend and through the SQLAlchemy backend leave identical rows in every table (values
and their SQLite storage classes), so a database can move between them."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from roost.core import Msg, TextBlock, ToolUseBlock, Usage
from roost.core.jsontext import JSONText
from roost.core.sandbox_binding import SandboxBinding
from roost.store import Store, api_keys, rows
from roost.store.store import BackendChoice
from roost.store.traces import SpanRecord

_AT = datetime(2026, 11, 22, 5, 6, 7, 891011, tzinfo=UTC)
_TABLES = (
    "sessions",
    "messages",
    "agent_states",
    "runs",
    "run_events",
    "api_keys",
    "sandbox_bindings",
    "spans",
    "alembic_version",
)


async def _exercise(store: Store) -> None:
    """One of everything a server writes, with fixed ids and times."""
    s = await store.create_session(
        app="demo", user_id="u1", metadata={"k": [1, "ü", None, 1.5]}, session_id="ses_1"
    )
    await store.update_session(s.id, title="标题", metadata={"nested": {"a": True}})
    ask = Msg(id="msg_ask", role="user", content="hello\x00there", created_at=1.0)
    run = await store.create_run(
        session_id=s.id, status="running", run_id="run_1", inputs=[ask], metadata={"t": "x"}
    )
    tool = Msg(
        id="msg_tool",
        role="assistant",
        content=[TextBlock(text="calling"), ToolUseBlock(id="c1", name="w", input={"q": 1})],
        created_at=2.0,
    )
    reply = Msg(id="msg_reply", role="assistant", content="Hel", created_at=3.0)
    await store.flush_run(
        run.id,
        [(0, "run.started", {"seq": 0}), (1, "text.delta", JSONText('{"d":"Hel"}'))],
        reply,
        session_id=s.id,
        messages=[tool],
        state=("agent", {"memory": ["a"]}),
    )
    final = Msg(id="msg_reply", role="assistant", content="Hello", created_at=3.0)
    await store.flush_run(
        run.id,
        [(2, "run.completed", {"ok": True})],
        final,
        partial=False,
        status="succeeded",
        usage=Usage(input_tokens=10, output_tokens=2, cost=0.125, currency="USD"),
        model="m",
    )
    await store.save_state(s.id, "agent", {"memory": []}, expected_version=1)
    await store.save_state(s.id, "other", {"x": 1}, expected_version=0)
    queued = await store.create_run(
        session_id=s.id,
        run_id="run_2",
        inputs=[Msg(id="m2", role="user", content="q", created_at=4.0)],
    )
    await store.save_message(
        s.id, Msg(id="m3", role="assistant", content="p", created_at=5.0), partial=True
    )
    await store.resequence_run_messages(s.id, queued.id)
    await store.update_run(
        queued.id,
        started_at=datetime(2026, 1, 2, 3, 4, 5),  # naive: taken as UTC
        finished_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-7))),
        heartbeat_at=datetime(999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
    )
    await store.create_run(session_id=s.id, run_id="run_3", status="waiting_approval")
    await store.fail_orphaned_runs()
    plaintext, key = await store.create_api_key("ci", role="user", user_id="u1")
    await store.verify_api_key(plaintext)
    await store.revoke_api_key(key.id)
    bindings = store.sandbox_bindings
    binding = SandboxBinding(
        sandbox_id="sbx_1", session_id=s.id, backend="bwrap", owner="o", detail={"uid": 1}
    )
    await bindings.put(binding.model_copy(update={"created_at": 1.5, "last_used_at": 2.5}))
    await bindings.touch("sbx_1", 3.25)
    await store.insert_spans(
        [
            SpanRecord(
                trace_id="t" * 32,
                span_id="s" * 16,
                name="chat",
                start_ns=1,
                end_ns=2,
                run_id=run.id,
                cost=0.5,
                attributes={"k": "v"},
            )
        ]
    )


def _dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table as SQL literals (``quote()``: value and storage class)."""
    conn = sqlite3.connect(path)
    try:
        out = {}
        for table in _TABLES:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            quoted = ", ".join(f"quote({c})" for c in columns)
            out[table] = conn.execute(f"SELECT {quoted} FROM {table} ORDER BY rowid").fetchall()
        return out
    finally:
        conn.close()


async def test_both_sqlite_backends_store_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dumps = {}
    choices: tuple[BackendChoice, ...] = ("sqlite3", "sqlalchemy")
    for choice in choices:
        clock = itertools.count()
        ids = itertools.count()
        monkeypatch.setattr(rows, "now", lambda c=clock: _AT + timedelta(milliseconds=next(c)))
        monkeypatch.setattr(api_keys, "new_id", lambda prefix, i=ids: f"{prefix}_{next(i)}")
        monkeypatch.setattr(api_keys.secrets, "token_urlsafe", lambda n: "k" * 43)
        path = tmp_path / f"{choice}.db"
        async with await Store.open(f"sqlite:///{path}", backend=choice) as store:
            assert type(store.backend).__name__.lower().startswith(choice[:6])
            await _exercise(store)
        dumps[choice] = _dump(path)
    for table in _TABLES:
        assert dumps["sqlite3"][table] == dumps["sqlalchemy"][table], table
        assert dumps["sqlite3"][table], f"nothing written to {table}"
    # and what they wrote reads back the same through either backend
    for choice in choices:
        async with await Store.open(f"sqlite:///{tmp_path / 'sqlite3.db'}", backend=choice) as s:
            page = await s.list_messages("ses_1")
            assert [m.text for m in page.items] == ["hello\x00there", "calling", "Hello", "p", "q"]
            assert (await s.get_run("run_2")).heartbeat_at == datetime(
                999, 12, 31, 23, 59, 59, 1, tzinfo=UTC
            )
