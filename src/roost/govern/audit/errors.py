"""Errors of the audit trail, each with a stable code and what to do about it."""

from __future__ import annotations

from roost.core import ConfigError, Conflict, InvalidRequest, NotFound, RoostError


class AuditError(RoostError):
    """The audit trail failed."""

    code = "audit_error"
    status = 500


class AuditKeyMissing(ConfigError):
    """No key to sign or check checkpoints with."""

    code = "audit_key_missing"
    status = 500


class AuditKeyInvalid(ConfigError):
    """The signing or verify key cannot be read."""

    code = "audit_key_invalid"
    status = 500


class AuditAlgorithmMismatch(ConfigError):
    """The chain was started with another hash algorithm."""

    code = "audit_algorithm_mismatch"
    status = 500


class AuditArchiveCorrupt(AuditError):
    """An archive segment is truncated, altered or does not match its manifest."""

    code = "audit_archive_corrupt"


class AuditRetentionTooShort(Conflict):
    """Audit records must be kept at least 180 days unless forced (the policy, not the
    request's form, refuses it: 409)."""

    code = "audit_retention_too_short"


class AuditQueryInvalid(InvalidRequest):
    """An audit query has a bad filter."""

    code = "audit_query_invalid"


class LineageNotFound(NotFound):
    """No audit record names this message."""

    code = "lineage_not_found"


class HoldNotFound(NotFound):
    """No such legal hold."""

    code = "audit_hold_not_found"
