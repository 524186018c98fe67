"""``verify``: walk the chain across the archive segments and the live table, and name
the first record that was altered, deleted, inserted or reordered, and any checkpoint
whose signature or hash does not hold.

The walk stops at the head read when it started, so a server appending meanwhile does
not disturb it; a gap that an archiving pass opened meanwhile is re-checked once before
it is reported (docs/decisions/0200).
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from roost.govern.audit import archive as _archive
from roost.govern.audit.chain import HEAD
from roost.govern.audit.entry import COLUMNS, FIELDS, GENESIS, hasher, link
from roost.govern.audit.errors import AuditArchiveCorrupt
from roost.store.backend import one

if TYPE_CHECKING:
    from roost.govern.audit.archive import ArchiveTarget
    from roost.govern.audit.signing import Verifier
    from roost.store import Store

Kind = Literal["altered", "deleted", "inserted", "reordered", "checkpoint", "archive"]
PAGE = 20_000
_SHIFTS = (1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6, 7, -7, 8, -8)
_values = operator.itemgetter(*FIELDS)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM audit_records"


@dataclass(frozen=True)
class Problem:
    """The first thing wrong: its kind, the record (seq) it names, what was found."""

    kind: Kind
    seq: int | None
    message: str


@dataclass
class VerifyReport:
    ok: bool = True
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head_seq: int = 0
    alg: str | None = None
    segments: int = 0
    checkpoints: int = 0
    signatures_checked: bool = False
    problem: Problem | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["problem"] = None if self.problem is None else dict(self.problem.__dict__)
        return out


async def verify(
    store: Store,
    *,
    target: ArchiveTarget | None = None,
    verifier: Verifier | None = None,
) -> VerifyReport:
    """The report of one walk; re-walked once when it ends on a gap (archiving may have
    moved records between the listing of segments and the read of the table)."""
    report = await _verify_once(store, target, verifier)
    if report.problem is not None and report.problem.kind == "deleted" and target is not None:
        report = await _verify_once(store, target, verifier)
    return report


async def _verify_once(
    store: Store, target: ArchiveTarget | None, verifier: Verifier | None
) -> VerifyReport:
    backend = store.backend
    top = await backend.read(lambda tx: one(tx, HEAD))
    report = VerifyReport(signatures_checked=verifier is not None)
    if top is None:
        return report  # nothing was ever recorded
    upto, alg = int(top["seq"]), str(top["alg"])
    report.head_seq, report.alg = upto, alg
    checkpoints = {
        int(r["seq"]): r
        for r in await backend.read(
            lambda tx: tx.rows(
                "SELECT seq, hash, at_us, alg, key_id, signature FROM audit_checkpoints"
                " ORDER BY seq"
            )
        )
    }
    # a checkpoint beyond the head that is older than the head: the head was moved back
    stale = [s for s, r in checkpoints.items() if s > upto and r["at_us"] <= top["at_us"]]
    checkpoints = {s: r for s, r in checkpoints.items() if s <= upto}
    report.checkpoints = len(checkpoints)
    walk = _Walk(report, hasher(alg), checkpoints, verifier)
    try:
        manifests = _archive.manifests(target) if target is not None else []
        archived_to = manifests[-1].last_seq if manifests else 0
        held = await backend.read(
            lambda tx: tx.rows(
                "SELECT seq, hash FROM audit_records WHERE seq <= :to", {"to": archived_to}
            )
        )
        walk.held = {int(r["seq"]): str(r["hash"]) for r in held}
        for manifest in manifests:
            report.segments += 1
            why = _archive.check_manifest_signature(manifest, verifier)
            if why is not None:
                return walk.fail("archive", manifest.first_seq, f"{manifest.name}: {why}")
            if manifest.alg != alg:
                return walk.fail(
                    "archive", manifest.first_seq, f"{manifest.name} uses {manifest.alg}"
                )
            recs = (
                {c: getattr(r, c) for c in COLUMNS}
                for r in _archive.read_segment(target, manifest)  # type: ignore[arg-type]
            )
            if not walk.feed(recs):
                return report
            if walk.expected - 1 != manifest.last_seq:
                return walk.fail(
                    "archive", manifest.last_seq, f"{manifest.name} ends before its manifest says"
                )
        if walk.held:
            seq = min(walk.held)
            return walk.fail("inserted", seq, f"record {seq} is in the table but in no segment")

        def read(after: int) -> asyncio.Future[list[Any]]:
            sql = f"{_SELECT} WHERE seq > :after AND seq <= :upto ORDER BY seq LIMIT {PAGE}"
            params = {"after": after, "upto": upto}
            return asyncio.ensure_future(backend.read(lambda tx: tx.rows(sql, params)))

        # the next page is read (in a reader thread) while this one is hashed
        pending = read(archived_to) if archived_to < upto else None
        while pending is not None:
            page = await pending
            pending = None
            if not page:
                break
            last = int(page[-1]["seq"])
            if last < upto and len(page) == PAGE:
                pending = read(last)
            try:
                intact = walk.feed(iter(page))
            except BaseException:
                if pending is not None:
                    pending.cancel()
                raise
            if not intact:
                if pending is not None:
                    await asyncio.gather(pending, return_exceptions=True)
                return report
    except AuditArchiveCorrupt as exc:
        return walk.fail("archive", exc.details.get("seq"), exc.message)
    walk.finish(upto, str(top["hash"]))
    if report.ok and stale:
        walk.fail("deleted", upto + 1, f"checkpoint {stale[0]} signs records now missing")
    return report


class _Walk:
    """The state of one walk along the chain."""

    def __init__(
        self,
        report: VerifyReport,
        make: Any,
        checkpoints: dict[int, Mapping[str, Any]],
        verifier: Verifier | None,
    ) -> None:
        self.report = report
        self.make = make
        self.checkpoints = checkpoints
        self.verifier = verifier
        self.expected = 1
        self.prev_hash = GENESIS
        self.prev: Mapping[str, Any] | None = None
        self.last_at = 0
        self.held: dict[int, str] = {}
        """Archived records a legal hold keeps in the table too: they must be equal."""

    def fail(self, kind: Kind, seq: int | None, message: str) -> VerifyReport:
        self.report.ok = False
        self.report.problem = Problem(kind, seq, message)
        return self.report

    def feed(self, records: Iterator[Mapping[str, Any]]) -> bool:
        """Check records in order; False once a problem was found."""
        make, report = self.make, self.report
        pending: Mapping[str, Any] | None = None
        it = iter(records)
        while True:
            rec = pending if pending is not None else next(it, None)
            pending = None
            if rec is None:
                return True
            values = _values(rec)
            seq = values[0]
            if seq != self.expected:
                if seq > self.expected:
                    span = (
                        f"{self.expected}"
                        if seq == self.expected + 1
                        else f"{self.expected}..{seq - 1}"
                    )
                    self.fail("deleted", self.expected, f"record(s) {span} are missing")
                else:
                    self.fail("inserted", seq, f"record {seq} appears twice")
                return False
            if link(make, rec["prev_hash"], values) != rec["hash"]:
                nxt = next(it, None)
                self._mismatch(rec, values, nxt)
                return False
            if rec["prev_hash"] != self.prev_hash:
                before = self.prev
                where = before["seq"] if before is not None else seq
                self.fail(
                    "altered",
                    where,
                    f"record {where} is not the one record {seq} was chained to "
                    "(altered and re-hashed, or replaced)",
                )
                return False
            cp = self.checkpoints.get(seq)
            if cp is not None and not self._checkpoint(cp, rec):
                return False
            if rec["at_us"] < self.last_at and len(report.warnings) < 10:
                report.warnings.append(f"the clock went back at record {seq}")
            self.last_at = max(self.last_at, rec["at_us"])
            if self.held and seq in self.held and self.held.pop(seq) != rec["hash"]:
                self.fail("altered", seq, f"held record {seq} differs from its archived copy")
                return False
            if report.first_seq is None:
                report.first_seq = seq
            report.records += 1
            report.last_seq = seq
            self.prev, self.prev_hash = rec, rec["hash"]
            self.expected = seq + 1

    def _mismatch(
        self, rec: Mapping[str, Any], values: tuple[Any, ...], nxt: Mapping[str, Any] | None
    ) -> None:
        seq = values[0]
        for shift in _SHIFTS:
            moved = (seq + shift, *values[1:])
            if link(self.make, rec["prev_hash"], moved) != rec["hash"]:
                continue
            if shift == -1 and self.prev is not None and rec["prev_hash"] == self.prev["prev_hash"]:
                self.fail(
                    "inserted",
                    seq - 1,
                    f"record {seq - 1} was inserted: record {seq} was written as {seq - 1} "
                    f"and chained to record {seq - 2}",
                )
            elif (nxt is not None and nxt["hash"] == rec["prev_hash"]) or shift != 1:
                self.fail(
                    "reordered",
                    seq,
                    f"record {seq} was written as record {seq + shift}: the records were reordered",
                )
            else:
                self.fail(
                    "deleted",
                    seq,
                    f"a record before {seq} was deleted and the later ones renumbered "
                    f"(record {seq} was written as {seq + 1})",
                )
            return
        self.fail("altered", seq, f"record {seq} was altered: its hash does not match its content")

    def _checkpoint(self, cp: Mapping[str, Any], rec: Mapping[str, Any]) -> bool:
        seq = rec["seq"]
        if cp["hash"] != rec["hash"]:
            self.fail(
                "checkpoint",
                seq,
                f"checkpoint {seq} signed another hash: the chain was rewritten at or before {seq}",
            )
            return False
        verifier = self.verifier
        if verifier is None:
            return True
        if cp["key_id"] != verifier.key_id:
            self.fail(
                "checkpoint", seq, f"checkpoint {seq} is signed by another key ({cp['key_id']})"
            )
            return False
        if not verifier.check(seq, cp["hash"], cp["at_us"], cp["alg"], cp["signature"]):
            self.fail("checkpoint", seq, f"the signature of checkpoint {seq} does not hold")
            return False
        return True

    def finish(self, upto: int, head_hash: str) -> None:
        if self.expected - 1 < upto:
            self.fail("deleted", self.expected, f"records {self.expected}..{upto} are missing")
        elif self.prev is not None and self.prev_hash != head_hash:
            self.fail("altered", upto, f"record {upto} is not the chain's recorded head")
