"""Retention of the audit trail: records older than the policy (default 180 days, less
only when forced — and a refusal is itself on record) move into archive segments, then
leave the database, except those under a legal hold on their tenant or user.

One pass: sign the head, read the oldest unarchived records in seq order up to the
cut-off, write them as a segment (manifest last), then delete them from the table in
one transaction. A crash between the two leaves records both archived and live: the
next pass deletes them (verify accepts a live record equal to its archived copy).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from roost.core.ids import new_id
from roost.govern.audit import archive as _archive
from roost.govern.audit.chain import now_us
from roost.govern.audit.entry import COLUMNS, AuditEntry, AuditRecord
from roost.govern.audit.errors import AuditArchiveCorrupt, AuditRetentionTooShort, HoldNotFound

if TYPE_CHECKING:
    from roost.core.settings import Settings
    from roost.govern.audit.archive import ArchiveTarget
    from roost.govern.audit.log import AuditLog

log = logging.getLogger("roost.audit")

MIN_DAYS = 180.0
SEGMENT_RECORDS = 100_000
_DAY_US = 86_400 * 1_000_000

_HELD = (
    "EXISTS (SELECT 1 FROM audit_holds h WHERE h.released_at_us IS NULL AND ("
    "(h.user_id IS NOT NULL AND h.user_id = audit_records.user_id"
    " AND (h.tenant_id IS NULL OR h.tenant_id = audit_records.tenant_id))"
    " OR (h.user_id IS NULL AND h.tenant_id = audit_records.tenant_id)))"
)


@dataclass(frozen=True)
class ArchivePass:
    segments: list[str]
    archived: int
    pruned: int
    held: int


@dataclass(frozen=True)
class Hold:
    id: str
    tenant_id: str | None
    user_id: str | None
    reason: str
    created_by: str | None
    created_at_us: int
    released_at_us: int | None


class AuditRetention:
    """Archives and prunes one audit trail."""

    def __init__(
        self,
        log: AuditLog,
        target: ArchiveTarget,
        *,
        days: float = MIN_DAYS,
        force: bool = False,
        interval: float = 3600.0,
    ) -> None:
        self.log = log
        self.target = target
        self.days = days
        self.force = force
        self.interval = interval

    @classmethod
    def from_settings(cls, log: AuditLog, settings: Settings) -> AuditRetention:
        return cls(
            log,
            _archive.target_for(None, settings),
            days=settings.audit_retention_days,
            force=settings.audit_retention_force,
            interval=settings.retention_interval_seconds,
        )

    async def check_policy(self, days: float, force: bool) -> None:
        """Refuse a retention under 180 days unless forced; the refusal is recorded."""
        if days >= MIN_DAYS:
            return
        if force:
            await self.log.record(
                AuditEntry("audit.retention_forced", detail={"days": days}, resource_type="audit")
            )
            return
        await self.log.record(
            AuditEntry(
                "audit.retention_refused",
                outcome="denied",
                resource_type="audit",
                detail={"days": days, "minimum": MIN_DAYS},
            )
        )
        raise AuditRetentionTooShort(
            f"audit records must be kept at least {MIN_DAYS:g} days (asked: {days:g})",
            hint="keep the default, or force it (ROOST_AUDIT_RETENTION_FORCE=1, --force)",
        )

    async def archive(self, *, days: float | None = None, force: bool | None = None) -> ArchivePass:
        """One pass: archive everything older than the retention, prune what is not held."""
        days = self.days if days is None else days
        await self.check_policy(days, self.force if force is None else force)
        cutoff = now_us() - int(days * _DAY_US)
        backend, policy = self.log.store.backend, self.log.policy
        await self.log.checkpoint()
        found = await asyncio.to_thread(_archive.manifests, self.target)
        after = found[-1].last_seq if found else 0
        if found:
            await self._same_chain(found[-1])
        segments: list[str] = []
        archived = 0
        while True:
            page = await backend.read(
                lambda tx, a=after: tx.rows(  # type: ignore[misc]
                    f"SELECT {', '.join(COLUMNS)} FROM audit_records WHERE seq > :after"
                    f" ORDER BY seq LIMIT {SEGMENT_RECORDS}",
                    {"after": a},
                )
            )
            records = []
            for row in page:
                if row["at_us"] >= cutoff:
                    break
                records.append(AuditRecord.from_row(row))
            if records and records[0].seq != after + 1:
                log.error("audit archive: record %d is missing; archiving stops", after + 1)
                break
            if not records:
                break
            manifest = await asyncio.to_thread(
                _archive.write_segment, self.target, records, policy.alg, policy.signer
            )
            segments.append(manifest.name)
            archived += len(records)
            after = manifest.last_seq
            if len(records) < len(page) or len(page) < SEGMENT_RECORDS:
                break
        pruned, held = await backend.write(lambda tx: _prune(tx, after))
        if segments or pruned:
            await self.log.record(
                AuditEntry(
                    "audit.archived",
                    resource_type="audit",
                    resource_id=self.target.describe()[:256],
                    detail={
                        "segments": segments,
                        "archived": archived,
                        "pruned": pruned,
                        "held": held,
                        "through_seq": after,
                        "retention_days": days,
                    },
                )
            )
        return ArchivePass(segments, archived, pruned, held)

    async def _same_chain(self, last: _archive.Manifest) -> None:
        """The archive continues this database's chain (not another install's, sharing
        the bucket by mistake): nothing is pruned on the word of a foreign archive."""
        rows = await self.log.store.backend.read(
            lambda tx: tx.rows(
                "SELECT seq, prev_hash, hash FROM audit_records WHERE seq >= :s"
                " ORDER BY seq LIMIT 2",
                {"s": last.last_seq},
            )
        )
        for row in rows:
            at_end = row["seq"] == last.last_seq and row["hash"] != last.last_hash
            if at_end or (row["seq"] == last.last_seq + 1 and row["prev_hash"] != last.last_hash):
                raise AuditArchiveCorrupt(
                    f"the archive {self.target.describe()} ends with {last.name}, which is not"
                    " this database's chain",
                    hint="give each installation its own archive (ROOST_AUDIT_ARCHIVE)",
                    segment=last.name,
                )

    async def run(self) -> None:
        """Archive every ``interval`` seconds until cancelled (a server's job)."""
        while True:
            try:
                await self.archive()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("audit archiving failed; retried at the next pass")
            await asyncio.sleep(self.interval)

    # -- legal holds ----------------------------------------------------------------------
    async def place_hold(
        self, *, tenant_id: str | None, user_id: str | None, reason: str, by: str | None
    ) -> Hold:
        hold = Hold(new_id("hold"), tenant_id, user_id, reason, by, now_us(), None)
        entry = AuditEntry(
            "audit.hold_placed",
            resource_type="hold",
            resource_id=hold.id,
            key_id=by,
            detail={"tenant_id": tenant_id, "user_id": user_id, "reason": reason},
        )
        body = self.log.body([entry])

        def write(tx: Any) -> None:
            tx.run(
                "INSERT INTO audit_holds (id, tenant_id, user_id, reason, created_by,"
                " created_at_us, released_at_us) VALUES (:id, :tenant_id, :user_id, :reason,"
                " :created_by, :created_at_us, :released_at_us)",
                hold.__dict__,
            )
            body(tx)

        await self.log.store.backend.write(write)
        return hold

    async def release_hold(self, hold_id: str, *, by: str | None) -> Hold:
        body = self.log.body(
            [
                AuditEntry(
                    "audit.hold_released", resource_type="hold", resource_id=hold_id, key_id=by
                )
            ]
        )
        at = now_us()

        def write(tx: Any) -> Any:
            changed = tx.run(
                "UPDATE audit_holds SET released_at_us = :at WHERE id = :id"
                " AND released_at_us IS NULL",
                {"id": hold_id, "at": at},
            )
            rows = tx.rows("SELECT * FROM audit_holds WHERE id = :id", {"id": hold_id})
            if rows and changed:
                body(tx)
            return rows

        rows = await self.log.store.backend.write(write)
        if not rows:
            raise HoldNotFound(f"legal hold {hold_id!r} does not exist")
        return Hold(**{k: rows[0][k] for k in Hold.__dataclass_fields__})

    async def holds(self) -> list[Hold]:
        rows = await self.log.store.backend.read(
            lambda tx: tx.rows("SELECT * FROM audit_holds ORDER BY created_at_us, id")
        )
        return [Hold(**{k: r[k] for k in Hold.__dataclass_fields__}) for r in rows]


def _prune(tx: Any, through: int) -> tuple[int, int]:
    """Delete archived records (seq ≤ ``through``) that no hold keeps; (pruned, held)."""
    pruned = tx.run(
        f"DELETE FROM audit_records WHERE seq <= :through AND NOT {_HELD}", {"through": through}
    )
    held = tx.rows(
        "SELECT COUNT(*) AS n FROM audit_records WHERE seq <= :through", {"through": through}
    )
    return int(pruned), int(held[0]["n"])
