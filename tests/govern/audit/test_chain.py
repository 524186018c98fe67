"""The chain: records link to each other, and verify names the first record that was
altered, deleted, inserted or reordered behind the log's back (with database access)."""

from __future__ import annotations

import asyncio

import pytest

from roost.govern.audit import AuditEntry, AuditLog, ChainPolicy, Signer, verify
from roost.govern.audit.chain import INSERT_RECORD
from roost.govern.audit.entry import FIELDS, link
from roost.store import Store


async def _fill(audit: AuditLog, n: int = 30) -> None:
    """One record at a time: a checkpoint at 1 (none before), then every 10."""
    for i in range(n):
        await audit.record(AuditEntry("model.call", user_id=f"u{i % 3}", detail={"i": i}))


async def _sql(store: Store, sql: str, params: dict[str, object] | None = None) -> None:
    await store.backend.write(lambda tx: tx.run(sql, params))


async def _rows(store: Store) -> list[dict[str, object]]:
    found = await store.backend.read(lambda tx: tx.rows("SELECT * FROM audit_records ORDER BY seq"))
    return [dict(r) for r in found]


async def test_records_form_one_verified_chain_with_checkpoints(
    store: Store, audit: AuditLog, signer: Signer
) -> None:
    await _fill(audit, 30)
    report = await verify(store, verifier=signer.verifier)
    assert report.ok, report.problem
    assert (report.records, report.first_seq, report.last_seq) == (30, 1, 30)
    assert report.checkpoints == 3  # at 1, 11, 21


async def test_concurrent_records_share_a_commit_and_keep_their_order(
    store: Store, audit: AuditLog
) -> None:
    seqs = await asyncio.gather(
        *(audit.record(AuditEntry("a", detail={"i": i})) for i in range(50))
    )
    assert sorted(seqs) == list(range(1, 51))
    assert (await verify(store)).ok


async def test_an_altered_record_is_named(store: Store, audit: AuditLog) -> None:
    await _fill(audit)
    await _sql(store, "UPDATE audit_records SET user_id = 'mallory' WHERE seq = 17")
    report = await verify(store)
    assert not report.ok and report.problem is not None
    assert (report.problem.kind, report.problem.seq) == ("altered", 17)


async def test_a_deleted_record_is_named(store: Store, audit: AuditLog) -> None:
    await _fill(audit)
    await _sql(store, "DELETE FROM audit_records WHERE seq = 12")
    report = await verify(store)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == ("deleted", 12)


async def test_a_deleted_tail_is_caught(store: Store, audit: AuditLog) -> None:
    await _fill(audit)
    await _sql(store, "DELETE FROM audit_records WHERE seq > 25")
    report = await verify(store)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == ("deleted", 26)


async def test_an_inserted_record_is_named(store: Store, audit: AuditLog) -> None:
    """The forger renumbers the later records to make room, and links the forged record
    properly to the one before it: verify still names it."""
    await _fill(audit)
    rows = await _rows(store)
    before = rows[8]  # seq 9
    await _sql(store, "UPDATE audit_records SET seq = seq + 1000 WHERE seq >= 10")
    await _sql(store, "UPDATE audit_records SET seq = seq - 999 WHERE seq >= 1010")
    forged = {**before, "seq": 10, "user_id": "mallory", "prev_hash": before["hash"]}
    import hashlib

    forged["hash"] = link(hashlib.sha256, str(before["hash"]), tuple(forged[f] for f in FIELDS))
    await _sql(store, INSERT_RECORD, forged)
    report = await verify(store)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == ("inserted", 10)


async def test_reordered_records_are_named(store: Store, audit: AuditLog) -> None:
    await _fill(audit)
    await _sql(store, "UPDATE audit_records SET seq = -1 WHERE seq = 20")
    await _sql(store, "UPDATE audit_records SET seq = 20 WHERE seq = 21")
    await _sql(store, "UPDATE audit_records SET seq = 21 WHERE seq = -1")
    report = await verify(store)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == ("reordered", 20)


async def test_a_rewritten_chain_fails_at_its_checkpoint(
    store: Store, audit: AuditLog, signer: Signer
) -> None:
    """Whoever rewrites every hash from a record on cannot re-sign the checkpoint."""
    import hashlib

    await _fill(audit)
    rows = await _rows(store)
    prev = str(rows[3]["prev_hash"])
    for row in rows[3:]:
        row["prev_hash"] = prev
        if row["seq"] == 4:
            row["user_id"] = "mallory"
        row["hash"] = prev = link(hashlib.sha256, prev, tuple(row[f] for f in FIELDS))
        await _sql(
            store,
            "UPDATE audit_records SET user_id = :user_id, prev_hash = :prev_hash, hash = :hash"
            " WHERE seq = :seq",
            row,
        )
    await _sql(store, "UPDATE audit_chain SET hash = :h", {"h": prev})
    report = await verify(store, verifier=signer.verifier)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == ("checkpoint", 11)


async def test_a_checkpoint_signed_by_another_key_fails(store: Store, audit: AuditLog) -> None:
    await _fill(audit, 10)
    report = await verify(store, verifier=Signer.generate().verifier)
    assert report.problem is not None and report.problem.kind == "checkpoint"


async def test_sm3_chain_verifies_and_refuses_a_switch(store: Store, signer: Signer) -> None:
    sm3 = AuditLog(store, ChainPolicy(alg="sm3", signer=signer, checkpoint_every=5))
    await _fill(sm3, 12)
    report = await verify(store, verifier=signer.verifier)
    assert report.ok and report.alg == "sm3"
    sha = AuditLog(store, ChainPolicy(alg="sha256", signer=signer))
    with pytest.raises(Exception, match="uses sm3"):
        await sha.record(AuditEntry("x"))


async def test_a_clock_that_went_back_is_recorded_and_warned_about(
    store: Store, audit: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wall clock stepping back (NTP, a VM restored) is the clock's doing: the
    record keeps the time it was given, says how far behind the head it was, and verify
    warns without failing (records are ordered by seq)."""
    from roost.govern.audit import chain

    await _fill(audit, 3)
    real = chain.now_us
    monkeypatch.setattr(chain, "now_us", lambda: real() - 3_600_000_000)  # an hour back
    await audit.record(AuditEntry("after"))
    rows = await _rows(store)
    assert '"clock_behind_us":' in str(rows[-1]["detail"])
    report = await verify(store)
    assert report.ok and report.warnings == ["the clock went back at record 4"]


async def test_verify_while_another_writer_appends_reports_what_it_read(
    store: Store, audit: AuditLog, signer: Signer
) -> None:
    await _fill(audit, 20)
    writer = AuditLog(store, ChainPolicy(signer=signer, checkpoint_every=7))

    async def append() -> None:
        for i in range(60):
            await writer.record(AuditEntry("concurrent", detail={"i": i}))

    task = asyncio.create_task(append())
    reports = []
    while not task.done():
        reports.append(await verify(store, verifier=signer.verifier))
    await task
    reports.append(await verify(store, verifier=signer.verifier))
    assert all(r.ok for r in reports), [r.problem for r in reports if not r.ok]
    assert reports[-1].records == 80
