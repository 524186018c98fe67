"""``Store``: the async persistence facade (sessions, messages, state, runs, events, keys).

Every public method is one database transaction and returns frozen records from
:mod:`roost.store.records`, never ORM objects. SQLite (the default, a file under
``ROOST_HOME``) and PostgreSQL behave the same; ``tests/store`` runs on both.

Typical use by the server::

    store = await Store.open()                       # runs migrations (idempotent)
    s = await store.create_session(app="demo", user_id="u1")
    run = await store.create_run(session_id=s.id, status="running", owner="srv-1",
                                 inputs=[user_msg])   # run + its input: one commit
    # while streaming: a batch of events + the partial reply, one transaction
    await store.flush_run(run.id, [(0, "reply.started", {...})], partial_reply,
                          session_id=s.id)
    # at the end: last events + final reply + status + usage, one transaction
    await store.flush_run(run.id, events, final_reply, partial=False, session_id=s.id,
                          status="succeeded", usage=usage, state=(agent, state_dict))
    page = await store.list_messages(s.id, limit=50)          # oldest first
    await store.fail_orphaned_runs(owner="srv-1")              # at start-up

Errors (all ``RoostError`` with stable codes): ``session_not_found``, ``run_not_found``,
``message_not_found``, ``api_key_not_found`` (404); ``session_exists``, ``run_exists``,
``message_id_conflict``, ``run_finished``, ``event_seq_conflict``,
``state_version_conflict`` (409); ``invalid_store_argument``, ``invalid_cursor`` (422);
``store_unavailable`` (503, retryable); ``store_migration_failed`` (500).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import re
from collections.abc import (
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, Self, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import URL, RowMapping

from roost.core.ids import new_id
from roost.core.jsontext import JSONText
from roost.core.msg import Msg
from roost.core.settings import get_settings
from roost.core.usage import Usage
from roost.store import _api_keys, _cursor
from roost.store._engine import (
    WRITE_OPTION,
    create_engine,
    create_sqlite_sync_engine,
    is_memory_sqlite,
    normalize_url,
    sqlite_path,
)
from roost.store._fast import Statement
from roost.store._writer import LoopWriter, SerialWriter
from roost.store.errors import (
    ApiKeyNotFound,
    EventSeqConflict,
    InvalidStoreArgument,
    MessageIdConflict,
    MessageNotFound,
    RunExists,
    RunFinished,
    RunNotFound,
    SessionExists,
    SessionNotFound,
    StateVersionConflict,
    StoreUnavailable,
)
from roost.store.records import (
    ACTIVE_RUN_STATUSES,
    FINAL_RUN_STATUSES,
    RUN_STATUSES,
    ApiKeyRecord,
    ApiKeyRole,
    EventRecord,
    MessagePage,
    MessageRecord,
    Page,
    RunRecord,
    RunStatus,
    SessionRecord,
    UsageGroup,
)
from roost.store.schema import agent_states, api_keys, messages, run_events, runs, sessions

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

EventRow = tuple[int, str, Mapping[str, Any] | JSONText]
"""``(seq, type, payload)``: the payload as a mapping, or already encoded as JSON text."""

_ID_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
MAX_PAGE = 10_000
LAST_USED_RESOLUTION = timedelta(seconds=60)
"""``api_keys.last_used_at`` is only rewritten when older than this (saves a write per request)."""

_RUN_UPDATABLE = frozenset(
    {
        "agent",
        "user_id",
        "tenant_id",
        "input_message_id",
        "error_code",
        "error_message",
        "model",
        "input_tokens",
        "output_tokens",
        "cost",
        "currency",
        "metadata",
        "started_at",
        "finished_at",
        "owner",
        "heartbeat_at",
    }
)
_USAGE_GROUPS: dict[str, sa.Column[Any]] = {
    "session": runs.c.session_id,
    "user": runs.c.user_id,
    "tenant": runs.c.tenant_id,
    "model": runs.c.model,
    "agent": runs.c.agent,
}


P = ParamSpec("P")
R = TypeVar("R")


def _uncancellable(fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Run the call's transaction to its end even if the caller is cancelled.

    The server cancels run tasks (interrupts, client disconnects) at any await. A
    database call interrupted half-way leaves its connection mid-transaction — with
    aiosqlite the worker thread keeps the SQLite write lock and every other writer gets
    "database is locked". So the call runs in its own task; a cancelled caller waits for
    it to commit or roll back, then gets its ``CancelledError`` (the work may or may not
    have been committed, as with any cancelled call).

    A SQLite-file store needs no task: its transactions run whole in a thread or in one
    synchronous step on the loop, which a cancelled caller cannot interrupt, and
    ``Store._tx`` waits for a write's commit.
    """

    @functools.wraps(fn)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        if cast("Store", args[0])._sync is not None:
            return await fn(*args, **kwargs)
        task = asyncio.ensure_future(fn(*args, **kwargs))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                await asyncio.wait([task])
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: the caller only sees the cancellation
            raise

    return call


def _now() -> datetime:
    return datetime.now(UTC)


def _check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise InvalidStoreArgument(
            f"invalid {what} {str(value)[:80]!r}",
            hint="ids are 1-64 characters from A-Z a-z 0-9 _ . : -",
        )
    return value


def _check_len(value: str | None, limit: int, what: str) -> None:
    """Same limits on every dialect (SQLite would accept anything, PostgreSQL refuse)."""
    if value is not None and len(value) > limit:
        raise InvalidStoreArgument(
            f"{what} is {len(value)} characters long; the limit is {limit}",
            hint=f"shorten the {what}",
        )


def _check_msgs(msgs: Sequence[Msg]) -> None:
    for m in msgs:
        _check_len(m.id, 64, "message id")
        _check_len(m.name, 128, "message name")


def _check_limit(limit: int | None, *, allow_none: bool = False) -> int | None:
    if limit is None:
        if allow_none:
            return None
        raise InvalidStoreArgument("limit is required")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
        raise InvalidStoreArgument(f"limit must be an integer from 1 to {MAX_PAGE}, got {limit!r}")
    return limit


def _check_status(status: str) -> RunStatus:
    if status not in RUN_STATUSES:
        raise InvalidStoreArgument(
            f"unknown run status {status!r}", hint=f"use one of {', '.join(RUN_STATUSES)}"
        )
    return status


def _msg_json(msg: Msg) -> JSONText:
    """A message as its JSON column holds it (pydantic's own encoder: no dict between)."""
    return JSONText(msg.model_dump_json(exclude_none=True))


def _session(row: Mapping[Any, Any]) -> SessionRecord:
    return SessionRecord(
        id=row["id"],
        app=row["app"],
        agent=row["agent"],
        user_id=row["user_id"],
        tenant_id=row["tenant_id"],
        title=row["title"],
        metadata=dict(row["metadata"] or {}),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _message(row: Mapping[Any, Any]) -> MessageRecord:
    return MessageRecord(
        msg=Msg.model_validate(row["content"]),
        session_id=row["session_id"],
        seq=int(row["seq"]),
        run_id=row["run_id"],
        partial=bool(row["partial"]),
        created_at=row["created_at"],
    )


def _run(row: Mapping[Any, Any]) -> RunRecord:
    return RunRecord(
        id=row["id"],
        session_id=row["session_id"],
        agent=row["agent"],
        user_id=row["user_id"],
        tenant_id=row["tenant_id"],
        status=row["status"],
        input_message_id=row["input_message_id"],
        error_code=row["error_code"],
        error_message=row["error_message"],
        model=row["model"],
        input_tokens=int(row["input_tokens"]),
        output_tokens=int(row["output_tokens"]),
        cost=row["cost"],
        currency=row["currency"],
        metadata=dict(row["metadata"] or {}),
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        owner=row["owner"],
        heartbeat_at=row["heartbeat_at"],
    )


def _api_key(row: RowMapping) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        role=row["role"],
        tenant_id=row["tenant_id"],
        user_id=row["user_id"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


_API_KEY_COLUMNS = [c for c in api_keys.c if c.name != "key_hash"]

HEAD_REVISION = "0003_traces"
"""The newest packaged migration; tests/store/test_migrations.py keeps it in sync."""
_REVISION_SQL = "SELECT version_num FROM alembic_version"

# Hot-path statements built once. The ``Statement``-wrapped ones are what a streamed run
# writes: on the SQLite writer they run on the raw driver (decision 0100).
_INSERT_SESSION = Statement(sessions.insert())
_INSERT_RUN = Statement(runs.insert())
_INSERT_STATE = agent_states.insert()
_GET_SESSION = sa.select(sessions).where(sessions.c.id == sa.bindparam("id"))
_GET_RUN = sa.select(runs).where(runs.c.id == sa.bindparam("id"))
_RUN_SESSION = Statement(sa.select(runs.c.session_id).where(runs.c.id == sa.bindparam("id")))
_SESSION_OWNER = Statement(
    sa.select(sessions.c.agent, sessions.c.user_id, sessions.c.tenant_id).where(
        sessions.c.id == sa.bindparam("id")
    )
)
_BUMP_SEQ = (
    sessions.update()
    .where(sessions.c.id == sa.bindparam("b_id"))
    .values(
        msg_seq=sessions.c.msg_seq + sa.bindparam("b_n", type_=sa.Integer()),
        updated_at=sa.bindparam("b_now", type_=sessions.c.updated_at.type),
    )
)
"""Reserve ``b_n`` message places in a session (the new ``msg_seq`` is the last one)."""
_RESERVE_SEQ = Statement(_BUMP_SEQ.returning(sessions.c.msg_seq))
_RESERVE_SEQ_OWNER = Statement(  # the same, also reading the owner (a run's input)
    _BUMP_SEQ.returning(
        sessions.c.msg_seq, sessions.c.agent, sessions.c.user_id, sessions.c.tenant_id
    )
)
_SESSION_EXISTS = Statement(sa.select(sessions.c.id).where(sessions.c.id == sa.bindparam("id")))
_RUN_EXISTS = Statement(sa.select(runs.c.id).where(runs.c.id == sa.bindparam("id")))
_LAST_EVENT_SEQ = sa.select(sa.func.max(run_events.c.seq)).where(
    run_events.c.run_id == sa.bindparam("run_id")
)
_STATE_KEY = (
    agent_states.c.session_id == sa.bindparam("session_id"),
    agent_states.c.agent_name == sa.bindparam("agent_name"),
)
_LOAD_STATE = sa.select(agent_states.c.state).where(*_STATE_KEY)
# the conditional save (expected_version); the unconditional one is _state_upsert()
_UPDATE_STATE_IF = (
    agent_states.update()
    .where(
        agent_states.c.session_id == sa.bindparam("b_session_id"),
        agent_states.c.agent_name == sa.bindparam("b_agent_name"),
        agent_states.c.version == sa.bindparam("b_version"),
    )
    .values(
        version=agent_states.c.version + 1,
        state=sa.bindparam("b_state", type_=agent_states.c.state.type),
        updated_at=sa.bindparam("b_now", type_=agent_states.c.updated_at.type),
    )
    .returning(agent_states.c.version)
)
_INSERT_MESSAGE = Statement(messages.insert())
_INSERT_EVENTS = Statement(run_events.insert())
_UPDATE_MESSAGE = Statement(
    messages.update()
    .where(
        messages.c.id == sa.bindparam("b_id"),
        messages.c.session_id == sa.bindparam("b_session_id"),
    )
    .values(
        role=sa.bindparam("b_role", type_=messages.c.role.type),
        name=sa.bindparam("b_name", type_=messages.c.name.type),
        content=sa.bindparam("b_content", type_=messages.c.content.type),
        partial=sa.bindparam("b_partial", type_=messages.c.partial.type),
        run_id=sa.func.coalesce(
            sa.bindparam("b_run_id", type_=messages.c.run_id.type), messages.c.run_id
        ),
    )
    .returning(messages.c.seq, messages.c.run_id, messages.c.created_at)
)
_LOAD_VERSION = sa.select(agent_states.c.version).where(*_STATE_KEY)


class Store:
    """Async persistence facade over one SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(
        self,
        engine: AsyncEngine | None,
        url: URL,
        *,
        schema: str | None = None,
        echo: bool = False,
    ) -> None:
        # ``engine`` may be None for a SQLite file: the async engine (and the import of
        # sqlalchemy.ext.asyncio + aiosqlite, ~10 MB) is then only created when
        # migrations or another layer (``.engine``) need it.
        self._engine = engine
        self._url = url
        self._schema = schema
        self._echo = echo
        # SQLite file: every transaction runs whole on a sync pysqlite connection — reads
        # in a worker thread, writes batched on the event loop while SQLite's write lock
        # is free, else in ONE writer thread — so this process never waits in SQLite's
        # busy handler on the loop (decisions 0090, 0101). PostgreSQL and in-memory
        # SQLite keep the async engine (the same sync bodies run through ``run_sync``).
        self._sync: sa.Engine | None = None
        self._sync_write: sa.Engine | None = None
        self._writer: LoopWriter | SerialWriter | None = None
        self._writer_thread: SerialWriter | None = None
        self._readers: ThreadPoolExecutor | None = None
        # ``ROOST_SQLITE_SYNC_WRITER=0`` keeps a SQLite file on the async engine and
        # ``ROOST_SQLITE_LOOP_WRITER=0`` all writes in the thread (escape hatches;
        # decisions 0094, 0095 and 0101 tell why they exist).
        if sqlite_path(url) is not None and os.environ.get("ROOST_SQLITE_SYNC_WRITER") != "0":
            self._sync = create_sqlite_sync_engine(url, echo=echo)
            self._sync_write = self._sync.execution_options(**{WRITE_OPTION: True})
            self._writer = self._writer_thread = SerialWriter(self._sync_write)
            self._readers = ThreadPoolExecutor(2, thread_name_prefix="roost-store-reader")
            if os.environ.get("ROOST_SQLITE_LOOP_WRITER") != "0":
                self._writer = LoopWriter(self._sync_write, self._writer_thread)
        # In-memory SQLite is ONE shared connection: transactions must not interleave on it.
        self._one_connection: asyncio.Lock | None = (
            asyncio.Lock() if is_memory_sqlite(url) else None
        )
        # A SQLite file on the async engine: this process's writers take turns instead of
        # waiting on each other in SQLite's busy handler.
        self._write_turn: asyncio.Lock | None = (
            asyncio.Lock() if sqlite_path(url) is not None and self._writer is None else None
        )

    # -- lifecycle ---------------------------------------------------------------------
    @classmethod
    async def open(
        cls,
        url: str | None = None,
        *,
        migrate: bool = True,
        schema: str | None = None,
        echo: bool = False,
    ) -> Store:
        """Connect to ``url`` (default: ``ROOST_DATABASE_URL`` or the SQLite file under
        ``ROOST_HOME``) and bring the schema to the latest revision.

        ``schema`` (PostgreSQL only; also ``?schema=name`` in the URL) keeps Roost's
        tables in their own schema, created on first use: several Roost installs (or
        test runs) can share one database.
        """
        settings = get_settings()
        if url is None:
            if not settings.database_url:
                settings.ensure_home()
            url = settings.resolved_database_url
        parsed = normalize_url(url)
        if "schema" in parsed.query:  # ...?schema=roost: one env var is enough to deploy
            url_schema = parsed.query["schema"]
            parsed = parsed.difference_update_query(["schema"])
            if schema is None:
                schema = url_schema if isinstance(url_schema, str) else url_schema[0]
        if schema is not None and parsed.get_backend_name() != "postgresql":
            raise InvalidStoreArgument(
                "schema= is only supported on PostgreSQL",
                hint="SQLite keeps one database per file; use another file instead",
            )
        lazy = sqlite_path(parsed) is not None
        engine = None if lazy else create_engine(parsed, schema=schema, echo=echo)
        store = cls(engine, parsed, schema=schema, echo=echo)
        try:
            if migrate and not await store._at_head():
                if not await _create_if_empty(store, parsed, schema):
                    await _migrate_engine(store.engine, parsed, schema)
            else:
                await store.ping()
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        """Close every pooled connection; the store cannot be used afterwards."""
        if isinstance(self._writer, LoopWriter):
            self._writer.close()
        if self._writer_thread is not None:
            await asyncio.to_thread(self._writer_thread.close)
        if self._readers is not None:
            await asyncio.to_thread(self._readers.shutdown, wait=True)
        if self._sync is not None:
            self._sync.dispose()
        if self._engine is not None:
            await self._engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def engine(self) -> AsyncEngine:
        """The async SQLAlchemy engine (for migrations and other layers' own tables)."""
        if self._engine is None:
            self._engine = create_engine(self._url, schema=self._schema, echo=self._echo)
        return self._engine

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._url.get_backend_name()

    @property
    def schema(self) -> str | None:
        """The PostgreSQL schema holding Roost's tables (``None``: the default path)."""
        return self._schema

    @property
    def url(self) -> str:
        """The database URL with the password hidden (safe to log)."""
        return self._url.render_as_string(hide_password=True)

    @_uncancellable
    async def ping(self) -> None:
        """Round-trip to the database; raises ``StoreUnavailable`` when it is down."""
        await self._tx(lambda conn: conn.exec_driver_sql("SELECT 1").all())

    async def _at_head(self) -> bool:
        """One plain query: is the schema already at the packaged head revision?

        Lets a restart skip importing Alembic (≈1 s and +15 MB). Otherwise an empty
        database is created without Alembic too (``_create_if_empty``); anything else
        (older revision, several heads) takes the full migration path.
        """
        try:
            rows = await self._tx(lambda conn: conn.exec_driver_sql(_REVISION_SQL).all())
        except Exception:
            return False
        return [r[0] for r in rows] == [HEAD_REVISION]

    @_uncancellable
    async def schema_revision(self) -> set[str]:
        """The Alembic revisions the database is at (compare with ``head_revisions()``)."""
        from roost.store._migrate import _current

        return await self._tx(_current)

    @staticmethod
    def head_revisions() -> set[str]:
        """The revisions this Roost's migrations lead to."""
        from roost.store._migrate import head_revisions

        return head_revisions()

    async def _tx(
        self, body: Callable[[sa.Connection], R], *, write: bool = False, long: bool = False
    ) -> R:
        """Run ``body`` as one transaction (commit on return, roll back on error).

        SQLite file: the whole body runs in a worker thread — writes in the single writer
        thread, which commits what is queued together (group commit). Elsewhere: ``AsyncConnection.run_sync`` on the async engine.
        """
        try:
            if self._writer is not None and write:
                done = self._writer.submit(body, long=long)
                try:
                    return cast(R, await asyncio.shield(done))
                except asyncio.CancelledError:  # the caller waits for the commit anyway
                    await asyncio.wait([done])
                    if not done.cancelled():
                        done.exception()  # retrieved: the caller only sees the cancellation
                    raise
            if self._sync is not None:
                return await asyncio.get_running_loop().run_in_executor(
                    self._readers, _run_tx, self._sync, body
                )
            engine = self.engine
            if write:
                engine = engine.execution_options(**{WRITE_OPTION: True})
            if self._one_connection is not None:
                async with self._one_connection, engine.begin() as conn:
                    return await conn.run_sync(body)
            if write and self._write_turn is not None:
                async with self._write_turn, engine.begin() as conn:
                    return await conn.run_sync(body)
            async with engine.begin() as conn:
                return await conn.run_sync(body)
        except sa.exc.StatementError as exc:
            err = _translate(exc)
            if err is exc:
                raise
            raise err from exc
        except OSError as exc:
            raise _unavailable(exc) from exc

    # -- sessions ----------------------------------------------------------------------
    @_uncancellable
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
            _check_len(value, 128, what)
        _check_len(tenant_id, 128, "tenant id")
        sid = _check_id(session_id, "session id") if session_id else new_id("ses")
        now = _now()
        values = {
            "id": sid,
            "app": app,
            "agent": agent,
            "user_id": user_id,
            "tenant_id": tenant_id,
            "title": title,
            "metadata": dict(metadata or {}),
            "msg_seq": 0,
            "created_at": now,
            "updated_at": now,
        }
        try:
            await self._tx(lambda conn: _INSERT_SESSION(conn, values), write=True)
        except sa.exc.IntegrityError as exc:
            raise SessionExists(f"session {sid!r} already exists") from exc
        values.pop("msg_seq")
        return SessionRecord(**values)  # type: ignore[arg-type]

    @_uncancellable
    async def get_session(self, session_id: str) -> SessionRecord:
        row = await self._tx(
            lambda conn: conn.execute(_GET_SESSION, {"id": session_id}).mappings().first()
        )
        if row is None:
            raise SessionNotFound(f"session {session_id!r} does not exist")
        return _session(row)

    @_uncancellable
    async def update_session(
        self,
        session_id: str,
        *,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        agent: str | None = None,
    ) -> SessionRecord:
        """Change the title, agent or (replace) metadata; ``None`` leaves a field as is."""
        values: dict[str, Any] = {"updated_at": _now()}
        if title is not None:
            values["title"] = title
        if metadata is not None:
            values["metadata"] = dict(metadata)
        if agent is not None:
            values["agent"] = agent
        stmt = (
            sessions.update()
            .where(sessions.c.id == session_id)
            .values(**values)
            .returning(*sessions.c)
        )
        row = await self._tx(lambda conn: conn.execute(stmt).mappings().first(), write=True)
        if row is None:
            raise SessionNotFound(f"session {session_id!r} does not exist")
        return _session(row)

    @_uncancellable
    async def delete_session(self, session_id: str) -> None:
        """Hard-delete a session with its messages, states, runs and run events."""
        stmt = sessions.delete().where(sessions.c.id == session_id)
        deleted = await self._tx(lambda conn: conn.execute(stmt).rowcount, write=True, long=True)
        if deleted == 0:
            raise SessionNotFound(f"session {session_id!r} does not exist")

    @_uncancellable
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
        n = cast(int, _check_limit(limit))
        if order not in ("created", "updated"):
            raise InvalidStoreArgument(f"unknown order {order!r}", hint="use created or updated")
        stamp = sessions.c.created_at if order == "created" else sessions.c.updated_at
        q = sa.select(sessions)
        if user_id is not None:
            q = q.where(sessions.c.user_id == user_id)
        if tenant_id is not None:
            q = q.where(sessions.c.tenant_id == tenant_id)
        if app is not None:
            q = q.where(sessions.c.app == app)
        if cursor:
            at, cid = _cursor.decode(cursor)
            q = q.where(sa.or_(stamp < at, sa.and_(stamp == at, sessions.c.id < cid)))
        q = q.order_by(stamp.desc(), sessions.c.id.desc()).limit(n + 1)
        rows = await self._tx(lambda conn: conn.execute(q).mappings().all())
        items = [_session(r) for r in rows[:n]]
        nxt: str | None = None
        if len(rows) > n:
            last = items[-1]
            nxt = _cursor.encode(
                last.created_at if order == "created" else last.updated_at, last.id
            )
        return Page(items=items, next_cursor=nxt)

    # -- messages ----------------------------------------------------------------------
    @_uncancellable
    async def append_messages(
        self, session_id: str, msgs: Sequence[Msg], *, run_id: str | None = None
    ) -> list[MessageRecord]:
        """Append complete messages at the end of the session, in the given order."""
        if not msgs:
            return []
        _check_msgs(msgs)
        try:
            return await self._tx(
                lambda conn: _append_messages(conn, session_id, msgs, run_id), write=True
            )
        except sa.exc.IntegrityError as exc:
            raise MessageIdConflict(
                "a message with one of these ids is already stored",
                hint="give every Msg a fresh id (the default), or use save_message to update",
            ) from exc

    @_uncancellable
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
        _check_msgs([msg])
        try:
            return await self._tx(
                lambda conn: _save_message(conn, session_id, msg, run_id, partial), write=True
            )
        except sa.exc.IntegrityError as exc:
            raise MessageIdConflict(
                f"message {msg.id!r} already belongs to another session"
            ) from exc

    @_uncancellable
    async def get_message(self, message_id: str) -> MessageRecord:
        stmt = sa.select(messages).where(messages.c.id == message_id)
        row = await self._tx(lambda conn: conn.execute(stmt).mappings().first())
        if row is None:
            raise MessageNotFound(f"message {message_id!r} does not exist")
        return _message(row)

    @_uncancellable
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
        n = _check_limit(limit, allow_none=True)
        lo = _cursor.decode_seq(after) if after is not None else None
        hi = _cursor.decode_seq(before) if before is not None else None
        backwards = hi is not None and lo is None
        return await self._message_page(session_id, n, lo, hi, backwards, include_partial)

    @_uncancellable
    async def latest_messages(
        self, session_id: str, *, limit: int = 50, include_partial: bool = True
    ) -> MessagePage:
        """The last ``limit`` messages, oldest first; ``before=next_cursor`` pages back."""
        n = _check_limit(limit)
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
        q = sa.select(messages).where(messages.c.session_id == session_id)
        if lo is not None:
            q = q.where(messages.c.seq > lo)
        if hi is not None:
            q = q.where(messages.c.seq < hi)
        if not include_partial:
            q = q.where(messages.c.partial.is_(False))
        q = q.order_by(messages.c.seq.desc() if backwards else messages.c.seq)
        if n is not None:
            q = q.limit(n + 1)

        def body(conn: sa.Connection) -> Sequence[RowMapping]:
            rows = conn.execute(q).mappings().all()
            if not rows:
                _require_session(conn, session_id)
            return rows

        rows = await self._tx(body)
        more = n is not None and len(rows) > n
        records = [_message(r) for r in (rows[:n] if n is not None else rows)]
        if backwards:
            records.reverse()
        nxt: str | None = None
        if more and records:
            nxt = str(records[0].seq if backwards else records[-1].seq)
        return MessagePage(items=[r.msg for r in records], next_cursor=nxt, records=records)

    # -- agent state -------------------------------------------------------------------
    @_uncancellable
    async def save_state(
        self,
        session_id: str,
        agent_name: str,
        state: Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> int:
        """Store an agent's ``state_dict()``; returns the new version (1, 2, …).

        With ``expected_version`` the write only happens if the stored version still
        matches (0 = "no state yet"), else ``StateVersionConflict``.
        """
        _check_len(agent_name, 128, "agent name")
        state = dict(state)
        try:
            return await self._tx(
                lambda conn: _save_state(conn, session_id, agent_name, state, expected_version),
                write=True,
            )
        except sa.exc.IntegrityError as exc:  # another writer created it meanwhile
            raise StateVersionConflict(
                f"state of {agent_name!r} was saved concurrently",
                hint="reload the state and apply the change again",
            ) from exc

    @_uncancellable
    async def load_state(self, session_id: str, agent_name: str) -> dict[str, Any] | None:
        """The last saved ``state_dict()`` of the agent in the session, or ``None``."""
        value = await self._tx(
            lambda conn: conn.execute(
                _LOAD_STATE, {"session_id": session_id, "agent_name": agent_name}
            ).scalar()
        )
        return dict(value) if value is not None else None

    # -- runs --------------------------------------------------------------------------
    @_uncancellable
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
    ) -> RunRecord:
        """Record a new run; ``agent``/``user_id``/``tenant_id`` default to the session's.

        ``inputs`` are appended to the session (as :meth:`append_messages` with this
        run's id) in the same transaction: a run and its user message are stored — and
        acknowledged — together, in one commit.
        """
        status = _check_status(status)
        if inputs and session_id is None:
            raise InvalidStoreArgument("inputs need a session_id to be stored in")
        _check_msgs(inputs)
        if status in FINAL_RUN_STATUSES:
            raise InvalidStoreArgument(f"a new run cannot start as {status!r}")
        rid = _check_id(run_id, "run id") if run_id else new_id("run")
        for value, what in ((agent, "agent"), (user_id, "user id"), (tenant_id, "tenant id")):
            _check_len(value, 128, what)
        _check_len(model, 256, "model")
        _check_len(owner, 128, "owner")
        now = _now()
        running = status in ("running", "waiting_approval")
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
            "created_at": now,
            "started_at": now if running else None,
            "finished_at": None,
            "owner": owner,
            "heartbeat_at": now if running else None,
        }

        def body(conn: sa.Connection) -> None:
            last = None
            if session_id is not None:
                if inputs:
                    # reserving the inputs' places also proves the session exists and
                    # reads its owner: one statement instead of a SELECT and an UPDATE
                    srow = _RESERVE_SEQ_OWNER(
                        conn, {"b_id": session_id, "b_n": len(inputs), "b_now": now}
                    ).first()
                else:
                    srow = _SESSION_OWNER(conn, {"id": session_id}).first()
                if srow is None:
                    raise SessionNotFound(f"session {session_id!r} does not exist")
                last = srow.get("msg_seq")
                for key, given in (
                    ("agent", agent),
                    ("user_id", user_id),
                    ("tenant_id", tenant_id),
                ):
                    values[key] = given if given is not None else srow[key]
            try:
                _INSERT_RUN(conn, values)
            except sa.exc.IntegrityError as exc:
                raise RunExists(f"run {rid!r} already exists") from exc
            if inputs and session_id is not None:
                _append_messages(conn, session_id, inputs, rid, last=last, now=now)

        try:
            await self._tx(body, write=True)
        except sa.exc.IntegrityError as exc:
            raise MessageIdConflict(
                "a message with one of these ids is already stored",
                hint="give every Msg a fresh id (the default)",
            ) from exc
        return RunRecord(**values)

    @_uncancellable
    async def resequence_run_messages(self, session_id: str, run_id: str) -> int:
        """Move the messages of ``run_id`` to the end of the session, in their order, if
        messages of other runs were stored after them; returns how many moved.

        A queued run's input is stored (durable) when the run is accepted, before the
        replies of the runs ahead of it; called when the run starts, this puts its input
        right before its reply in the transcript.
        """
        return await self._tx(
            lambda conn: _resequence_run_messages(conn, session_id, run_id), write=True
        )

    @_uncancellable
    async def discard_run_outputs(self, run_id: str, *, keep: Sequence[str] = ()) -> int:
        """Delete the messages of ``run_id`` but those in ``keep`` (its input); returns how
        many went. A background run that its server died in runs again from the start
        (its agent state is the one saved before it): what the first attempt had flushed
        — a partial reply, tool calls and results — would otherwise stay in the
        transcript beside the second attempt's."""
        cond = [messages.c.run_id == run_id]
        if keep:
            cond.append(messages.c.id.not_in(list(keep)))
        stmt = messages.delete().where(*cond)
        return await self._tx(lambda conn: conn.execute(stmt).rowcount, write=True)

    @_uncancellable
    async def get_run(self, run_id: str) -> RunRecord:
        row = await self._tx(lambda conn: conn.execute(_GET_RUN, {"id": run_id}).mappings().first())
        if row is None:
            raise RunNotFound(f"run {run_id!r} does not exist")
        return _run(row)

    @_uncancellable
    async def update_run(self, run_id: str, **fields: Any) -> RunRecord:
        """Set plain fields of a run (not ``status``: use :meth:`set_run_status`)."""
        unknown = set(fields) - _RUN_UPDATABLE
        if unknown:
            hint = "use set_run_status() to change the status" if "status" in unknown else None
            raise InvalidStoreArgument(
                f"cannot update run field(s) {sorted(unknown)}",
                hint=hint or f"updatable fields: {', '.join(sorted(_RUN_UPDATABLE))}",
            )
        if not fields:
            return await self.get_run(run_id)
        stmt = runs.update().where(runs.c.id == run_id).values(**fields).returning(*runs.c)
        row = await self._tx(lambda conn: conn.execute(stmt).mappings().first(), write=True)
        if row is None:
            raise RunNotFound(f"run {run_id!r} does not exist")
        return _run(row)

    @_uncancellable
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
        run = await self._tx(
            lambda conn: _set_run_status(
                conn, run_id, status, error_code, error_message, usage, model, owner
            ),
            write=True,
        )
        assert run is not None  # record=True
        return run

    @_uncancellable
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
        n = cast(int, _check_limit(limit))
        q = sa.select(runs)
        if session_id is not None:
            q = q.where(runs.c.session_id == session_id)
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            q = q.where(runs.c.status.in_([_check_status(s) for s in wanted]))
        if user_id is not None:
            q = q.where(runs.c.user_id == user_id)
        if tenant_id is not None:
            q = q.where(runs.c.tenant_id == tenant_id)
        if owner is not None:
            q = q.where(runs.c.owner == owner)
        if cursor:
            at, cid = _cursor.decode(cursor)
            q = q.where(
                sa.or_(runs.c.created_at < at, sa.and_(runs.c.created_at == at, runs.c.id < cid))
            )
        q = q.order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(n + 1)
        rows = await self._tx(lambda conn: conn.execute(q).mappings().all())
        items = [_run(r) for r in rows[:n]]
        nxt = _cursor.encode(items[-1].created_at, items[-1].id) if len(rows) > n else None
        return Page(items=items, next_cursor=nxt)

    @_uncancellable
    async def heartbeat(self, owner: str) -> int:
        """Mark every active run of ``owner`` as alive; returns how many."""
        stmt = (
            runs.update()
            .where(runs.c.owner == owner, runs.c.status.in_(("running", "waiting_approval")))
            .values(heartbeat_at=_now())
        )
        return int(await self._tx(lambda conn: conn.execute(stmt).rowcount, write=True))

    @_uncancellable
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
        now = _now()
        cond: list[sa.ColumnElement[bool]] = [runs.c.status.in_(list(statuses))]
        if run_ids is not None:
            if not run_ids:
                return []
            cond.append(runs.c.id.in_(list(run_ids)))
        if owner is not None:
            cond.append(runs.c.owner == owner)
        if older_than_heartbeat_s is not None:
            cutoff = now - timedelta(seconds=older_than_heartbeat_s)
            cond.append(
                sa.func.coalesce(runs.c.heartbeat_at, runs.c.started_at, runs.c.created_at) < cutoff
            )
        stmt = (
            runs.update()
            .where(*cond)
            .values(status="failed", error_code=code, error_message=message, finished_at=now)
            .returning(runs.c.id, runs.c.session_id)
        )

        def body(conn: sa.Connection) -> list[str]:
            failed = conn.execute(stmt).all()
            for run_id, session_id in failed:
                # the stream's end, so a client resuming with Last-Event-ID gets a terminal
                # event (and its code) instead of a stream that stops without one
                last = conn.execute(_LAST_EVENT_SEQ, {"run_id": run_id}).scalar()
                seq = (int(last) if last is not None else 0) + 1
                envelope = {
                    "seq": seq,
                    "run_id": run_id,
                    "session_id": session_id,
                    "status": "failed",
                    "code": code,
                    "message": message,
                    # events after this one were streamed but not flushed: lost
                    "lost_after": seq - 1,
                    "type": "run.failed",
                }
                _insert_events(conn, run_id, [(seq, "run.failed", envelope)], now)
            return [r[0] for r in failed]

        return sorted(await self._tx(body, write=True))

    # -- run events --------------------------------------------------------------------
    @_uncancellable
    async def append_events(self, run_id: str, events: Sequence[EventRow]) -> None:
        """Store a batch of ``(seq, type, payload)`` stream events of a run at once."""
        if not events:
            return
        try:
            await self._tx(lambda conn: _insert_events(conn, run_id, events), write=True)
        except sa.exc.IntegrityError as exc:
            raise await self._event_error(run_id, events) from exc

    async def _event_error(self, run_id: str, events: Sequence[EventRow]) -> Exception:
        """What an integrity error of a batch of events (and messages) was about."""
        try:
            await self.get_run(run_id)
        except RunNotFound as missing:
            return missing
        seqs = [e[0] for e in events]
        if not seqs or await self.last_event_seq(run_id) < min(seqs):
            return MessageIdConflict(
                "a message with this id already belongs to another session",
                hint="give every Msg a fresh id (the default)",
            )
        return EventSeqConflict(
            f"run {run_id!r} already has events with some of seq {min(seqs)}..{max(seqs)}",
            hint="resume numbering after last_event_seq()",
        )

    @_uncancellable
    async def list_events(
        self, run_id: str, *, after_seq: int = -1, limit: int | None = None
    ) -> list[EventRecord]:
        """Events of a run with ``seq > after_seq``, in order (for SSE resume)."""
        n = _check_limit(limit, allow_none=True)
        q = (
            sa.select(run_events)
            .where(run_events.c.run_id == run_id, run_events.c.seq > after_seq)
            .order_by(run_events.c.seq)
        )
        if n is not None:
            q = q.limit(n)

        def body(conn: sa.Connection) -> Sequence[RowMapping]:
            rows = conn.execute(q).mappings().all()
            if not rows:
                _require_run(conn, run_id)
            return rows

        rows = await self._tx(body)
        return [
            EventRecord(
                run_id=r["run_id"],
                seq=int(r["seq"]),
                type=r["type"],
                payload=r["payload"],
                created_at=r["created_at"],
            )
            for r in rows
        ]

    @_uncancellable
    async def last_event_seq(self, run_id: str) -> int:
        """The highest stored event ``seq`` of the run, ``-1`` when it has none."""
        value = await self._tx(
            lambda conn: conn.execute(_LAST_EVENT_SEQ, {"run_id": run_id}).scalar()
        )
        return int(value) if value is not None else -1

    @_uncancellable
    async def prune_run_events(self, *, finished_before: datetime) -> int:
        """Delete the stream events of runs that finished before ``finished_before``.

        Events are the replay log of a stream (one per token delta): worth keeping while
        clients may resume, not forever. Messages, runs and usage are kept. Returns how
        many events were deleted.
        """
        finished = sa.select(runs.c.id).where(
            runs.c.status.in_(sorted(FINAL_RUN_STATUSES)),
            runs.c.finished_at < finished_before,
        )
        stmt = run_events.delete().where(run_events.c.run_id.in_(finished))
        return int(await self._tx(lambda conn: conn.execute(stmt).rowcount, write=True, long=True))

    @_uncancellable
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
            _check_msgs([msg])
        _check_msgs(messages)
        st: tuple[str, dict[str, Any]] | None = None
        if state is not None:
            _check_len(state[0], 128, "agent name")
            st = (state[0], dict(state[1]))

        def body(conn: sa.Connection) -> RunRecord | None:
            now = _now()  # one timestamp for the whole transaction
            if events:
                _insert_events(conn, run_id, events, now)
            sid = session_id
            if sid is None and (msg is not None or messages or st is not None):
                sid = _RUN_SESSION(conn, {"id": run_id}).scalar()
                if sid is None:
                    _require_run(conn, run_id)
                    raise InvalidStoreArgument(
                        f"run {run_id!r} has no session to save the message in"
                    )
            if sid is not None:
                for done in messages:
                    _save_message(conn, sid, done, run_id, False, now=now)
                if msg is not None:
                    _save_message(conn, sid, msg, run_id, partial, new=msg_new, now=now)
                if st is not None:
                    _save_state(conn, sid, st[0], st[1], None, now)
            if status is not None:
                return _set_run_status(
                    conn,
                    run_id,
                    status,
                    error_code,
                    error_message,
                    usage,
                    model,
                    None,
                    now,
                    record,
                )
            return None

        try:
            return await self._tx(body, write=True)
        except sa.exc.IntegrityError as exc:
            raise await self._event_error(run_id, events) from exc

    # -- API keys ----------------------------------------------------------------------
    @_uncancellable
    async def create_api_key(
        self,
        name: str,
        *,
        role: ApiKeyRole,
        tenant_id: str | None = None,
        user_id: str | None = None,
    ) -> tuple[str, ApiKeyRecord]:
        """Create a key; the plaintext is returned once and only its SHA-256 is stored."""
        if role not in ("admin", "user"):
            raise InvalidStoreArgument(f"unknown API key role {role!r}", hint="use admin or user")
        if not name or len(name) > 128:
            raise InvalidStoreArgument("API key name must be 1-128 characters")
        plaintext, prefix, digest = _api_keys.generate_key()
        record = ApiKeyRecord(
            id=new_id("key"),
            name=name,
            prefix=prefix,
            role=role,
            tenant_id=tenant_id,
            user_id=user_id,
            created_at=_now(),
            revoked_at=None,
            last_used_at=None,
        )
        stmt = api_keys.insert().values(
            id=record.id,
            name=name,
            prefix=prefix,
            key_hash=digest,
            role=role,
            tenant_id=tenant_id,
            user_id=user_id,
            created_at=record.created_at,
        )
        await self._tx(lambda conn: conn.execute(stmt), write=True)
        return plaintext, record

    @_uncancellable
    async def verify_api_key(self, plaintext: str) -> ApiKeyRecord | None:
        """The active key matching ``plaintext``, or ``None`` (unknown, revoked, garbage)."""
        if not isinstance(plaintext, str) or not _api_keys.well_formed(plaintext):
            return None
        digest = _api_keys.hash_key(plaintext)
        stmt = sa.select(api_keys).where(api_keys.c.key_hash == digest)
        row = await self._tx(lambda conn: conn.execute(stmt).mappings().first())
        if row is None or not _api_keys.same_hash(row["key_hash"], digest):
            return None
        record = _api_key(row)
        if record.revoked_at is not None:
            return None
        now = _now()
        if record.last_used_at is None or now - record.last_used_at > LAST_USED_RESOLUTION:
            touch = api_keys.update().where(api_keys.c.id == record.id).values(last_used_at=now)
            await self._tx(lambda conn: conn.execute(touch), write=True)
            record = dataclasses.replace(record, last_used_at=now)
        return record

    @_uncancellable
    async def get_api_key(self, key_id: str) -> ApiKeyRecord:
        stmt = sa.select(*_API_KEY_COLUMNS).where(api_keys.c.id == key_id)
        row = await self._tx(lambda conn: conn.execute(stmt).mappings().first())
        if row is None:
            raise ApiKeyNotFound(f"API key {key_id!r} does not exist")
        return _api_key(row)

    @_uncancellable
    async def list_api_keys(
        self, *, tenant_id: str | None = None, include_revoked: bool = True
    ) -> list[ApiKeyRecord]:
        q = sa.select(*_API_KEY_COLUMNS).order_by(api_keys.c.created_at, api_keys.c.id)
        if tenant_id is not None:
            q = q.where(api_keys.c.tenant_id == tenant_id)
        if not include_revoked:
            q = q.where(api_keys.c.revoked_at.is_(None))
        rows = await self._tx(lambda conn: conn.execute(q).mappings().all())
        return [_api_key(r) for r in rows]

    @_uncancellable
    async def revoke_api_key(self, key_id: str) -> ApiKeyRecord:
        """Revoke a key (idempotent: the first revocation time is kept)."""
        revoke = (
            api_keys.update()
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=_now())
        )
        select = sa.select(*_API_KEY_COLUMNS).where(api_keys.c.id == key_id)

        def body(conn: sa.Connection) -> RowMapping | None:
            conn.execute(revoke)
            return conn.execute(select).mappings().first()

        row = await self._tx(body, write=True)
        if row is None:
            raise ApiKeyNotFound(f"API key {key_id!r} does not exist")
        return _api_key(row)

    # -- usage -------------------------------------------------------------------------
    @_uncancellable
    async def usage_summary(
        self,
        group_by: UsageGroup,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        tenant_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Token and cost totals of runs created in ``[since, until)``, per group.

        One row per (group, currency) — costs in different currencies never add up.
        Rows: ``{group_by: key, "currency", "runs", "input_tokens", "output_tokens",
        "total_tokens", "cost"}``, largest token count first.
        """
        col = _USAGE_GROUPS.get(group_by)
        if col is None:
            raise InvalidStoreArgument(
                f"cannot group usage by {group_by!r}",
                hint=f"use one of {', '.join(_USAGE_GROUPS)}",
            )
        tokens = sa.func.sum(runs.c.input_tokens + runs.c.output_tokens)
        q = sa.select(
            col.label("key"),
            runs.c.currency,
            sa.func.count().label("runs"),
            sa.func.sum(runs.c.input_tokens).label("input_tokens"),
            sa.func.sum(runs.c.output_tokens).label("output_tokens"),
            tokens.label("total_tokens"),
            sa.func.sum(runs.c.cost).label("cost"),
        ).group_by(col, runs.c.currency)
        if since is not None:
            q = q.where(runs.c.created_at >= since)
        if until is not None:
            q = q.where(runs.c.created_at < until)
        if tenant_id is not None:
            q = q.where(runs.c.tenant_id == tenant_id)
        q = q.order_by(tokens.desc(), col)
        rows = await self._tx(lambda conn: conn.execute(q).mappings().all())
        return [
            {
                group_by: r["key"],
                "currency": r["currency"],
                "runs": int(r["runs"]),
                "input_tokens": int(r["input_tokens"] or 0),
                "output_tokens": int(r["output_tokens"] or 0),
                "total_tokens": int(r["total_tokens"] or 0),
                "cost": float(r["cost"]) if r["cost"] is not None else None,
            }
            for r in rows
        ]


def _run_tx(engine: sa.Engine | None, body: Callable[[sa.Connection], R]) -> R:
    assert engine is not None
    with engine.begin() as conn:
        return body(conn)


# -- helpers shared by several public methods (each runs inside the caller's transaction)
def _unavailable(exc: BaseException) -> StoreUnavailable:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return StoreUnavailable(
        f"database unavailable: {text[:300]}",
        hint="check that the database is running and ROOST_DATABASE_URL is right",
    )


def _translate(exc: BaseException) -> BaseException:
    """Map driver errors to typed errors; IntegrityError is left to the caller."""
    if isinstance(exc, sa.exc.IntegrityError):
        return exc
    if isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError, OSError)):
        return _unavailable(exc)
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated:  # e.g. the server restarted under a pooled conn
            return _unavailable(exc)
        sqlstate = str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", ""))
        if sqlstate.startswith("22"):  # PostgreSQL "data exception": too long, NUL byte …
            text = str(exc.orig).splitlines()[0][:200]
            return InvalidStoreArgument(
                f"a value cannot be stored: {text}",
                hint="ids and names are at most 64-128 characters and must not contain NUL",
            )
        return exc
    if isinstance(exc, sa.exc.StatementError) and isinstance(exc.orig, (TypeError, ValueError)):
        return InvalidStoreArgument(
            f"a value cannot be stored: {exc.orig}",
            hint="payloads, metadata and state must be JSON-serializable",
        )
    return exc


async def _create_if_empty(store: Store, url: URL, schema: str | None) -> bool:
    """An empty database gets the head schema straight from the table definitions:
    no Alembic import, no migration replay (decision 0096). False: Alembic's turn."""
    from roost.store._migrate import create_if_empty

    return await create_if_empty(
        lambda body: store._tx(body, write=True), url, HEAD_REVISION, schema=schema
    )


async def _migrate_engine(engine: AsyncEngine, url: URL, schema: str | None) -> None:
    from roost.store._migrate import migrate  # Alembic is only needed at start-up

    await migrate(engine, url, schema=schema)


def _save_state(
    conn: sa.Connection,
    session_id: str,
    agent_name: str,
    state: dict[str, Any],
    expected_version: int | None,
    now: datetime | None = None,
) -> int:
    now = now or _now()
    params = {
        "b_session_id": session_id,
        "b_agent_name": agent_name,
        "b_state": state,
        "b_now": now,
    }
    if expected_version is None:  # one upsert, the first save of a session included
        try:
            return int(_state_upsert(conn.dialect.name)(conn, params).scalar())
        except sa.exc.IntegrityError as exc:  # the one constraint left: the session's key
            raise SessionNotFound(f"session {session_id!r} does not exist") from exc
    version = conn.execute(_UPDATE_STATE_IF, {**params, "b_version": expected_version}).scalar()
    if version is not None:
        return int(version)
    current = conn.execute(
        _LOAD_VERSION, {"session_id": session_id, "agent_name": agent_name}
    ).scalar()
    if current is not None or expected_version != 0:
        raise StateVersionConflict(
            f"state of {agent_name!r} is at version {current or 0}, not {expected_version}",
            hint="reload the state and apply the change again",
        )
    _require_session(conn, session_id)
    conn.execute(
        _INSERT_STATE,
        {
            "session_id": session_id,
            "agent_name": agent_name,
            "version": 1,
            "state": state,
            "updated_at": now,
        },
    )
    return 1


def _require_session(conn: sa.Connection, session_id: str) -> None:
    if _SESSION_EXISTS(conn, {"id": session_id}).first() is None:
        raise SessionNotFound(f"session {session_id!r} does not exist")


def _require_run(conn: sa.Connection, run_id: str) -> None:
    if _RUN_EXISTS(conn, {"id": run_id}).first() is None:
        raise RunNotFound(f"run {run_id!r} does not exist")


def _reserve_seq(
    conn: sa.Connection, session_id: str, count: int, now: datetime | None = None
) -> int:
    """Atomically reserve ``count`` message slots; returns the last one. Also locks the
    session row on PostgreSQL, so concurrent appenders are serialised."""
    params = {"b_id": session_id, "b_n": count, "b_now": now or _now()}
    last = _RESERVE_SEQ(conn, params).scalar()
    if last is None:
        raise SessionNotFound(f"session {session_id!r} does not exist")
    return int(last)


def _append_messages(
    conn: sa.Connection,
    session_id: str,
    msgs: Sequence[Msg],
    run_id: str | None,
    *,
    last: int | None = None,
    now: datetime | None = None,
) -> list[MessageRecord]:
    """Insert ``msgs`` at the end of the session (``last``: their places, already
    reserved by the caller)."""
    now = now or _now()
    if last is None:
        last = _reserve_seq(conn, session_id, len(msgs), now)
    first = last - len(msgs) + 1
    rows = [
        {
            "id": m.id,
            "session_id": session_id,
            "run_id": run_id,
            "seq": first + i,
            "role": m.role,
            "name": m.name,
            "content": _msg_json(m),
            "partial": False,
            "created_at": now,
        }
        for i, m in enumerate(msgs)
    ]
    _INSERT_MESSAGE(conn, rows)
    return [
        MessageRecord(
            msg=m,
            session_id=session_id,
            seq=first + i,
            run_id=run_id,
            partial=False,
            created_at=now,
        )
        for i, m in enumerate(msgs)
    ]


def _resequence_run_messages(conn: sa.Connection, session_id: str, run_id: str) -> int:
    in_session = messages.c.session_id == session_id
    mine = conn.execute(
        sa.select(messages.c.id, messages.c.seq)
        .where(in_session, messages.c.run_id == run_id)
        .order_by(messages.c.seq)
    ).all()
    if not mine:
        return 0
    others_after = conn.execute(
        sa.select(messages.c.id)
        .where(
            in_session,
            messages.c.seq > mine[0].seq,
            sa.or_(messages.c.run_id.is_(None), messages.c.run_id != run_id),
        )
        .limit(1)
    ).first()
    if others_after is None:
        return 0
    first = _reserve_seq(conn, session_id, len(mine)) - len(mine) + 1
    conn.execute(
        messages.update()
        .where(messages.c.id == sa.bindparam("b_id"))
        .values(seq=sa.bindparam("b_seq", type_=messages.c.seq.type)),
        [{"b_id": m.id, "b_seq": first + i} for i, m in enumerate(mine)],
    )
    return len(mine)


def _save_message(
    conn: sa.Connection,
    session_id: str,
    msg: Msg,
    run_id: str | None,
    partial: bool,
    *,
    new: bool = False,
    now: datetime | None = None,
) -> MessageRecord:
    """Insert ``msg`` at the end of the session or update it in its place. ``new``: it
    is most likely not stored yet, so try the insert first (``ON CONFLICT (id) DO
    NOTHING``; the place reserved for it stays unused when it existed after all)."""
    content = _msg_json(msg)
    now = now or _now()

    def insert(if_new: bool) -> MessageRecord | None:
        seq = _reserve_seq(conn, session_id, 1, now)
        row = {
            "id": msg.id,
            "session_id": session_id,
            "run_id": run_id,
            "seq": seq,
            "role": msg.role,
            "name": msg.name,
            "content": content,
            "partial": partial,
            "created_at": now,
        }
        if not if_new:
            _INSERT_MESSAGE(conn, row)
        elif _insert_message_if_new(conn.dialect.name)(conn, row).first() is None:
            return None  # stored already: updated below
        return MessageRecord(
            msg=msg, session_id=session_id, seq=seq, run_id=run_id, partial=partial, created_at=now
        )

    if new and (added := insert(if_new=True)) is not None:
        return added
    row = _UPDATE_MESSAGE(
        conn,
        {
            "b_id": msg.id,
            "b_session_id": session_id,
            "b_role": msg.role,
            "b_name": msg.name,
            "b_content": content,
            "b_partial": partial,
            "b_run_id": run_id,
        },
    ).first()
    if row is not None:
        return MessageRecord(
            msg=msg,
            session_id=session_id,
            seq=int(row["seq"]),
            run_id=row["run_id"],
            partial=partial,
            created_at=row["created_at"],
        )
    added = insert(if_new=False)
    assert added is not None
    return added


def _insert_events(
    conn: sa.Connection, run_id: str, events: Sequence[EventRow], now: datetime | None = None
) -> None:
    for _, type_, _ in events:
        _check_len(type_, 64, "event type")
    now = now or _now()
    rows = [
        {
            "run_id": run_id,
            "seq": seq,
            "type": type_,
            # the event's wire JSON, written as it is (not decoded and encoded again)
            "payload": payload if isinstance(payload, JSONText) else dict(payload),
            "created_at": now,
        }
        for seq, type_, payload in events
    ]
    _INSERT_EVENTS(conn, rows)


_KEEP_STARTED = "started_at_if_unset"
_INSERT_MESSAGE_IF_NEW: dict[str, Statement] = {}


def _upsert_insert(dialect: str, table: sa.Table) -> Any:
    """The dialect's own ``INSERT`` of ``table``, which has ``ON CONFLICT`` clauses."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def _insert_message_if_new(dialect: str) -> Statement:
    """``INSERT … ON CONFLICT (id) DO NOTHING RETURNING id`` of a message: no row back
    when a message with that id is stored already."""
    stmt = _INSERT_MESSAGE_IF_NEW.get(dialect)
    if stmt is None:
        ins = _upsert_insert(dialect, messages)
        stmt = _INSERT_MESSAGE_IF_NEW[dialect] = Statement(
            ins.on_conflict_do_nothing(index_elements=[messages.c.id]).returning(messages.c.id)
        )
    return stmt


_RUN_STATUS_STMTS: dict[tuple[str, ...], Statement] = {}
_STATE_UPSERTS: dict[str, Statement] = {}


def _state_upsert(dialect: str) -> Statement:
    """``INSERT … ON CONFLICT DO UPDATE`` of an agent state, version 1 or +1: one
    statement where update-else-insert took three on a session's first save."""
    stmt = _STATE_UPSERTS.get(dialect)
    if stmt is None:
        ins = _upsert_insert(dialect, agent_states).values(
            session_id=sa.bindparam("b_session_id"),
            agent_name=sa.bindparam("b_agent_name"),
            version=1,
            state=sa.bindparam("b_state", type_=agent_states.c.state.type),
            updated_at=sa.bindparam("b_now", type_=agent_states.c.updated_at.type),
        )
        stmt = _STATE_UPSERTS[dialect] = Statement(
            ins.on_conflict_do_update(
                index_elements=[agent_states.c.session_id, agent_states.c.agent_name],
                set_={
                    "version": agent_states.c.version + 1,
                    "state": ins.excluded.state,
                    "updated_at": ins.excluded.updated_at,
                },
            ).returning(agent_states.c.version)
        )
    return stmt


def _run_status_stmt(keys: tuple[str, ...], record: bool = True) -> Statement:
    """The run-status UPDATE for this set of changed columns, built once per shape (a
    handful exist) so the hot path skips statement construction and cache-key work.
    ``record``: return the whole row, else only its id (reading a row back costs more
    than the update)."""
    stmt = _RUN_STATUS_STMTS.get((*keys, str(record)))
    if stmt is None:
        values: dict[str, Any] = {}
        for key in keys:
            if key == _KEEP_STARTED:
                now = sa.bindparam(f"b_{key}", type_=runs.c.started_at.type)
                values["started_at"] = sa.func.coalesce(runs.c.started_at, now)
            else:
                values[key] = sa.bindparam(f"b_{key}", type_=runs.c[key].type)
        # OR of equalities, not IN: an IN list is an "expanding" parameter, which a
        # precompiled Statement cannot take
        active = sa.or_(*(runs.c.status == s for s in sorted(ACTIVE_RUN_STATUSES)))
        stmt = _RUN_STATUS_STMTS[(*keys, str(record))] = Statement(
            runs.update()
            .where(runs.c.id == sa.bindparam("b_id"), active)
            .values(**values)
            .returning(*(runs.c if record else [runs.c.id]))
        )
    return stmt


def _set_run_status(
    conn: sa.Connection,
    run_id: str,
    status: str,
    error_code: str | None,
    error_message: str | None,
    usage: Usage | None,
    model: str | None,
    owner: str | None,
    now: datetime | None = None,
    record: bool = True,
) -> RunRecord | None:
    """Set the status (and what comes with it); the updated run, or None when
    ``record`` is False. Raises ``RunFinished`` for a run already finished."""
    status = _check_status(status)
    _check_len(error_code, 64, "error code")
    _check_len(model, 256, "model")
    if usage is not None:
        _check_len(usage.currency, 8, "currency")
    now = now or _now()
    values: dict[str, Any] = {"status": status}
    if status in ("running", "waiting_approval"):
        values[_KEEP_STARTED] = now
        values["heartbeat_at"] = now
    if status in FINAL_RUN_STATUSES:
        values["finished_at"] = now
    if status == "queued":
        values["started_at"] = None
    if error_code is not None:
        values["error_code"] = error_code
    if error_message is not None:
        values["error_message"] = error_message
    if usage is not None:
        values["input_tokens"] = usage.input_tokens
        values["output_tokens"] = usage.output_tokens
        values["cost"] = usage.cost
        values["currency"] = usage.currency
    if model is not None:
        values["model"] = model
    if owner is not None:
        values["owner"] = owner
    stmt = _run_status_stmt(tuple(values), record)
    params = {f"b_{k}": v for k, v in values.items()}
    params["b_id"] = run_id
    row = stmt(conn, params).first()
    if row is not None:
        return _run(row) if record else None
    current = (conn.execute(sa.select(runs.c.status).where(runs.c.id == run_id))).scalar()
    if current is None:
        raise RunNotFound(f"run {run_id!r} does not exist")
    raise RunFinished(
        f"run {run_id!r} already finished as {current!r}; cannot set {status!r}",
        current_status=current,
    )
