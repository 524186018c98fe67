"""Runs: one agent run (a user turn or a background job), its status and accounting, and
``flush_run`` — the one transaction a streaming run writes its progress in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from roost.core.ids import new_id
from roost.core.msg import Msg
from roost.core.usage import Usage
from roost.store import _cursor, rows, states
from roost.store import events as _events
from roost.store import messages as _messages
from roost.store import statements as sql
from roost.store.backend import Body, Integrity, Part, Tx, in_list, one, scalar
from roost.store.errors import (
    InvalidStoreArgument,
    MessageIdConflict,
    RunExists,
    RunFinished,
    RunNotFound,
    SessionNotFound,
)
from roost.store.events import EventRow
from roost.store.records import FINAL_RUN_STATUSES, Page, RunRecord, RunStatus

_UPDATABLE = frozenset(c.strip() for c in sql.RUN.split(",")) - {
    "id",
    "session_id",
    "status",  # set_run_status: it stamps the times that go with it
    "created_at",
}
_STATUS_SQL: dict[tuple[tuple[str, ...], bool, bool], str] = {}


def _status_sql(keys: tuple[str, ...], keep_started: bool, record: bool) -> str:
    """The UPDATE of a run's status for this set of changed columns (a handful exist);
    ``keep_started``: ``started_at`` keeps its first value."""
    stmt = _STATUS_SQL.get((keys, keep_started, record))
    if stmt is None:
        sets = ", ".join(
            f"{k} = coalesce({k}, :{k})" if k == "started_at" and keep_started else f"{k} = :{k}"
            for k in keys
        )
        back = sql.RUN if record else "id"
        stmt = _STATUS_SQL[(keys, keep_started, record)] = (
            f"UPDATE runs SET {sets} WHERE id = :id AND status IN {sql.ACTIVE} RETURNING {back}"
        )
    return stmt


def set_status(
    tx: Tx,
    run_id: str,
    status: str,
    error_code: str | None,
    error_message: str | None,
    usage: Usage | None,
    model: str | None,
    owner: str | None,
    at: datetime,
    record: bool = True,
) -> RunRecord | None:
    """Set the status (and what comes with it); the updated run, or None when
    ``record`` is False. Raises ``RunFinished`` for a run already finished."""
    status = rows.check_status(status)
    rows.check_len(error_code, 64, "error code")
    rows.check_len(model, 256, "model")
    if usage is not None:
        rows.check_len(usage.currency, 8, "currency")
    values: dict[str, Any] = {"status": status}
    running = status in ("running", "waiting_approval")
    if running:
        values["started_at"] = values["heartbeat_at"] = at
    if status in FINAL_RUN_STATUSES:
        values["finished_at"] = at
    if status == "queued":
        values["started_at"] = None
    for key, value in (("error_code", error_code), ("error_message", error_message)):
        if value is not None:
            values[key] = value
    if usage is not None:
        values.update(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost=usage.cost,
            currency=usage.currency,
        )
    if model is not None:
        values["model"] = model
    if owner is not None:
        values["owner"] = owner
    row = one(tx, _status_sql(tuple(values), running, record), {**values, "id": run_id})
    if row is not None:
        return rows.run(row) if record else None
    current = scalar(tx, sql.RUN_STATUS, {"id": run_id})
    if current is None:
        raise RunNotFound(f"run {run_id!r} does not exist")
    raise RunFinished(
        f"run {run_id!r} already finished as {current!r}; cannot set {status!r}",
        current_status=current,
    )


def _fail(tx: Tx, stmt: str, params: dict[str, Any], code: str, message: str) -> list[str]:
    """Fail the runs ``stmt`` selects; each one's stream ends with a ``run.failed``
    event, so a client resuming with Last-Event-ID gets a terminal event."""
    failed = tx.rows(stmt, params)
    for row in failed:
        run_id = row["id"]
        seq = max(_events.last_seq(tx, run_id), 0) + 1
        envelope = {
            "seq": seq,
            "run_id": run_id,
            "session_id": row["session_id"],
            "status": "failed",
            "code": code,
            "message": message,
            "lost_after": seq - 1,  # events after this one were streamed, not flushed
            "type": "run.failed",
        }
        _events.insert(tx, run_id, [(seq, "run.failed", envelope)], params["now"])
    return sorted(row["id"] for row in failed)


class Runs(Part):
    async def create_run(
        self,
        *,
        session_id: str | None = None,
        agent: str | None = None,
        user_id: str | None = None,
        tenant_id: str | None = None,
        status: RunStatus = "queued",
        input_message_id: str | None = None,
        model: str | None = None,
        owner: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        inputs: Sequence[Msg] = (),
        also: Body[object] | None = None,
    ) -> RunRecord:
        """Record a new run; ``agent``/``user_id``/``tenant_id`` default to the session's.

        ``inputs`` are appended to the session (as :meth:`append_messages` with this
        run's id) in the same transaction: a run and its user message are stored — and
        acknowledged — together, in one commit. ``also`` runs in that transaction too
        (the audit record of the run, roost.govern.audit).
        """
        status = rows.check_status(status)
        if inputs and session_id is None:
            raise InvalidStoreArgument("inputs need a session_id to be stored in")
        rows.check_msgs(inputs)
        if status in FINAL_RUN_STATUSES:
            raise InvalidStoreArgument(f"a new run cannot start as {status!r}")
        rid = rows.check_id(run_id, "run id") if run_id else new_id("run")
        for value, what in ((agent, "agent"), (user_id, "user id"), (tenant_id, "tenant id")):
            rows.check_len(value, 128, what)
        rows.check_len(model, 256, "model")
        rows.check_len(owner, 128, "owner")
        at = rows.now()
        running = at if status in ("running", "waiting_approval") else None
        values: dict[str, Any] = {
            "id": rid,
            "session_id": session_id,
            "agent": agent,
            "user_id": user_id,
            "tenant_id": tenant_id,
            "status": status,
            "input_message_id": input_message_id,
            "error_code": None,
            "error_message": None,
            "model": model,
            "input_tokens": 0,
            "output_tokens": 0,
            "cost": None,
            "currency": None,
            "metadata": dict(metadata or {}),
            "created_at": at,
            "started_at": running,
            "finished_at": None,
            "owner": owner,
            "heartbeat_at": running,
        }

        def body(tx: Tx) -> None:
            last = 0
            if session_id is not None:
                # reserving the inputs' places also proves the session exists and reads
                # its owner: one statement instead of a SELECT and an UPDATE
                params = {"id": session_id, "n": len(inputs), "now": at}
                srow = one(tx, sql.RESERVE_SEQ_OWNER if inputs else sql.SESSION_OWNER, params)
                if srow is None:
                    raise SessionNotFound(f"session {session_id!r} does not exist")
                last = int(srow.get("msg_seq") or 0)
                for key in ("agent", "user_id", "tenant_id"):
                    if values[key] is None:
                        values[key] = srow[key]
            try:
                tx.run(sql.INSERT_RUN, values)
            except Integrity as exc:
                raise RunExists(f"run {rid!r} already exists") from exc
            if self._sealer is not None:
                self._sealer.remember(
                    session_id=session_id, run_id=rid, tenant_id=values["tenant_id"]
                )
            if inputs and session_id is not None:
                _messages.append(tx, session_id, inputs, rid, at, last=last, sealer=self._sealer)
            if also is not None:
                also(tx)

        try:
            await self._backend.write(body)
        except Integrity as exc:
            raise MessageIdConflict(
                "a message with one of these ids is already stored",
                hint="give every Msg a fresh id (the default)",
            ) from exc
        return RunRecord(**values)

    async def get_run(self, run_id: str) -> RunRecord:
        row = await self._backend.read(lambda tx: one(tx, sql.GET_RUN, {"id": run_id}))
        if row is None:
            raise RunNotFound(f"run {run_id!r} does not exist")
        return rows.run(row)

    async def update_run(self, run_id: str, **fields: Any) -> RunRecord:
        """Set plain fields of a run (not ``status``: use :meth:`set_run_status`)."""
        unknown = set(fields) - _UPDATABLE
        if unknown:
            hint = "use set_run_status() to change the status" if "status" in unknown else None
            raise InvalidStoreArgument(
                f"cannot update run field(s) {sorted(unknown)}",
                hint=hint or f"updatable fields: {', '.join(sorted(_UPDATABLE))}",
            )
        if not fields:
            return await self.get_run(run_id)
        if not isinstance(fields.get("metadata", {}), Mapping):
            raise InvalidStoreArgument("run metadata must be a JSON object")
        if "metadata" in fields:
            fields["metadata"] = dict(fields["metadata"])
        sets = ", ".join(f"{key} = :{key}" for key in fields)
        stmt = f"UPDATE runs SET {sets} WHERE id = :id RETURNING {sql.RUN}"
        row = await self._backend.write(lambda tx: one(tx, stmt, {**fields, "id": run_id}))
        if row is None:
            raise RunNotFound(f"run {run_id!r} does not exist")
        return rows.run(row)

    async def set_run_status(
        self,
        run_id: str,
        status: RunStatus,
        *,
        error_code: str | None = None,
        error_message: str | None = None,
        usage: Usage | None = None,
        model: str | None = None,
        owner: str | None = None,
    ) -> RunRecord:
        """Move a run to ``status``, stamping ``started_at``/``finished_at``.

        ``usage`` is the run's total (it replaces the stored counters). A run that is
        already final raises ``RunFinished``: a late cancel never overwrites a success.
        """
        run = await self._backend.write(
            lambda tx: set_status(
                tx, run_id, status, error_code, error_message, usage, model, owner, rows.now()
            )
        )
        assert run is not None  # record=True
        return run

    async def list_runs(
        self,
        *,
        session_id: str | None = None,
        status: RunStatus | Iterable[RunStatus] | None = None,
        user_id: str | None = None,
        tenant_id: str | None = None,
        owner: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[RunRecord]:
        """Runs, newest first."""
        n = rows.check_limit(limit)
        assert n is not None
        params: dict[str, Any] = {"limit": n + 1}
        where = []
        for column, value in (
            ("session_id", session_id),
            ("user_id", user_id),
            ("tenant_id", tenant_id),
            ("owner", owner),
        ):
            if value is not None:
                where.append(f"{column} = :{column}")
                params[column] = value
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            checked = [rows.check_status(s) for s in wanted]
            where.append("status IN " + in_list("status", checked, params))
        if cursor:
            params["at"], params["cid"] = _cursor.decode(cursor)
            where.append("(created_at < :at OR (created_at = :at AND id < :cid))")
        stmt = f"SELECT {sql.RUN} FROM runs"
        if where:
            stmt += " WHERE " + " AND ".join(where)
        stmt += " ORDER BY created_at DESC, id DESC LIMIT :limit"
        found = await self._backend.read(lambda tx: tx.rows(stmt, params))
        items = [rows.run(r) for r in found[:n]]
        nxt = _cursor.encode(items[-1].created_at, items[-1].id) if len(found) > n else None
        return Page(items=items, next_cursor=nxt)

    async def heartbeat(self, owner: str) -> int:
        """Mark every active run of ``owner`` as alive; returns how many."""
        params = {"owner": owner, "now": rows.now()}
        return await self._backend.write(lambda tx: tx.run(sql.HEARTBEAT, params))

    async def fail_orphaned_runs(
        self,
        *,
        owner: str | None = None,
        older_than_heartbeat_s: float | None = None,
        code: str = "server_restart",
        message: str = "the server running this run stopped before it finished",
        run_ids: Sequence[str] | None = None,
        statuses: Sequence[str] = ("running", "waiting_approval"),
    ) -> list[str]:
        """Fail runs left ``running``/``waiting_approval`` by a server that died; each
        one's stored stream ends with a ``run.failed`` event.

        ``owner`` limits it to one server instance (call it at start-up with your own
        id); ``older_than_heartbeat_s`` to runs whose heartbeat is older than that (a
        sweeper for other replicas). With neither, every active run is failed: right for
        a single server at start-up. ``run_ids`` and ``statuses`` narrow or widen it
        (queued streamed runs, whose clients went with the server). Returns the ids of the
        runs that were failed.
        """
        at = rows.now()
        params: dict[str, Any] = {"code": code, "message": message, "now": at}
        where = ["status IN " + in_list("status", list(statuses), params)]
        if run_ids is not None:
            if not run_ids:
                return []
            where.append("id IN " + in_list("id", list(run_ids), params))
        if owner is not None:
            where.append("owner = :owner")
            params["owner"] = owner
        if older_than_heartbeat_s is not None:
            where.append("coalesce(heartbeat_at, started_at, created_at) < :cutoff")
            params["cutoff"] = at - timedelta(seconds=older_than_heartbeat_s)
        stmt = (
            "UPDATE runs SET status = 'failed', error_code = :code, error_message = :message,"
            f" finished_at = :now WHERE {' AND '.join(where)} RETURNING id, session_id"
        )
        return await self._backend.write(lambda tx: _fail(tx, stmt, params, code, message))

    async def flush_run(
        self,
        run_id: str,
        events: Sequence[EventRow] = (),
        msg: Msg | None = None,
        *,
        partial: bool = True,
        session_id: str | None = None,
        status: RunStatus | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        usage: Usage | None = None,
        model: str | None = None,
        messages: Sequence[Msg] = (),
        state: tuple[str, Mapping[str, Any]] | None = None,
        msg_new: bool = False,
        record: bool = True,
        also: Body[object] | None = None,
    ) -> RunRecord | None:
        """One transaction for a streaming run: a batch of events, completed
        ``messages``, the (partial) reply ``msg``, the agent ``state`` (``(agent_name,
        state_dict)``) and, at the end, the final status. Returns the run when ``status``
        is given. Everything commits together or nothing does.

        ``msg_new``: the caller has not stored ``msg`` before (no partial of it was
        flushed), so it is inserted without first trying to update it; if it does exist
        after all, it is updated as usual. ``record=False``: return None even with a
        ``status`` (the run is not read back)."""
        if msg is not None:
            rows.check_msgs([msg])
        rows.check_msgs(messages)
        st: tuple[str, dict[str, Any]] | None = None
        if state is not None:
            rows.check_len(state[0], 128, "agent name")
            st = (state[0], dict(state[1]))

        sealer = self._sealer

        def body(tx: Tx) -> RunRecord | None:
            at = rows.now()  # one timestamp for the whole transaction
            if events:
                _events.insert(tx, run_id, events, at, sealer)
            sid = session_id
            if sid is None and (msg is not None or messages or st is not None):
                sid = scalar(tx, sql.RUN_SESSION, {"id": run_id})
                if sid is None:
                    _events.require_run(tx, run_id)
                    raise InvalidStoreArgument(
                        f"run {run_id!r} has no session to save the message in"
                    )
            if sid is not None:
                for complete in messages:
                    _messages.save(tx, sid, complete, run_id, False, at, sealer=sealer)
                if msg is not None:
                    _messages.save(tx, sid, msg, run_id, partial, at, new=msg_new, sealer=sealer)
                if st is not None:
                    states.save(tx, sid, st[0], st[1], None, at, sealer)
            done = None
            if status is not None:
                done = set_status(
                    tx, run_id, status, error_code, error_message, usage, model, None, at, record
                )
            if also is not None:  # last: it may lock a row every writer shares (audit head)
                also(tx)
            return done

        try:
            return await self._backend.write(body)
        except Integrity as exc:
            raise await _events.event_error(self._backend, run_id, events) from exc
