"""Cost of model calls from the price table (``roost.models.pricing``), for runs and spans.

Providers usually fill ``Usage.cost`` themselves; the calculator prices whatever arrives
without one (spans written by other instrumentation, usage events of unpriced providers)
so metrics, the trace store and the runs table agree. Prices are overridden with a YAML
file (``ROOST_PRICES`` or ``CostCalculator.from_yaml``).
"""

from __future__ import annotations

from pathlib import Path

from roost.core import Usage
from roost.models.pricing import Price, PriceTable, default_price_table


class CostCalculator:
    """Prices usage with a :class:`~roost.models.pricing.PriceTable` (built-ins + overrides)."""

    def __init__(self, table: PriceTable | None = None) -> None:
        self.table = table if table is not None else default_price_table()
        self._prices: dict[str, Price | None] = {}

    @classmethod
    def from_yaml(cls, path: str | Path) -> CostCalculator:
        """Built-in prices overlaid with the entries of a YAML price file."""
        table = default_price_table()
        table.update(PriceTable.from_yaml(path))
        return cls(table)

    def price(self, model: str | None, usage: Usage) -> Usage:
        """``usage`` with cost filled in when missing and the model has a price."""
        if usage.cost is not None:
            return usage
        return self.table.cost(model, usage)

    def cost_fn(
        self, model: str, input_tokens: int, output_tokens: int
    ) -> tuple[float, str] | None:
        """The trace-store exporter's hook: ``(cost, currency)`` or None if unpriced."""
        try:
            price = self._prices[model]
        except KeyError:  # the lookup scans prefixes: cache it, spans repeat few models
            price = self._prices[model] = self.table.lookup(model)
        if price is None:
            return None
        cost = (input_tokens * price.input_per_1k + output_tokens * price.output_per_1k) / 1000
        return cost, price.currency
