"""Archive segments: old records as gzip'd JSON lines, each with a manifest that names
the file's SHA-256, its seq range, its first ``prev_hash`` and last ``hash``, and is
itself signed with the checkpoint key.

A segment holds every record of its seq range (legal holds only keep the held records
in the database too), so the chain continues from segment to segment and into the
live table. Targets: a directory (default) or an S3-compatible bucket through boto3
(MinIO, Alibaba OSS, Huawei OBS), behind :class:`ArchiveTarget`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from roost.govern.audit.entry import COLUMNS, AuditRecord
from roost.govern.audit.errors import AuditArchiveCorrupt

if TYPE_CHECKING:
    from roost.core.settings import Settings
    from roost.govern.audit.signing import Signer, Verifier

FORMAT = 1
_MANIFEST = ".manifest.json"


class ArchiveTarget(Protocol):
    """Where segments are kept: names are flat file names."""

    def names(self) -> list[str]: ...

    def put(self, name: str, data: bytes) -> None: ...

    def get(self, name: str) -> bytes: ...

    def describe(self) -> str: ...


class DirectoryTarget:
    """Segments as files of a local directory (written to a temporary name, fsynced,
    then renamed: a crash leaves no half segment under a real name)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def names(self) -> list[str]:
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir() if not p.name.startswith("."))

    def put(self, name: str, data: bytes) -> None:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path / f".{name}.tmp"
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path / name)
        dirfd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)

    def get(self, name: str) -> bytes:
        try:
            return (self.path / name).read_bytes()
        except FileNotFoundError:
            raise AuditArchiveCorrupt(
                f"archive file {name} is missing from {self.path}",
                hint="restore it from a backup; the chain cannot be verified without it",
            ) from None

    def describe(self) -> str:
        return str(self.path)


class S3Target:
    """Segments as objects of an S3-compatible bucket, under a prefix."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None) -> None:
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = boto3.client("s3", endpoint_url=endpoint_url)

    def names(self) -> list[str]:
        out: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            out += [obj["Key"][len(self.prefix) :] for obj in page.get("Contents", [])]
        return sorted(out)

    def put(self, name: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=data)

    def get(self, name: str) -> bytes:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)["Body"]
            return bytes(body.read())
        except self.client.exceptions.NoSuchKey:
            raise AuditArchiveCorrupt(
                f"archive object {name} is missing from s3://{self.bucket}/{self.prefix}",
                hint="restore it; the chain cannot be verified without it",
            ) from None

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def target_for(spec: str | None, settings: Settings) -> ArchiveTarget:
    """``s3://bucket/prefix`` or a directory (default ``$ROOST_HOME/audit-archive``)."""
    spec = spec or settings.audit_archive
    if spec and spec.startswith("s3://"):
        bucket, _, prefix = spec[5:].partition("/")
        return S3Target(bucket, prefix, settings.audit_s3_endpoint)
    return DirectoryTarget(Path(spec) if spec else settings.home / "audit-archive")


@dataclass(frozen=True)
class Manifest:
    """What a segment holds; checked against the segment's bytes before it is read."""

    name: str
    first_seq: int
    last_seq: int
    records: int
    first_at_us: int
    last_at_us: int
    prev_hash: str
    last_hash: str
    alg: str
    sha256: str
    users: tuple[str, ...]
    tenants: tuple[str, ...]
    key_id: str | None
    signature: str | None

    def body(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "signature"}
        out["users"], out["tenants"] = list(self.users), list(self.tenants)
        return {"format": FORMAT, **out}

    def signed_bytes(self) -> bytes:
        return json.dumps(self.body(), sort_keys=True, separators=(",", ":")).encode()


def segment_name(first: int, last: int) -> str:
    return f"audit-{first:012d}-{last:012d}.jsonl.gz"


def write_segment(
    target: ArchiveTarget, records: Sequence[AuditRecord], alg: str, signer: Signer | None
) -> Manifest:
    """Write ``records`` (consecutive, in seq order) as one segment and its manifest;
    the manifest goes last, so a segment without one was never finished."""
    lines = [
        json.dumps({c: getattr(r, c) for c in COLUMNS}, separators=(",", ":")) for r in records
    ]
    data = gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=6, mtime=0)
    first, last = records[0], records[-1]
    name = segment_name(first.seq, last.seq)
    manifest = Manifest(
        name=name,
        first_seq=first.seq,
        last_seq=last.seq,
        records=len(records),
        first_at_us=min(r.at_us for r in records),
        last_at_us=max(r.at_us for r in records),
        prev_hash=first.prev_hash,
        last_hash=last.hash,
        alg=alg,
        sha256=hashlib.sha256(data).hexdigest(),
        users=tuple(sorted({r.user_id for r in records if r.user_id})),
        tenants=tuple(sorted({r.tenant_id for r in records if r.tenant_id})),
        key_id=signer.key_id if signer else None,
        signature=None,
    )
    if signer is not None:
        import base64

        sig = base64.b64encode(signer.private.sign(manifest.signed_bytes())).decode()
        manifest = Manifest(**{**manifest.__dict__, "signature": sig})
    target.put(name, data)
    body = {**manifest.body(), "signature": manifest.signature}
    target.put(name + _MANIFEST, json.dumps(body, indent=1).encode())
    return manifest


def manifests(target: ArchiveTarget) -> list[Manifest]:
    """Every finished segment's manifest, in seq order (a malformed one is an error)."""
    out = []
    for name in target.names():
        if name.endswith(_MANIFEST):
            out.append(read_manifest(target, name))
    return sorted(out, key=lambda m: m.first_seq)


def read_manifest(target: ArchiveTarget, name: str) -> Manifest:
    raw = target.get(name)
    try:
        body = json.loads(raw)
        if body.pop("format") != FORMAT:
            raise ValueError("unknown format")
        body["users"], body["tenants"] = tuple(body["users"]), tuple(body["tenants"])
        manifest = Manifest(**body)
        if manifest.name + _MANIFEST != name:
            raise ValueError("its name does not match the file")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise AuditArchiveCorrupt(
            f"archive manifest {name} is unreadable: {exc}",
            hint="restore the manifest from a backup",
        ) from None
    return manifest


def check_manifest_signature(manifest: Manifest, verifier: Verifier | None) -> str | None:
    """Why the manifest's signature fails, or None (no verifier: not checked)."""
    if verifier is None:
        return None
    if manifest.signature is None:
        return "the manifest is not signed"
    if manifest.key_id != verifier.key_id:
        return f"signed by {manifest.key_id}, not by the verify key {verifier.key_id}"
    import base64
    import binascii

    from cryptography.exceptions import InvalidSignature

    try:
        verifier.public.verify(base64.b64decode(manifest.signature), manifest.signed_bytes())
    except (InvalidSignature, binascii.Error, ValueError):
        return "the manifest's signature does not match"
    return None


def read_segment(target: ArchiveTarget, manifest: Manifest) -> Iterator[AuditRecord]:
    """The records of a segment after checking its bytes against the manifest."""
    data = target.get(manifest.name)
    if hashlib.sha256(data).hexdigest() != manifest.sha256:
        raise AuditArchiveCorrupt(
            f"archive segment {manifest.name} does not match its manifest's SHA-256",
            hint="the file was altered or truncated; restore it from a backup",
            segment=manifest.name,
        )
    try:
        text = gzip.decompress(data).decode()
        for line in text.splitlines():
            row = json.loads(line)
            yield AuditRecord(**{c: row[c] for c in COLUMNS})
    except (OSError, EOFError, zlib.error, ValueError, KeyError, TypeError) as exc:
        raise AuditArchiveCorrupt(
            f"archive segment {manifest.name} cannot be read: {exc}",
            hint="restore it from a backup",
            segment=manifest.name,
        ) from None
