"""Usage: token and cost totals of runs, grouped for accounting and quotas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from roost.store.backend import Part
from roost.store.errors import InvalidStoreArgument
from roost.store.records import UsageGroup

_GROUPS = {
    "session": "session_id",
    "user": "user_id",
    "tenant": "tenant_id",
    "model": "model",
    "agent": "agent",
}


class UsageTotals(Part):
    async def usage_summary(
        self,
        group_by: UsageGroup,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        tenant_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Token and cost totals of runs created in ``[since, until)``, per group.

        One row per (group, currency) — costs in different currencies never add up.
        Rows: ``{group_by: key, "currency", "runs", "input_tokens", "output_tokens",
        "total_tokens", "cost"}``, largest token count first.
        """
        column = _GROUPS.get(group_by)
        if column is None:
            raise InvalidStoreArgument(
                f"cannot group usage by {group_by!r}", hint=f"use one of {', '.join(_GROUPS)}"
            )
        params: dict[str, Any] = {"since": since, "until": until, "tenant_id": tenant_id}
        where = [
            condition
            for condition, key in (
                ("created_at >= :since", "since"),
                ("created_at < :until", "until"),
                ("tenant_id = :tenant_id", "tenant_id"),
            )
            if params[key] is not None
        ]
        stmt = (
            f"SELECT {column} AS group_key, currency, count(*) AS runs,"
            " sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,"
            " sum(input_tokens + output_tokens) AS total_tokens, sum(cost) AS cost FROM runs"
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" GROUP BY {column}, currency ORDER BY total_tokens DESC, {column}"
        )
        used = {k: v for k, v in params.items() if v is not None}
        found = await self._backend.read(lambda tx: tx.rows(stmt, used))
        return [
            {
                group_by: r["group_key"],
                "currency": r["currency"],
                "runs": int(r["runs"]),
                "input_tokens": int(r["input_tokens"] or 0),
                "output_tokens": int(r["output_tokens"] or 0),
                "total_tokens": int(r["total_tokens"] or 0),
                "cost": float(r["cost"]) if r["cost"] is not None else None,
            }
            for r in found
        ]
