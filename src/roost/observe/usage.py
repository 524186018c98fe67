"""Usage aggregates for business alerts, read from the runs table through the Store."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

_MEASURES = {
    "cost": "cost",
    "tokens": "total_tokens",
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "runs": "runs",
}


class _UsageStore(Protocol):
    async def usage_summary(
        self,
        group_by: Any,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        tenant_id: str | None = None,
    ) -> list[dict[str, Any]]: ...


class StoreUsageSource:
    """``UsageSource`` over ``Store.usage_summary`` (cost per session, tokens per user …)."""

    def __init__(self, store: _UsageStore) -> None:
        self.store = store

    async def usage_by(
        self,
        measure: str,
        per: str,
        since: datetime,
        until: datetime,
        currency: str | None = None,
    ) -> dict[str, float]:
        column = _MEASURES[measure]
        rows = await self.store.usage_summary(per, since=since, until=until)
        out: dict[str, float] = {}
        for row in rows:
            if (
                measure == "cost"
                and currency
                and (row.get("currency") or "").upper() != currency.upper()
            ):
                continue
            key = row.get(per)
            if key is None:
                key = row.get("key")
            value = row.get(column)
            if key is None or value is None:
                continue
            out[str(key)] = out.get(str(key), 0.0) + float(value)
        return out
