"""Retention: records move into signed, hash-manifested segments (a directory, or an
S3-compatible bucket served on loopback), leave the table unless a legal hold keeps
them, and verify and export still span all of it; bad archives give typed errors."""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path
from typing import Any

import pytest

from roost.govern.audit import (
    AuditEntry,
    AuditLog,
    AuditRetentionTooShort,
    DirectoryTarget,
    S3Target,
    Signer,
    verify,
)
from roost.govern.audit.query import AuditQuery, export
from roost.govern.audit.retention import AuditRetention
from roost.store import Store


async def _fill(audit: AuditLog, n: int, users: tuple[str, ...] = ("ann", "ben")) -> None:
    for i in range(n):
        await audit.record(AuditEntry("tool.call", user_id=users[i % len(users)], detail={"i": i}))


async def _count(store: Store) -> int:
    rows = await store.backend.read(lambda tx: tx.rows("SELECT COUNT(*) AS n FROM audit_records"))
    return int(rows[0]["n"])


async def test_archive_prunes_all_but_held_and_verify_spans_both(
    store: Store, audit: AuditLog, signer: Signer, tmp_path: Path
) -> None:
    target = DirectoryTarget(tmp_path / "archive")
    retention = AuditRetention(audit, target)
    await _fill(audit, 20)
    hold = await retention.place_hold(tenant_id=None, user_id="ann", reason="case 7", by="test")
    done = await retention.archive(days=0, force=True)
    # 20 records, the hold, the forced-retention note: 22 archived; ann's 10 stay held
    assert (done.archived, done.held) == (22, 10) and len(done.segments) == 1
    assert await _count(store) == 10 + 1  # held ones + the "audit.archived" record
    report = await verify(store, target=target, verifier=signer.verifier)
    assert report.ok, report.problem
    assert report.records == 23 and report.segments == 1

    ann = [r async for r in export(store, AuditQuery(user_id="ann"), target=target)]
    assert [r.detail for r in ann] == [f'{{"i":{i}}}' for i in range(0, 20, 2)]  # once each

    await retention.release_hold(hold.id, by="test")
    await _fill(audit, 2)
    again = await retention.archive(days=0, force=True)
    assert again.held == 0
    report = await verify(store, target=target, verifier=signer.verifier)
    assert report.ok, report.problem
    actions = [r.action async for r in export(store, AuditQuery(action="audit.*"), target=target)]
    assert actions[:3] == ["audit.hold_placed", "audit.retention_forced", "audit.archived"]
    assert "audit.hold_released" in actions


async def test_a_short_retention_is_refused_and_the_refusal_recorded(
    store: Store, audit: AuditLog, tmp_path: Path
) -> None:
    retention = AuditRetention(audit, DirectoryTarget(tmp_path / "a"))
    with pytest.raises(AuditRetentionTooShort) as err:
        await retention.archive(days=30)
    assert err.value.code == "audit_retention_too_short" and err.value.status == 409
    refused = [r async for r in export(store, AuditQuery(action="audit.retention_refused"))]
    assert len(refused) == 1 and refused[0].outcome == "denied"
    assert (await retention.archive()).archived == 0  # 180 days: nothing is that old


@pytest.mark.parametrize("damage", ["altered", "truncated", "manifest", "missing"])
async def test_a_damaged_segment_fails_verify_with_its_name(
    store: Store, audit: AuditLog, signer: Signer, tmp_path: Path, damage: str
) -> None:
    target = DirectoryTarget(tmp_path / "archive")
    await _fill(audit, 8)
    name = (await AuditRetention(audit, target).archive(days=0, force=True)).segments[0]
    path = tmp_path / "archive" / name
    if damage == "altered":
        text = gzip.decompress(path.read_bytes()).replace(b'"ann"', b'"eve"')
        path.write_bytes(gzip.compress(text))
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:40])
    elif damage == "manifest":
        manifest = path.with_name(name + ".manifest.json")
        manifest.write_text(manifest.read_text().replace('"records": 9', '"records": 3'))
    else:
        path.unlink()
    report = await verify(store, target=target, verifier=signer.verifier)
    assert not report.ok and report.problem is not None
    assert report.problem.kind == "archive" and (
        name in report.problem.message or damage == "manifest"
    )


async def test_archives_go_to_an_s3_compatible_bucket(
    store: Store, audit: AuditLog, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto's server speaks the S3 protocol on loopback (as MinIO, OSS or OBS would)."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for var, value in (
            ("AWS_ACCESS_KEY_ID", "k"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ):
            monkeypatch.setenv(var, value)
        bucket = f"audit-{uuid.uuid4().hex[:12]}"  # moto's buckets outlive its server
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        target = S3Target(bucket, "roost/prod", endpoint_url=endpoint)
        await _fill(audit, 12)
        done = await AuditRetention(audit, target).archive(days=0, force=True)
        assert done.archived == 13 and target.names()[0].startswith("audit-000000000001-")
        report = await verify(store, target=target, verifier=signer.verifier)
        assert report.ok and report.segments == 1, report.problem
        got: list[Any] = [r async for r in export(store, AuditQuery(user_id="ben"), target=target)]
        assert len(got) == 6
    finally:
        server.stop()


async def test_an_archive_of_another_chain_is_refused_before_anything_is_pruned(
    store: Store, audit: AuditLog, tmp_path: Path
) -> None:
    """Two installations pointed at one archive by mistake: the second one's records
    are not pruned on the word of the first one's segments."""
    from roost.govern.audit import AuditArchiveCorrupt, ChainPolicy

    shared = DirectoryTarget(tmp_path / "shared")
    other = await Store.open(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        foreign = AuditLog(other, ChainPolicy())
        await _fill(foreign, 5)
        await AuditRetention(foreign, shared).archive(days=0, force=True)
    finally:
        await other.close()
    await _fill(audit, 9)
    with pytest.raises(AuditArchiveCorrupt, match="not this database's chain"):
        await AuditRetention(audit, shared).archive(days=0, force=True)
    assert await _count(store) == 9 + 1  # and the note that the retention was forced
