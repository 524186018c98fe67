"""Reading the trail: a filtered page of live records (the API, ``roost audit search``),
and an export that spans the archive segments and the live table (``roost audit
export``, ``GET /v1/audit?format=jsonl``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from roost.govern.audit import archive as _archive
from roost.govern.audit.entry import COLUMNS, AuditRecord
from roost.govern.audit.errors import AuditQueryInvalid

if TYPE_CHECKING:
    from roost.govern.audit.archive import ArchiveTarget
    from roost.store import Store

MAX_PAGE = 1000
_EXPORT_PAGE = 10_000
_FILTERS = (
    "tenant_id",
    "user_id",
    "key_id",
    "action",
    "resource_type",
    "resource_id",
    "outcome",
    "run_id",
    "session_id",
    "message_id",
)


@dataclass(frozen=True)
class AuditQuery:
    """Filters (all optional, combined with AND); times in epoch microseconds, ``until``
    exclusive; ``action`` ending in ``.*`` matches a prefix (``run.*``)."""

    tenant_id: str | None = None
    user_id: str | None = None
    key_id: str | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    outcome: str | None = None
    run_id: str | None = None
    session_id: str | None = None
    message_id: str | None = None
    since_us: int | None = None
    until_us: int | None = None

    def where(self, params: dict[str, Any]) -> str:
        clauses = []
        for name in _FILTERS:
            value = getattr(self, name)
            if value is None:
                continue
            if name == "action" and value.endswith(".*"):
                clauses.append("action LIKE :action_prefix")
                params["action_prefix"] = value[:-1].replace("%", "").replace("_", "\\_") + "%"
                clauses[-1] += " ESCAPE '\\'"
                continue
            clauses.append(f"{name} = :{name}")
            params[name] = value
        if self.since_us is not None:
            clauses.append("at_us >= :since_us")
            params["since_us"] = self.since_us
        if self.until_us is not None:
            clauses.append("at_us < :until_us")
            params["until_us"] = self.until_us
        return " AND ".join(clauses) or "1 = 1"

    def matches(self, rec: AuditRecord) -> bool:
        for name in _FILTERS:
            value = getattr(self, name)
            if value is None:
                continue
            have = getattr(rec, name)
            if name == "action" and value.endswith(".*"):
                if not str(have).startswith(value[:-1]):
                    return False
            elif have != value:
                return False
        if self.since_us is not None and rec.at_us < self.since_us:
            return False
        return not (self.until_us is not None and rec.at_us >= self.until_us)


async def search(
    store: Store, query: AuditQuery, *, before: int | None = None, limit: int = 100
) -> tuple[list[AuditRecord], int | None]:
    """Live records, newest first, and the cursor of the next page (``before``)."""
    if not 1 <= limit <= MAX_PAGE:
        raise AuditQueryInvalid(f"limit must be 1..{MAX_PAGE}")
    params: dict[str, Any] = {}
    where = query.where(params)
    if before is not None:
        where += " AND seq < :before"
        params["before"] = before
    sql = (
        f"SELECT {', '.join(COLUMNS)} FROM audit_records WHERE {where}"
        f" ORDER BY seq DESC LIMIT {limit + 1}"
    )
    rows = await store.backend.read(lambda tx: tx.rows(sql, params))
    records = [AuditRecord.from_row(r) for r in rows[:limit]]
    cursor = records[-1].seq if len(rows) > limit else None
    return records, cursor


async def export(
    store: Store, query: AuditQuery, *, target: ArchiveTarget | None = None
) -> AsyncIterator[AuditRecord]:
    """Every matching record, oldest first: from the segments whose manifest can hold a
    match (time range, users, tenants), then from the table after the last segment."""
    archived_to = 0
    if target is not None:
        manifests = await asyncio.to_thread(_archive.manifests, target)
        for manifest in manifests:
            archived_to = manifest.last_seq
            if not _may_hold(manifest, query):
                continue
            records = await asyncio.to_thread(
                lambda m=manifest: [r for r in _archive.read_segment(target, m) if query.matches(r)]  # type: ignore[misc]
            )
            for rec in records:
                yield rec
    after = archived_to
    params: dict[str, Any] = {}
    where = query.where(params)
    sql = (
        f"SELECT {', '.join(COLUMNS)} FROM audit_records WHERE {where} AND seq > :after"
        f" ORDER BY seq LIMIT {_EXPORT_PAGE}"
    )
    while True:
        rows = await store.backend.read(
            lambda tx, a=after: tx.rows(sql, {**params, "after": a})  # type: ignore[misc]
        )
        for row in rows:
            yield AuditRecord.from_row(row)
        if len(rows) < _EXPORT_PAGE:
            return
        after = int(rows[-1]["seq"])


def _may_hold(manifest: _archive.Manifest, query: AuditQuery) -> bool:
    if query.user_id is not None and query.user_id not in manifest.users:
        return False
    if query.tenant_id is not None and query.tenant_id not in manifest.tenants:
        return False
    if query.since_us is not None and manifest.last_at_us < query.since_us:
        return False
    return not (query.until_us is not None and manifest.first_at_us >= query.until_us)


def scoped(query: AuditQuery, tenant_id: str | None) -> AuditQuery:
    """The query confined to one tenant (a tenant admin sees its tenant only)."""
    if tenant_id is None:
        return query
    if query.tenant_id is not None and query.tenant_id != tenant_id:
        raise AuditQueryInvalid("you may only read your tenant's audit records")
    return replace(query, tenant_id=tenant_id)
