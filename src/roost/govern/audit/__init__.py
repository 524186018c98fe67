"""The audit trail: an append-only, hash-chained record of every security-relevant
action, with signed checkpoints, archives, retention with legal holds, export and the
lineage of every answer (docs/decisions/0200).

Typical use::

    log = AuditLog.from_settings(store, get_settings())
    await log.record(AuditEntry("key.created", user_id="u1", resource_type="key",
                                resource_id=key.id))           # committed on return
    report = await verify(store, target=archive, verifier=verifier)
"""

from __future__ import annotations

from roost.govern.audit.archive import ArchiveTarget, DirectoryTarget, S3Target, target_for
from roost.govern.audit.chain import ChainPolicy
from roost.govern.audit.entry import AuditEntry, AuditRecord, digest
from roost.govern.audit.errors import (
    AuditAlgorithmMismatch,
    AuditArchiveCorrupt,
    AuditError,
    AuditKeyInvalid,
    AuditKeyMissing,
    AuditQueryInvalid,
    AuditRetentionTooShort,
    LineageNotFound,
)
from roost.govern.audit.log import AuditLog
from roost.govern.audit.signing import Signer, Verifier, load_signer, load_verifier
from roost.govern.audit.verify import Problem, VerifyReport, verify

__all__ = [
    "ArchiveTarget",
    "AuditAlgorithmMismatch",
    "AuditArchiveCorrupt",
    "AuditEntry",
    "AuditError",
    "AuditKeyInvalid",
    "AuditKeyMissing",
    "AuditLog",
    "AuditQueryInvalid",
    "AuditRecord",
    "AuditRetentionTooShort",
    "ChainPolicy",
    "DirectoryTarget",
    "LineageNotFound",
    "Problem",
    "S3Target",
    "Signer",
    "Verifier",
    "VerifyReport",
    "digest",
    "load_signer",
    "load_verifier",
    "target_for",
    "verify",
]
