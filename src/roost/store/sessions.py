"""Sessions: a conversation, whose messages, agent states and runs hang off its id."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from roost.core.ids import new_id
from roost.store import _cursor, rows
from roost.store import statements as sql
from roost.store.backend import Integrity, Part, Tx, one
from roost.store.errors import InvalidStoreArgument, SessionExists, SessionNotFound
from roost.store.records import Page, SessionRecord

PRUNE_BATCH = 100
"""Sessions one pruning transaction deletes (each with its messages, runs, events)."""


def require_session(tx: Tx, session_id: str) -> None:
    if not tx.rows(sql.SESSION_EXISTS, {"id": session_id}):
        raise SessionNotFound(f"session {session_id!r} does not exist")


class Sessions(Part):
    async def create_session(
        self,
        *,
        app: str,
        agent: str | None = None,
        user_id: str | None = None,
        tenant_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        session_id: str | None = None,
        title: str | None = None,
    ) -> SessionRecord:
        """Create a session; ``session_id`` lets clients choose their own id."""
        if not app:
            raise InvalidStoreArgument("app is required to create a session")
        for value, what in ((app, "app"), (agent, "agent"), (user_id, "user id")):
            rows.check_len(value, 128, what)
        rows.check_len(tenant_id, 128, "tenant id")
        sid = rows.check_id(session_id, "session id") if session_id else new_id("ses")
        at = rows.now()
        record = SessionRecord(
            id=sid,
            app=app,
            agent=agent,
            user_id=user_id,
            tenant_id=tenant_id,
            title=title,
            metadata=dict(metadata or {}),
            created_at=at,
            updated_at=at,
        )
        values = {**dataclasses.asdict(record), "msg_seq": 0}
        try:
            await self._backend.write(lambda tx: tx.run(sql.INSERT_SESSION, values))
        except Integrity as exc:
            raise SessionExists(f"session {sid!r} already exists") from exc
        if self._sealer is not None:
            self._sealer.remember(session_id=sid, run_id=None, tenant_id=tenant_id)
        return record

    async def get_session(self, session_id: str) -> SessionRecord:
        row = await self._backend.read(lambda tx: one(tx, sql.GET_SESSION, {"id": session_id}))
        if row is None:
            raise SessionNotFound(f"session {session_id!r} does not exist")
        return rows.session(row)

    async def update_session(
        self,
        session_id: str,
        *,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        agent: str | None = None,
    ) -> SessionRecord:
        """Change the title, agent or (replace) metadata; ``None`` leaves a field as is."""
        values: dict[str, Any] = {"id": session_id, "updated_at": rows.now()}
        if title is not None:
            values["title"] = title
        if metadata is not None:
            values["metadata"] = dict(metadata)
        if agent is not None:
            values["agent"] = agent
        sets = ", ".join(f"{key} = :{key}" for key in values if key != "id")
        stmt = f"UPDATE sessions SET {sets} WHERE id = :id RETURNING {sql.SESSION}"
        row = await self._backend.write(lambda tx: one(tx, stmt, values))
        if row is None:
            raise SessionNotFound(f"session {session_id!r} does not exist")
        return rows.session(row)

    async def delete_session(self, session_id: str) -> None:
        """Hard-delete a session with its messages, states, runs and run events."""
        deleted = await self._backend.write(
            lambda tx: tx.run(sql.DELETE_SESSION, {"id": session_id})
        )
        if deleted == 0:
            raise SessionNotFound(f"session {session_id!r} does not exist")

    async def prune_sessions(self, *, idle_before: datetime) -> int:
        """Delete the sessions with no activity (``updated_at``) since ``idle_before``,
        with their messages, states, runs and run events, :data:`PRUNE_BATCH` per
        transaction; returns how many sessions went."""
        params = {"before": idle_before, "limit": PRUNE_BATCH}
        total = 0
        while True:
            deleted = await self._backend.write(lambda tx: tx.run(sql.DELETE_IDLE_SESSIONS, params))
            total += deleted
            if deleted < PRUNE_BATCH:
                return total

    async def list_sessions(
        self,
        *,
        user_id: str | None = None,
        tenant_id: str | None = None,
        app: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        order: Literal["created", "updated"] = "created",
    ) -> Page[SessionRecord]:
        """Sessions, newest first by creation, or by last activity with
        ``order="updated"`` (a session that gets a message moves to the front, so that
        order can shift between pages)."""
        n = rows.check_limit(limit)
        assert n is not None
        if order not in ("created", "updated"):
            raise InvalidStoreArgument(f"unknown order {order!r}", hint="use created or updated")
        stamp = "created_at" if order == "created" else "updated_at"
        params: dict[str, Any] = {"limit": n + 1}
        where = []
        for column, value in (("user_id", user_id), ("tenant_id", tenant_id), ("app", app)):
            if value is not None:
                where.append(f"{column} = :{column}")
                params[column] = value
        if cursor:
            params["at"], params["cid"] = _cursor.decode(cursor)
            where.append(f"({stamp} < :at OR ({stamp} = :at AND id < :cid))")
        stmt = f"SELECT {sql.SESSION} FROM sessions"
        if where:
            stmt += " WHERE " + " AND ".join(where)
        stmt += f" ORDER BY {stamp} DESC, id DESC LIMIT :limit"
        found = await self._backend.read(lambda tx: tx.rows(stmt, params))
        items = [rows.session(r) for r in found[:n]]
        nxt: str | None = None
        if len(found) > n:
            last = items[-1]
            nxt = _cursor.encode(
                last.created_at if order == "created" else last.updated_at, last.id
            )
        return Page(items=items, next_cursor=nxt)
