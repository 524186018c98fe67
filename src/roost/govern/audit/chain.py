"""Appending to the chain: one transaction body that reads the chain's head, links the
new records to it and moves the head, signing a checkpoint when one is due.

The head is one row (``audit_chain``) read under the write lock (SQLite's ``BEGIN
IMMEDIATE``; ``SELECT … FOR UPDATE`` on PostgreSQL), so every process and replica
appends to one chain in one order. The body can run inside another operation's
transaction (a run's events and its audit records commit together) or alone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from roost.core import jsontext
from roost.govern.audit.entry import COLUMNS, FIELDS, GENESIS, AuditEntry, hasher, link
from roost.govern.audit.errors import AuditAlgorithmMismatch
from roost.govern.audit.signing import Signer
from roost.store.backend import Row, Tx, one

HEAD = (
    "SELECT seq, hash, at_us, alg, checkpoint_seq, checkpoint_at_us FROM audit_chain WHERE id = 1"
)
_INIT = (
    "INSERT INTO audit_chain (id, seq, hash, at_us, alg, checkpoint_seq, checkpoint_at_us)"
    " VALUES (1, 0, :hash, 0, :alg, 0, 0) ON CONFLICT (id) DO NOTHING"
)
_MOVE = (
    "UPDATE audit_chain SET seq = :seq, hash = :hash, at_us = :at_us,"
    " checkpoint_seq = :checkpoint_seq, checkpoint_at_us = :checkpoint_at_us WHERE id = 1"
)
INSERT_RECORD = (
    f"INSERT INTO audit_records ({', '.join(COLUMNS)})"
    f" VALUES ({', '.join(':' + c for c in COLUMNS)})"
)
INSERT_CHECKPOINT = (
    "INSERT INTO audit_checkpoints (seq, hash, at_us, alg, key_id, signature)"
    " VALUES (:seq, :hash, :at_us, :alg, :key_id, :signature)"
)


@dataclass(frozen=True)
class ChainPolicy:
    """How this process appends: the hash, the signer, when checkpoints are due."""

    alg: str = "sha256"
    signer: Signer | None = None
    checkpoint_every: int = 1000
    checkpoint_seconds: float = 60.0

    def __post_init__(self) -> None:
        hasher(self.alg)  # an unknown algorithm fails here, at start-up


def head(tx: Tx, alg: str, *, lock: bool = True) -> Row:
    """The chain's head (created empty with ``alg`` on first use), locked for update."""
    sql = HEAD + (" FOR UPDATE" if lock and tx.dialect == "postgresql" else "")
    row = one(tx, sql)
    if row is None:
        tx.run(_INIT, {"hash": GENESIS, "alg": alg})
        row = one(tx, sql)
        assert row is not None
    if row["alg"] != alg:
        raise AuditAlgorithmMismatch(
            f"the audit chain uses {row['alg']}, this process is set to {alg}",
            hint=f"set ROOST_AUDIT_HASH={row['alg']} (a chain keeps its algorithm)",
        )
    return row


def now_us() -> int:
    return time.time_ns() // 1000


def append(tx: Tx, entries: Sequence[AuditEntry], policy: ChainPolicy) -> list[int]:
    """Link ``entries`` to the chain in this transaction; their sequence numbers."""
    if not entries:
        return []
    top = head(tx, policy.alg)
    make = hasher(policy.alg)
    seq, prev = int(top["seq"]), str(top["hash"])
    at = now_us()
    behind = int(top["at_us"]) - at
    rows: list[dict[str, Any]] = []
    for entry in entries:
        seq += 1
        detail = entry.detail
        if behind > 0:  # the clock went back: recorded as it is, and said so
            detail = {**detail, "clock_behind_us": behind}
        values = (
            seq,
            at,
            *[
                None if v is None else str(v)
                for v in (
                    entry.tenant_id,
                    entry.user_id,
                    entry.key_id,
                    entry.client,
                    entry.action,
                    entry.resource_type,
                    entry.resource_id,
                    entry.outcome,
                    entry.trace_id,
                    entry.run_id,
                    entry.session_id,
                    entry.message_id,
                )
            ],
            jsontext.encode(detail),
        )
        prev = link(make, prev, values)
        row = dict(zip(FIELDS, values, strict=True))
        row["prev_hash"] = rows[-1]["hash"] if rows else str(top["hash"])
        row["hash"] = prev
        rows.append(row)
    tx.many(INSERT_RECORD, rows)
    cp_seq, cp_at = int(top["checkpoint_seq"]), int(top["checkpoint_at_us"])
    due = seq - cp_seq >= policy.checkpoint_every or (at - cp_at >= policy.checkpoint_seconds * 1e6)
    if policy.signer is not None and due:
        write_checkpoint(tx, policy, seq, prev, at)
        cp_seq, cp_at = seq, at
    params = {"seq": seq, "hash": prev, "at_us": max(at, int(top["at_us"]))}
    tx.run(_MOVE, {**params, "checkpoint_seq": cp_seq, "checkpoint_at_us": cp_at})
    return [int(r["seq"]) for r in rows]


def write_checkpoint(tx: Tx, policy: ChainPolicy, seq: int, hash_: str, at: int) -> None:
    assert policy.signer is not None
    signature = policy.signer.sign(seq, hash_, at, policy.alg)
    tx.run(
        INSERT_CHECKPOINT,
        {
            "seq": seq,
            "hash": hash_,
            "at_us": at,
            "alg": policy.alg,
            "key_id": policy.signer.key_id,
            "signature": signature,
        },
    )


def checkpoint_now(tx: Tx, policy: ChainPolicy) -> int | None:
    """Sign the current head if it moved since the last checkpoint (at shutdown, before
    an archive): the seq signed, or None."""
    top = head(tx, policy.alg)
    seq = int(top["seq"])
    if policy.signer is None or seq == 0 or seq == int(top["checkpoint_seq"]):
        return None
    at = now_us()
    write_checkpoint(tx, policy, seq, str(top["hash"]), at)
    tx.run(
        _MOVE,
        {
            "seq": seq,
            "hash": top["hash"],
            "at_us": max(at, int(top["at_us"])),
            "checkpoint_seq": seq,
            "checkpoint_at_us": at,
        },
    )
    return seq
