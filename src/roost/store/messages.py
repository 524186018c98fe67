"""Messages: a session's transcript, in ``seq`` order (places reserved on the session)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from roost.core.jsontext import JSONText
from roost.core.msg import Msg
from roost.store import _cursor, rows, sealing
from roost.store import statements as sql
from roost.store.backend import Integrity, Part, Row, Tx, in_list, one, scalar
from roost.store.errors import MessageIdConflict, MessageNotFound, SessionNotFound
from roost.store.records import MessagePage, MessageRecord
from roost.store.sessions import require_session


def _json(msg: Msg) -> JSONText:
    """A message as its JSON column holds it (pydantic's own encoder: no dict between)."""
    return JSONText(msg.model_dump_json(exclude_none=True))


def reserve_seq(tx: Tx, session_id: str, count: int, at: datetime) -> int:
    """Reserve ``count`` places at the end of the session; returns the last one."""
    last = scalar(tx, sql.RESERVE_SEQ, {"id": session_id, "n": count, "now": at})
    if last is None:
        raise SessionNotFound(f"session {session_id!r} does not exist")
    return int(last)


def append(
    tx: Tx,
    session_id: str,
    msgs: Sequence[Msg],
    run_id: str | None,
    at: datetime,
    *,
    last: int | None = None,
    sealer: sealing.ContentSealer | None = None,
) -> list[MessageRecord]:
    """Insert ``msgs`` at the end of the session (``last``: their places, already
    reserved by the caller)."""
    if last is None:
        last = reserve_seq(tx, session_id, len(msgs), at)
    first = last - len(msgs) + 1
    records = [
        MessageRecord(
            msg=m, session_id=session_id, seq=first + i, run_id=run_id, partial=False, created_at=at
        )
        for i, m in enumerate(msgs)
    ]
    tx.many(
        sql.INSERT_MESSAGE,
        [
            _row(r, sealing.seal_json(sealer, tx, "messages", _json(r.msg), session_id=session_id))
            for r in records
        ],
    )
    return records


def _row(record: MessageRecord, content: JSONText | None = None) -> dict[str, Any]:
    msg = record.msg
    return {
        "id": msg.id,
        "session_id": record.session_id,
        "run_id": record.run_id,
        "seq": record.seq,
        "role": msg.role,
        "name": msg.name,
        "content": content if content is not None else _json(msg),
        "partial": record.partial,
        "created_at": record.created_at,
    }


def save(
    tx: Tx,
    session_id: str,
    msg: Msg,
    run_id: str | None,
    partial: bool,
    at: datetime,
    *,
    new: bool = False,
    sealer: sealing.ContentSealer | None = None,
) -> MessageRecord:
    """Insert ``msg`` at the end of the session or update it in its place. ``new``: it
    is most likely not stored yet, so try the insert first (``ON CONFLICT (id) DO
    NOTHING``; the place reserved for it stays unused when it existed after all)."""
    content = sealing.seal_json(sealer, tx, "messages", _json(msg), session_id=session_id)

    def insert(if_new: bool) -> MessageRecord | None:
        seq = reserve_seq(tx, session_id, 1, at)
        record = MessageRecord(msg, session_id, seq, run_id, partial, at)
        if not if_new:
            tx.run(sql.INSERT_MESSAGE, _row(record, content))
        elif not tx.rows(sql.INSERT_MESSAGE_IF_NEW, _row(record, content)):
            return None  # stored already: updated below
        return record

    if new and (added := insert(if_new=True)) is not None:
        return added
    params = {
        "id": msg.id,
        "session_id": session_id,
        "role": msg.role,
        "name": msg.name,
        "content": content,
        "partial": partial,
        "run_id": run_id,
    }
    row = one(tx, sql.UPDATE_MESSAGE, params)
    if row is not None:
        return MessageRecord(
            msg,
            session_id,
            int(row["seq"]),
            row["run_id"],
            partial,
            rows.created(row["created_at"]),
        )
    added = insert(if_new=False)
    assert added is not None
    return added


def _resequence(tx: Tx, session_id: str, run_id: str) -> int:
    key = {"session_id": session_id, "run_id": run_id}
    mine = tx.rows(sql.RUN_MESSAGES, key)
    if not mine or not tx.rows(sql.OTHERS_AFTER, {**key, "seq": mine[0]["seq"]}):
        return 0
    first = reserve_seq(tx, session_id, len(mine), rows.now()) - len(mine) + 1
    tx.many(sql.MOVE_MESSAGE, [{"id": m["id"], "seq": first + i} for i, m in enumerate(mine)])
    return len(mine)


class Messages(Part):
    async def append_messages(
        self, session_id: str, msgs: Sequence[Msg], *, run_id: str | None = None
    ) -> list[MessageRecord]:
        """Append complete messages at the end of the session, in the given order."""
        if not msgs:
            return []
        rows.check_msgs(msgs)
        try:
            return await self._backend.write(
                lambda tx: append(tx, session_id, msgs, run_id, rows.now(), sealer=self._sealer)
            )
        except Integrity as exc:
            raise MessageIdConflict(
                "a message with one of these ids is already stored",
                hint="give every Msg a fresh id (the default), or use save_message to update",
            ) from exc

    async def save_message(
        self,
        session_id: str,
        msg: Msg,
        *,
        run_id: str | None = None,
        partial: bool = False,
    ) -> MessageRecord:
        """Insert or update ``msg`` by id; it keeps its place (``seq``) on updates.

        The server calls this repeatedly with ``partial=True`` while a reply streams (so
        an interrupted or crashed run still leaves the text produced so far), then once
        with ``partial=False``.
        """
        rows.check_msgs([msg])
        try:
            return await self._backend.write(
                lambda tx: save(
                    tx, session_id, msg, run_id, partial, rows.now(), sealer=self._sealer
                )
            )
        except Integrity as exc:
            raise MessageIdConflict(
                f"message {msg.id!r} already belongs to another session"
            ) from exc

    async def get_message(self, message_id: str) -> MessageRecord:
        sealer = self._sealer

        def body(tx: Tx) -> list[Row]:
            found = tx.rows(sql.GET_MESSAGE, {"id": message_id})
            return sealing.open_rows(sealer, tx, "messages", found, "content")

        found = await self._backend.read(body)
        if not found:
            raise MessageNotFound(f"message {message_id!r} does not exist")
        return rows.message(found[0])

    async def list_messages(
        self,
        session_id: str,
        *,
        limit: int | None = 50,
        after: str | int | None = None,
        before: str | int | None = None,
        include_partial: bool = True,
    ) -> MessagePage:
        """A page of messages in conversation order (oldest first).

        No cursor: the first ``limit`` messages, and ``after=page.next_cursor`` continues
        forward. ``before=cursor`` gives the ``limit`` messages just before it (still
        oldest first) and ``next_cursor`` continues further back; start backward paging
        with :meth:`latest_messages`. ``limit=None`` returns everything.
        """
        n = rows.check_limit(limit, allow_none=True)
        lo = _cursor.decode_seq(after) if after is not None else None
        hi = _cursor.decode_seq(before) if before is not None else None
        backwards = hi is not None and lo is None
        return await self._message_page(session_id, n, lo, hi, backwards, include_partial)

    async def latest_messages(
        self, session_id: str, *, limit: int = 50, include_partial: bool = True
    ) -> MessagePage:
        """The last ``limit`` messages, oldest first; ``before=next_cursor`` pages back."""
        n = rows.check_limit(limit)
        return await self._message_page(session_id, n, None, None, True, include_partial)

    async def _message_page(
        self,
        session_id: str,
        n: int | None,
        lo: int | None,
        hi: int | None,
        backwards: bool,
        include_partial: bool,
    ) -> MessagePage:
        params: dict[str, Any] = {"session_id": session_id, "lo": lo, "hi": hi, "n": (n or 0) + 1}
        stmt = f"SELECT {sql.MESSAGE} FROM messages WHERE session_id = :session_id"
        stmt += " AND seq > :lo" if lo is not None else ""
        stmt += " AND seq < :hi" if hi is not None else ""
        stmt += "" if include_partial else " AND NOT partial"
        stmt += " ORDER BY seq DESC" if backwards else " ORDER BY seq"
        stmt += " LIMIT :n" if n is not None else ""

        sealer = self._sealer

        def body(tx: Tx) -> list[Row]:
            found = tx.rows(stmt, params)
            if not found:
                require_session(tx, session_id)
            return sealing.open_rows(sealer, tx, "messages", found, "content")

        found = await self._backend.read(body)
        more = n is not None and len(found) > n
        records = [rows.message(r) for r in (found[:n] if n is not None else found)]
        if backwards:
            records.reverse()
        nxt: str | None = None
        if more and records:
            nxt = str(records[0].seq if backwards else records[-1].seq)
        return MessagePage(items=[r.msg for r in records], next_cursor=nxt, records=records)

    async def resequence_run_messages(self, session_id: str, run_id: str) -> int:
        """Move the messages of ``run_id`` to the end of the session, in their order, if
        messages of other runs were stored after them; returns how many moved.

        A queued run's input is stored (durable) when the run is accepted, before the
        replies of the runs ahead of it; called when the run starts, this puts its input
        right before its reply in the transcript.
        """
        return await self._backend.write(lambda tx: _resequence(tx, session_id, run_id))

    async def discard_run_outputs(self, run_id: str, *, keep: Sequence[str] = ()) -> int:
        """Delete the messages of ``run_id`` but those in ``keep`` (its input); returns how
        many went. A background run that its server died in runs again from the start
        (its agent state is the one saved before it): what the first attempt had flushed
        — a partial reply, tool calls and results — would otherwise stay in the
        transcript beside the second attempt's."""
        params: dict[str, Any] = {"run_id": run_id}
        stmt = "DELETE FROM messages WHERE run_id = :run_id"
        if keep:
            stmt += " AND id NOT IN " + in_list("keep", list(keep), params)
        return await self._backend.write(lambda tx: tx.run(stmt, params))
