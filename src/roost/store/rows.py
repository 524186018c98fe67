"""Rows as records, and the checks every backend applies before writing.

Rows arrive with their driver's values: SQLite gives timestamps and JSON as text,
asyncpg gives ``datetime`` and decoded JSON (SQLAlchemy installs its JSON codec). The
readers here accept both, so one mapping serves every backend.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from roost.core.msg import Msg
from roost.store.backend import Row
from roost.store.errors import InvalidStoreArgument
from roost.store.records import (
    RUN_STATUSES,
    ApiKeyRecord,
    EventRecord,
    MessageRecord,
    QuotaRecord,
    RunRecord,
    RunStatus,
    SessionRecord,
    TenantRecord,
)

MAX_PAGE = 10_000
_ID_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


def now() -> datetime:
    return datetime.now(UTC)


def stamp(value: Any) -> datetime | None:
    """A stored timestamp as an aware UTC ``datetime``."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
    return value.astimezone(UTC)  # type: ignore[no-any-return]


def created(value: Any) -> datetime:
    """A timestamp of a NOT NULL column."""
    at = stamp(value)
    assert at is not None
    return at


def document(value: Any) -> Any:
    """A stored JSON value, decoded."""
    return json.loads(value) if isinstance(value, str) else value


def session(row: Row) -> SessionRecord:
    values: dict[str, Any] = {**row, "metadata": dict(document(row["metadata"]) or {})}
    values.update(created_at=created(row["created_at"]), updated_at=created(row["updated_at"]))
    return SessionRecord(**values)


def message(row: Row) -> MessageRecord:
    content = row["content"]
    return MessageRecord(
        msg=Msg.model_validate_json(content)
        if isinstance(content, str)
        else Msg.model_validate(content),
        session_id=row["session_id"],
        seq=int(row["seq"]),
        run_id=row["run_id"],
        partial=bool(row["partial"]),
        created_at=created(row["created_at"]),
    )


def run(row: Row) -> RunRecord:
    values: dict[str, Any] = {**row, "metadata": dict(document(row["metadata"]) or {})}
    values.update(
        input_tokens=int(row["input_tokens"]),
        output_tokens=int(row["output_tokens"]),
        created_at=created(row["created_at"]),
        started_at=stamp(row["started_at"]),
        finished_at=stamp(row["finished_at"]),
        heartbeat_at=stamp(row["heartbeat_at"]),
    )
    return RunRecord(**values)


def event(row: Row) -> EventRecord:
    return EventRecord(
        run_id=row["run_id"],
        seq=int(row["seq"]),
        type=row["type"],
        payload=document(row["payload"]),
        created_at=created(row["created_at"]),
    )


def api_key(row: Row) -> ApiKeyRecord:
    values: dict[str, Any] = {k: row[k] for k in ApiKeyRecord.__dataclass_fields__}
    values.update(
        created_at=created(row["created_at"]),
        revoked_at=stamp(row["revoked_at"]),
        last_used_at=stamp(row["last_used_at"]),
        expires_at=stamp(row["expires_at"]),
    )
    return ApiKeyRecord(**values)


def tenant(row: Row) -> TenantRecord:
    return TenantRecord(
        id=row["id"],
        name=row["name"],
        metadata=dict(document(row["metadata"]) or {}),
        created_at=created(row["created_at"]),
        disabled_at=stamp(row["disabled_at"]),
    )


def quota(row: Row) -> QuotaRecord:
    return QuotaRecord(
        tenant_id=row["tenant_id"],
        user_id=row["user_id"],
        limits=dict(document(row["limits"]) or {}),
        updated_at=created(row["updated_at"]),
    )


# -- checks: the same limits on every dialect (SQLite would store anything) -------------
def check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise InvalidStoreArgument(
            f"invalid {what} {str(value)[:80]!r}",
            hint="ids are 1-64 characters from A-Z a-z 0-9 _ . : -",
        )
    return value


def check_len(value: str | None, limit: int, what: str) -> None:
    if value is not None and len(value) > limit:
        raise InvalidStoreArgument(
            f"{what} is {len(value)} characters long; the limit is {limit}",
            hint=f"shorten the {what}",
        )


def check_msgs(msgs: Sequence[Msg]) -> None:
    for m in msgs:
        check_len(m.id, 64, "message id")
        check_len(m.name, 128, "message name")


def check_limit(limit: int | None, *, allow_none: bool = False) -> int | None:
    if limit is None:
        if allow_none:
            return None
        raise InvalidStoreArgument("limit is required")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
        raise InvalidStoreArgument(f"limit must be an integer from 1 to {MAX_PAGE}, got {limit!r}")
    return limit


def check_status(status: str) -> RunStatus:
    if status not in RUN_STATUSES:
        raise InvalidStoreArgument(
            f"unknown run status {status!r}", hint=f"use one of {', '.join(RUN_STATUSES)}"
        )
    return status
