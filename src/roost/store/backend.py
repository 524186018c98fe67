"""The seam between the store's operations and a database driver (decision 0120).

Every store operation is written once, as a synchronous *transaction body*: a function
of a :class:`Tx` that runs literal SQL (:mod:`roost.store.statements`) and returns plain
values. A :class:`StoreBackend` runs bodies — as httpx's transports run requests — and
is chosen by ``Store.open`` from the URL:

- :class:`~roost.store.backends.sqlite.SqliteBackend`: the standard ``sqlite3`` driver,
  one writer thread committing what is queued together, a pool of reader threads. The
  default for SQLite.
- :class:`~roost.store.backends.sqlalchemy.SqlAlchemyBackend`: SQLAlchemy's async engine
  (asyncpg for PostgreSQL; aiosqlite for SQLite when asked for with
  ``backend="sqlalchemy"``).

Both run the same SQL, so ``tests/store`` is the contract every backend passes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

R = TypeVar("R")
Params = Mapping[str, Any] | None
Row = Mapping[str, Any]
Dialect = Literal["sqlite", "postgresql"]


class Integrity(Exception):
    """A constraint refused a statement (unique or foreign key, check): the operation
    that ran it turns it into its own typed error (``SessionExists``, ...)."""


class Tx(Protocol):
    """One open transaction. Parameters are ``:name`` placeholders; values are plain
    Python (``datetime``, ``dict``/``list``/``JSONText`` for JSON columns, ...), which the
    backend encodes for its driver. Rows come back with the driver's values, which
    :mod:`roost.store.rows` turns into records."""

    dialect: Dialect

    def rows(self, sql: str, params: Params = None) -> list[Row]:
        """Every row of a ``SELECT`` (or ``... RETURNING``)."""
        ...

    def run(self, sql: str, params: Params = None) -> int:
        """Execute a statement; the number of rows it changed."""
        ...

    def many(self, sql: str, params: Sequence[Mapping[str, Any]]) -> None:
        """Execute a statement once per parameter set."""
        ...


Body = Callable[[Tx], R]


def one(tx: Tx, sql: str, params: Params = None) -> Row | None:
    """The first row, or None."""
    found = tx.rows(sql, params)
    return found[0] if found else None


def scalar(tx: Tx, sql: str, params: Params = None) -> Any:
    """The first column of the first row, or None."""
    found = tx.rows(sql, params)
    return next(iter(found[0].values())) if found else None


def in_list(name: str, values: Sequence[Any], params: dict[str, Any]) -> str:
    """``(:name_0, :name_1, ...)`` for an ``IN`` list, adding the values to ``params``."""
    keys = [f"{name}_{i}" for i in range(len(values))]
    params.update(zip(keys, values, strict=True))
    return "(" + ", ".join(f":{key}" for key in keys) + ")"


class StoreBackend(Protocol):
    """How a :class:`~roost.store.Store` reaches its database.

    ``read`` and ``write`` run a body as one transaction (commit on return, roll back
    on error) and map driver errors to store errors: :class:`Integrity` inside the body,
    ``StoreUnavailable`` and ``InvalidStoreArgument`` out of it. A caller cancelled while
    its transaction runs gets its ``CancelledError`` only once the transaction ended, so
    no connection is left mid-transaction (decision 0056).
    """

    dialect: Dialect

    async def read(self, body: Body[R]) -> R: ...

    async def write(self, body: Body[R]) -> R: ...

    def migration_lock(self) -> AbstractAsyncContextManager[None]:
        """Held while the schema is created or migrated (across processes)."""
        ...

    async def upgrade(self, target: str) -> None:
        """Bring the schema to ``target`` with Alembic (already under the lock)."""
        ...

    @property
    def engine(self) -> AsyncEngine:
        """A SQLAlchemy engine on the same database, for code that needs one."""
        ...

    async def close(self) -> None: ...


class Part:
    """A part of :class:`~roost.store.Store` (one aggregate's operations): the backend it
    runs its transactions on."""

    _backend: StoreBackend
    _sealer: Any = None
    """The ``roost.store.sealing.ContentSealer`` of content columns (None: clear text)."""
