"""What one audit record says, and the canonical text its hash covers.

An :class:`AuditEntry` is what a caller records (who, what, on what, how it went);
the chain gives it a ``seq``, a time and its hashes (:class:`AuditRecord`). The hash
covers a fixed field order joined by a unit separator, not JSON with sorted keys: the
verifier recomputes a million of them in seconds (docs/decisions/0200).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from roost.core import jsontext
from roost.govern.audit.errors import AuditAlgorithmMismatch

Outcome = Literal["ok", "denied", "failed", "error"]
GENESIS = "0" * 64
"""The ``prev_hash`` of the first record of a chain."""

FIELDS = (
    "seq",
    "at_us",
    "tenant_id",
    "user_id",
    "key_id",
    "client",
    "action",
    "resource_type",
    "resource_id",
    "outcome",
    "trace_id",
    "run_id",
    "session_id",
    "message_id",
    "detail",
)
"""The hashed fields, in hash order (``prev_hash`` precedes them, ``hash`` is the result)."""

COLUMNS = (*FIELDS, "prev_hash", "hash")
CSV_COLUMNS = tuple("at" if c == "at_us" else c for c in COLUMNS)
"""An export's columns (the API's and `roost audit export`'s): the time as ``at``."""
_NULL = "\x00"
_SEP = "\x1f"


def digest(value: Any) -> str:
    """``sha256:<hex>`` of text, bytes, or anything JSON (compact, keys as given): what
    a record keeps of prompts, completions, arguments and results."""
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        data = value.encode()
    else:
        data = jsontext.encode(value).encode()
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    """One security-relevant action, as its caller knows it."""

    action: str
    outcome: Outcome = "ok"
    tenant_id: str | None = None
    user_id: str | None = None
    key_id: str | None = None
    client: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    trace_id: str | None = None
    run_id: str | None = None
    session_id: str | None = None
    message_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditRecord:
    """An entry as the chain stored it."""

    seq: int
    at_us: int
    tenant_id: str | None
    user_id: str | None
    key_id: str | None
    client: str | None
    action: str
    resource_type: str | None
    resource_id: str | None
    outcome: str
    trace_id: str | None
    run_id: str | None
    session_id: str | None
    message_id: str | None
    detail: str
    """Compact JSON text, exactly as hashed."""
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: Any) -> AuditRecord:
        return cls(**{name: row[name] for name in COLUMNS})

    def to_json(self) -> dict[str, Any]:
        """The record for export and the API (``detail`` parsed, time in ISO 8601)."""
        from datetime import UTC, datetime

        out: dict[str, Any] = {name: getattr(self, name) for name in COLUMNS}
        out["detail"] = json.loads(self.detail) if self.detail else {}
        out["at"] = datetime.fromtimestamp(self.at_us / 1e6, UTC).isoformat()
        return out


def canonical(values: tuple[Any, ...]) -> bytes:
    """The bytes hashed for one record: its fields in :data:`FIELDS` order (``seq`` and
    ``at_us`` integers, the others text or None)."""
    seq, at_us, *rest = values
    text = _SEP.join([_NULL if v is None else v for v in rest])
    return f"{seq}{_SEP}{at_us}{_SEP}{text}".encode()


def hasher(alg: str) -> Any:
    """A constructor of hash objects for ``sha256`` or ``sm3`` (OpenSSL's, through
    hashlib; the national-crypto profile)."""
    if alg == "sha256":
        return hashlib.sha256
    if alg == "sm3":
        try:
            hashlib.new("sm3")
        except ValueError:  # pragma: no cover - an OpenSSL without SM3
            raise AuditAlgorithmMismatch(
                "this OpenSSL has no SM3", hint="install an OpenSSL with SM3 or use sha256"
            ) from None
        return lambda data=b"": hashlib.new("sm3", data)
    raise AuditAlgorithmMismatch(f"unknown audit hash {alg!r}", hint="use sha256 or sm3")


def link(make: Any, prev_hash: str, values: tuple[Any, ...]) -> str:
    """The hash of a record: H(prev_hash, newline, canonical fields)."""
    h = make(prev_hash.encode() + b"\n")
    h.update(canonical(values))
    return str(h.hexdigest())
