"""The lineage of an answer, from the audit trail: the run that produced the message,
the user and key that asked, the model calls (model, prompt digest, usage), the tool
calls (argument and result digests) and the knowledge chunks (knowledge base, document,
version, chunk) it came from. Built from audit records only, so it survives the
deletion of the session (as digests)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from roost.govern.audit.entry import COLUMNS, AuditRecord
from roost.govern.audit.errors import LineageNotFound

if TYPE_CHECKING:
    from roost.store import Store

_SELECT = f"SELECT {', '.join(COLUMNS)} FROM audit_records"


async def lineage(store: Store, message_id: str) -> dict[str, Any]:
    """The lineage of ``message_id`` (an assistant message, or a run's input)."""
    named = await store.backend.read(
        lambda tx: tx.rows(f"{_SELECT} WHERE message_id = :m ORDER BY seq", {"m": message_id})
    )
    run_id = next((r["run_id"] for r in named if r["run_id"]), None)
    if run_id is None:
        raise LineageNotFound(
            f"no audit record names message {message_id!r}",
            hint="lineage exists for messages of runs made while auditing was on",
        )
    rows = await store.backend.read(
        lambda tx: tx.rows(f"{_SELECT} WHERE run_id = :r ORDER BY seq", {"r": run_id})
    )
    return build(message_id, [AuditRecord.from_row(r) for r in rows])


def build(message_id: str, records: list[AuditRecord]) -> dict[str, Any]:
    run: dict[str, Any] = {"id": records[0].run_id, "session_id": records[0].session_id}
    out: dict[str, Any] = {
        "message_id": message_id,
        "run": run,
        "model_calls": [],
        "tool_calls": [],
        "knowledge": [],
        "records": [r.seq for r in records],
    }
    for rec in records:
        detail = json.loads(rec.detail) if rec.detail else {}
        who = {
            "user_id": rec.user_id,
            "tenant_id": rec.tenant_id,
            "key_id": rec.key_id,
            "client": rec.client,
        }
        if rec.action == "run.started":
            run.update(who)
            run.update(
                agent=detail.get("agent"),
                started_at_us=rec.at_us,
                input_message_id=rec.message_id,
                input_digest=detail.get("input_digest"),
                trace_id=rec.trace_id,
            )
        elif rec.action == "run.finished":
            run.update(
                status=detail.get("status"),
                finished_at_us=rec.at_us,
                output_message_id=rec.message_id,
                output_digest=detail.get("output_digest"),
                usage=detail.get("usage"),
            )
            if "user_id" not in run:
                run.update(who)
        elif rec.action == "model.call":
            out["model_calls"].append(
                {
                    "seq": rec.seq,
                    "message_id": rec.message_id,
                    **{
                        k: detail.get(k)
                        for k in (
                            "model",
                            "provider",
                            "prompt_digest",
                            "completion_digest",
                            "usage",
                            "cost",
                            "stop_reason",
                        )
                    },
                }
            )
        elif rec.action in ("tool.call", "sandbox.call"):
            out["tool_calls"].append(
                {
                    "seq": rec.seq,
                    "outcome": rec.outcome,
                    **{
                        k: detail.get(k)
                        for k in ("name", "call_id", "args_digest", "result_digest", "sandbox")
                    },
                }
            )
        elif rec.action == "knowledge.access":
            out["knowledge"].append(
                {
                    "seq": rec.seq,
                    "query_digest": detail.get("query_digest"),
                    "chunks": detail.get("chunks", []),
                }
            )
    return out
