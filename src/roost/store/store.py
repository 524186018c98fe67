"""``Store``: the async persistence facade (sessions, messages, state, runs, events, keys,
usage, sandbox bindings, spans).

Every public method is one database transaction (a few are a short series) and returns
frozen records from :mod:`roost.store.records`, never ORM objects. The operations live
in one module per aggregate, written once in literal SQL; a backend runs them
(:mod:`roost.store.backend`), and ``tests/store`` passes on every backend.

Typical use by the server::

    store = await Store.open()                       # creates or migrates (idempotent)
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

from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Self
from urllib.parse import parse_qs, unquote

from roost.core.settings import get_settings
from roost.store import _migrate
from roost.store.api_keys import ApiKeys
from roost.store.backend import StoreBackend
from roost.store.backends.sqlite import SqliteBackend
from roost.store.bindings import SandboxBindings
from roost.store.errors import InvalidStoreArgument
from roost.store.events import EventRow as EventRow
from roost.store.events import Events
from roost.store.messages import Messages
from roost.store.runs import Runs
from roost.store.sealing import ContentSealer
from roost.store.secrets import Secrets
from roost.store.sessions import Sessions
from roost.store.states import States
from roost.store.tenants import Tenants
from roost.store.traces import Spans
from roost.store.usage import UsageTotals

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

HEAD_REVISION = "0008_govdata"
"""The newest packaged migration; tests/store/test_migrations.py keeps it in sync."""

BackendChoice = Literal["auto", "sqlite3", "sqlalchemy"]


class Store(
    Sessions, Messages, States, Runs, Events, ApiKeys, Tenants, UsageTotals, Spans, Secrets
):
    """Async persistence facade over one :class:`~roost.store.backend.StoreBackend`."""

    def __init__(self, backend: StoreBackend, url: str, *, schema: str | None = None) -> None:
        self._backend = backend
        self._url = url
        self._schema = schema
        self.sandbox_bindings = SandboxBindings(backend)
        """The ``roost.sandbox.SandboxBindingStore`` of this database."""

    # -- lifecycle ---------------------------------------------------------------------
    @classmethod
    async def open(
        cls,
        url: str | None = None,
        *,
        migrate: bool = True,
        schema: str | None = None,
        echo: bool = False,
        backend: BackendChoice = "auto",
    ) -> Store:
        """Connect to ``url`` (default: ``ROOST_DATABASE_URL`` or the SQLite file under
        ``ROOST_HOME``) and bring the schema to the latest revision.

        SQLite runs on the standard ``sqlite3`` driver; ``backend="sqlalchemy"`` runs it
        through SQLAlchemy (aiosqlite) instead. PostgreSQL always runs on SQLAlchemy
        (asyncpg). ``schema`` (PostgreSQL only; also ``?schema=name`` in the URL) keeps
        Roost's tables in their own schema, created on first use: several Roost installs
        (or test runs) can share one database.
        """
        if url is None:
            settings = get_settings()
            if not settings.database_url:
                settings.ensure_home()
            url = settings.resolved_database_url
        store = cls._connect(url, schema=schema, echo=echo, backend=backend)
        try:
            if migrate and not await store._at_head():
                chosen = store._backend
                if not await _migrate.create_if_empty(chosen, HEAD_REVISION, schema=store.schema):
                    await _migrate.migrate(chosen)
            else:
                await store.ping()
        except BaseException:
            await store.close()
            raise
        return store

    @classmethod
    def _connect(cls, url: str, *, schema: str | None, echo: bool, backend: BackendChoice) -> Store:
        sqlite = _sqlite_target(url)
        if sqlite is not None and backend != "sqlalchemy":
            path, query = sqlite
            if schema is not None or "schema" in query:
                raise _schema_on_sqlite()
            shown = f"sqlite:///{path}" if path is not None else "sqlite://"
            return cls(SqliteBackend(path, echo=echo), shown)
        if backend == "sqlite3":
            raise InvalidStoreArgument(
                "backend='sqlite3' needs a SQLite URL", hint="use sqlite:///path/to/roost.db"
            )
        from roost.store.backends.sqlalchemy import SqlAlchemyBackend, parse_url

        parsed = parse_url(url)
        if "schema" in parsed.query:  # ...?schema=roost: one env var is enough to deploy
            given = parsed.query["schema"]
            parsed = parsed.difference_update_query(["schema"])
            if schema is None:
                schema = given if isinstance(given, str) else given[0]
        if schema is not None and parsed.get_backend_name() != "postgresql":
            raise _schema_on_sqlite()
        chosen = SqlAlchemyBackend(parsed, schema=schema, echo=echo)
        return cls(chosen, parsed.render_as_string(hide_password=True), schema=schema)

    async def close(self) -> None:
        """Close every connection; the store cannot be used afterwards."""
        await self._backend.close()

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
        """A SQLAlchemy async engine on the same database, for code that needs one (the
        trace exporter's own thread, tests); the store itself does not use it on SQLite."""
        return self._backend.engine

    @property
    def sealer(self) -> ContentSealer | None:
        """What seals content columns at rest (:mod:`roost.store.sealing`); None: clear."""
        return self._sealer  # type: ignore[no-any-return]

    @sealer.setter
    def sealer(self, sealer: ContentSealer | None) -> None:
        self._sealer = sealer

    @property
    def backend(self) -> StoreBackend:
        """What runs this store's transactions (:mod:`roost.store.backend`)."""
        return self._backend

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._backend.dialect

    @property
    def schema(self) -> str | None:
        """The PostgreSQL schema holding Roost's tables (``None``: the default path)."""
        return self._schema

    @property
    def url(self) -> str:
        """The database URL with the password hidden (safe to log)."""
        return self._url

    async def ping(self) -> None:
        """Round-trip to the database; raises ``StoreUnavailable`` when it is down."""
        await self._backend.read(lambda tx: tx.rows("SELECT 1 AS one"))

    async def _at_head(self) -> bool:
        """One plain query: is the schema already at the packaged head revision? Lets a
        restart skip SQLAlchemy's schema module and Alembic (≈1 s and +15 MB)."""
        try:
            found = await self._backend.read(
                lambda tx: tx.rows("SELECT version_num FROM alembic_version")
            )
        except Exception:
            return False
        return [r["version_num"] for r in found] == [HEAD_REVISION]

    async def schema_revision(self) -> set[str]:
        """The Alembic revisions the database is at (compare with ``head_revisions()``)."""
        return await self._backend.read(_migrate.current_revisions)

    @staticmethod
    def head_revisions() -> set[str]:
        """The revisions this Roost's migrations lead to."""
        return _migrate.head_revisions()


def _schema_on_sqlite() -> InvalidStoreArgument:
    return InvalidStoreArgument(
        "schema= is only supported on PostgreSQL",
        hint="SQLite keeps one database per file; use another file instead",
    )


def _sqlite_target(url: str) -> tuple[Path | None, dict[str, list[str]]] | None:
    """``(file, query)`` of a SQLite URL (``None`` for the file: in memory), or None for
    another database. Parsed here so a SQLite store never imports SQLAlchemy."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.partition("+")[0] != "sqlite":
        return None
    rest, _, query = rest.partition("?")
    database = unquote(rest[1:]) if rest.startswith("/") else unquote(rest)
    path = None if database in ("", ":memory:") else Path(database)
    return path, parse_qs(query)
