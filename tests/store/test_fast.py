"""The raw-driver path of hot statements stores exactly what SQLAlchemy's own execute
stores, and fails with the same exception types (decision 0100)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from roost.core.jsontext import JSONText
from roost.store._engine import create_sqlite_sync_engine, normalize_url
from roost.store._fast import Statement
from roost.store.schema import messages, metadata, sessions

_AT = datetime(2026, 11, 22, 5, 6, 7, 891011, tzinfo=UTC)


def _session(sid: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": sid,
        "app": "a",
        "agent": None,
        "user_id": "u",
        "tenant_id": None,
        "title": None,
        "metadata": {"k": [1, "ü", None]},
        "msg_seq": 0,
        "created_at": _AT,
        "updated_at": _AT,
        **extra,
    }


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    eng = create_sqlite_sync_engine(normalize_url(f"sqlite:///{tmp_path / 'f.db'}"))
    metadata.create_all(eng)
    return eng


def _raw_rows(engine: sa.Engine, sql: str) -> list[tuple[Any, ...]]:
    path = engine.url.database
    assert path
    with sqlite3.connect(path) as raw:
        return raw.execute(sql).fetchall()


def test_the_fast_path_stores_what_sqlalchemy_stores(engine: sa.Engine) -> None:
    insert = Statement(sessions.insert())
    with engine.begin() as conn:
        assert type(conn.connection.dbapi_connection) is sqlite3.Connection
        insert(conn, _session("s_fast"))
        conn.execute(sessions.insert(), _session("s_core"))
        # executemany, booleans, JSON
        rows = [
            {
                "id": f"m{i}",
                "session_id": "s_fast",
                "run_id": None,
                "seq": i,
                "role": "user",
                "name": None,
                "content": {"i": i},
                "partial": i == 1,
                "created_at": _AT,
            }
            for i in range(3)
        ]
        Statement(messages.insert())(conn, rows)
    core, fast = _raw_rows(engine, "SELECT * FROM sessions ORDER BY id")
    assert (core[0], fast[0]) == ("s_core", "s_fast")
    assert fast[1:] == core[1:]
    assert _raw_rows(engine, "SELECT seq, content, partial, created_at FROM messages") == [
        (i, f'{{"i":{i}}}', int(i == 1), "2026-11-22 05:06:07.891011") for i in range(3)
    ]


def test_json_text_is_stored_as_it_is_on_both_paths(engine: sa.Engine) -> None:
    # an event's wire JSON is written to its JSON column without a second encoding
    text = JSONText('{"seq":1,"delta":"ü"}')
    with engine.begin() as conn:
        Statement(sessions.insert())(conn, _session("s_fast", metadata=text))
        conn.execute(sessions.insert(), _session("s_core", metadata=text))
        read = conn.execute(sa.select(sessions.c.metadata).order_by(sessions.c.id)).scalars()
        assert list(read) == [{"seq": 1, "delta": "ü"}] * 2
    assert _raw_rows(engine, "SELECT metadata FROM sessions") == [(text,), (text,)]


def test_returning_rows_are_converted_like_sqlalchemy(engine: sa.Engine) -> None:
    bump = Statement(
        sessions.update()
        .where(sessions.c.id == sa.bindparam("b_id"))
        .values(msg_seq=sessions.c.msg_seq + 2)
        .returning(sessions.c.msg_seq, sessions.c.metadata, sessions.c.created_at)
    )
    with engine.begin() as conn:
        conn.execute(sessions.insert(), _session("s1"))
        row = bump(conn, {"b_id": "s1"}).first()
        assert bump(conn, {"b_id": "missing"}).first() is None
        core = conn.execute(sa.select(sessions).where(sessions.c.id == "s1")).mappings().one()
    assert row == {"msg_seq": 2, "metadata": core["metadata"], "created_at": _AT}
    assert row["created_at"].tzinfo is not None


def test_errors_are_sqlalchemys(engine: sa.Engine) -> None:
    insert = Statement(sessions.insert())
    with engine.begin() as conn:
        insert(conn, _session("dup"))
        with pytest.raises(sa.exc.IntegrityError):
            insert(conn, _session("dup"))
        with pytest.raises(sa.exc.StatementError) as caught:
            insert(conn, _session("bad", metadata={"x": object()}))
        assert isinstance(caught.value.orig, TypeError)
        retitle = Statement(
            sessions.update()
            .where(sessions.c.id == sa.bindparam("b_id"))
            .values(title=sa.bindparam("b_title"))
        )
        with pytest.raises(sa.exc.StatementError, match="b_title"):
            retitle(conn, {"b_id": "dup"})
        with pytest.raises(sa.exc.StatementError, match="b_title"):
            conn.execute(retitle.sa, {"b_id": "dup"})


@pytest.mark.parametrize(
    "value",
    [
        _AT,
        datetime(2026, 1, 2, 3, 4, 5),  # naive: taken as UTC
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-7))),
        datetime(999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
    ],
)
def test_timestamps_are_written_and_read_as_sqlalchemy_does(
    engine: sa.Engine, value: datetime
) -> None:
    stamp = Statement(
        sessions.update()
        .where(sessions.c.id == sa.bindparam("b_id"))
        .values(updated_at=sa.bindparam("b_at", type_=sessions.c.updated_at.type))
        .returning(sessions.c.updated_at)
    )
    with engine.begin() as conn:
        conn.execute(sessions.insert(), _session("fast"))
        conn.execute(sessions.insert(), _session("core"))
        read_back = stamp(conn, {"b_id": "fast", "b_at": value}).scalar()
        conn.execute(stamp.sa, {"b_id": "core", "b_at": value})
        core_read = conn.execute(
            sa.select(sessions.c.updated_at).where(sessions.c.id == "core")
        ).scalar()
    (fast_text,), (core_text,) = _raw_rows(
        engine, "SELECT updated_at FROM sessions WHERE id IN ('fast', 'core') ORDER BY id DESC"
    )
    assert fast_text == core_text
    assert read_back == core_read
    assert read_back.tzinfo is not None
