"""Hot-path statements that run on the raw pysqlite cursor inside SQLAlchemy's transaction.

A persisted streamed run writes ~15 statements. Through ``Connection.execute`` each costs
~45 µs of SQLAlchemy bookkeeping (execution context, cache key, result metadata) around
~7 µs of SQLite work, and that bookkeeping was most of the writer thread's CPU
(docs/decisions/0100). A :class:`Statement` compiles its Core statement once per set of
parameter keys with SQLAlchemy's own compiler, and keeps SQLAlchemy's own bind and
result processors — so values are encoded exactly as ``Connection.execute`` would
(JSON text, naive-UTC timestamps, 0/1 booleans) — then on a pysqlite connection calls
the driver directly. Every other connection (PostgreSQL, aiosqlite) takes the normal
``Connection.execute`` path, so the same transaction bodies serve both backends.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

from roost.store.schema import UTCDateTime

Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
_MISSING: Any = object()


_last_stamp: list[tuple[Any, str]] = [(None, "")]


def _sqlite_utc_text(value: datetime | None) -> str | None:
    """``UTCDateTime`` on SQLite, as SQLAlchemy writes it (naive UTC,
    ``YYYY-MM-DD HH:MM:SS.ffffff``) without its chain of processors.

    A transaction binds the same ``now`` several times (created, updated, started,
    heartbeat): the last value's text is kept and given again for the same object."""
    if value is None:
        return None
    last = _last_stamp[0]  # one (value, text) pair: the loop and the writer thread share it
    if value is last[0]:
        return last[1]
    text = value
    if value.tzinfo is not None:
        text = value.astimezone(UTC).replace(tzinfo=None)
    out = text.isoformat(" ", "microseconds")
    _last_stamp[0] = (value, out)
    return out


def _sqlite_utc_datetime(value: str | None) -> datetime | None:
    """The aware UTC datetime SQLAlchemy would read back from that text."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class Rows:
    """The rows a statement returned, as plain dicts (or its row count)."""

    __slots__ = ("_keys", "_rows", "rowcount")

    def __init__(self, keys: Sequence[str], rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self._keys = keys
        self._rows = rows
        self.rowcount = rowcount

    def first(self) -> dict[str, Any] | None:
        return dict(zip(self._keys, self._rows[0], strict=True)) if self._rows else None

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None


class _Plan:
    """One compiled form: SQL text, positional binds with their processors, result
    columns with theirs."""

    __slots__ = ("binds", "keys", "processed", "results", "row", "sql")

    def __init__(self, compiled: SQLCompiler, dialect: Dialect) -> None:
        if compiled.post_compile_params or compiled.literal_execute_params:
            raise ValueError("expanding (IN list) parameters cannot be precompiled")
        self.sql = compiled.string
        processors = dict(cast(dict[str, Callable[[Any], Any]], compiled._bind_processors))
        if dialect.name == "sqlite":  # timestamps: the same text, a quarter of the calls
            for name, bind in compiled.binds.items():
                if isinstance(bind.type, UTCDateTime) and name in processors:
                    processors[name] = _sqlite_utc_text
        fixed = compiled.construct_params(_check=False)
        self.binds: tuple[tuple[str, Callable[[Any], Any] | None, Any], ...] = tuple(
            (
                name,
                processors.get(name),
                _MISSING if compiled.binds[name].required else fixed.get(name),
            )
            for name in compiled.positiontup or ()
        )
        self.row = _row_builder(self.binds)
        """``params -> tuple`` of bind values in position order, processed as SQLAlchemy
        processes them (None too); a missing required value raises ``KeyError``."""
        self.keys = tuple(col.keyname for col in compiled._result_columns)
        self.results: tuple[Callable[[Any], Any] | None, ...] = tuple(
            _sqlite_utc_datetime
            if dialect.name == "sqlite" and isinstance(col.type, UTCDateTime)
            else col.type._cached_result_processor(dialect, None)
            for col in compiled._result_columns
        )
        self.processed = any(self.results)


def _row_builder(
    binds: Sequence[tuple[str, Callable[[Any], Any] | None, Any]],
) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A function made for one plan that builds its bind tuple in one expression.

    It does only the calls each parameter needs, where a loop over the binds did a
    ``get``, a test and a call per parameter: 2.9 instead of 5.0 µs for the 20-column
    run insert on the 2026-12-01 machine."""
    namespace: dict[str, Any] = {}
    parts = []
    for i, (name, proc, fixed) in enumerate(binds):
        key = f"k{i}"
        namespace[key] = name
        if fixed is _MISSING:
            value = f"p[{key}]"
        else:
            namespace[f"d{i}"] = fixed
            value = f"p.get({key}, d{i})"
        if proc is not None:
            namespace[f"f{i}"] = proc
            value = f"f{i}({value})"
        parts.append(value)
    source = f"def row(p):\n    return ({', '.join(parts)}{',' if parts else ''})\n"
    exec(source, namespace)  # names and values come from the compiled statement only
    return cast(Callable[[Mapping[str, Any]], tuple[Any, ...]], namespace["row"])


class Statement:
    """A Core statement built once at import; call it with a connection and parameters."""

    __slots__ = ("_plans", "sa")

    def __init__(self, stmt: sa.Insert | sa.Update | sa.Delete | sa.Select[Any]) -> None:
        self.sa = stmt
        self._plans: dict[tuple[str, ...], _Plan] = {}

    def __call__(self, conn: sa.Connection, params: Params = None) -> Rows:
        raw: Any = conn.connection.dbapi_connection
        if type(raw) is not sqlite3.Connection:
            return _through_sqlalchemy(conn, self.sa, params)
        many: Sequence[Mapping[str, Any]] | None = None
        one: Mapping[str, Any] = {}
        if type(params) is dict or isinstance(params, Mapping):  # dict first: no ABC check
            one = params
        elif params:
            many = params
            one = params[0]
        plan = self._plans.get(tuple(one))
        if plan is None:
            compiled = self.sa.compile(dialect=conn.dialect, column_keys=list(one))
            plan = self._plans[tuple(one)] = _Plan(compiled, conn.dialect)
        row = plan.row
        try:
            args = [row(p) for p in many] if many is not None else row(one)
        except KeyError as exc:
            err = sa.exc.InvalidRequestError(
                f"a value is required for bind parameter {exc.args[0]!r}"
            )
            raise sa.exc.StatementError(str(err), plan.sql, None, err) from None
        except (TypeError, ValueError, sa.exc.InvalidRequestError) as exc:  # as SQLAlchemy
            raise sa.exc.StatementError(str(exc), plan.sql, None, exc) from exc
        try:
            if many is not None:
                return Rows((), [], raw.executemany(plan.sql, args).rowcount)
            cursor = raw.execute(plan.sql, args)  # a cursor of its own, dropped after
            if not plan.keys:
                return Rows((), [], cursor.rowcount)
            rows = cursor.fetchall()
            if rows and plan.processed:
                rows = [
                    tuple(
                        proc(v) if proc is not None else v
                        for proc, v in zip(plan.results, row, strict=True)
                    )
                    for row in rows
                ]
            return Rows(plan.keys, rows, cursor.rowcount)
        except sqlite3.Error as exc:
            # The error SQLAlchemy would raise (IntegrityError, OperationalError, …), so
            # callers and Store._tx translate it the same way on both paths.
            raise sa.exc.DBAPIError.instance(
                plan.sql, None, exc, sqlite3.Error, dialect=conn.dialect
            ) from exc


def _through_sqlalchemy(conn: sa.Connection, stmt: sa.Executable, params: Params) -> Rows:
    result = conn.execute(stmt, params)  # type: ignore[arg-type]
    if not result.returns_rows:
        return Rows((), [], result.rowcount)
    return Rows(tuple(result.keys()), [tuple(r) for r in result.all()], result.rowcount)
