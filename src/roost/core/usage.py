"""Token usage and cost of model calls."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Usage(BaseModel):
    """Tokens of one or more model calls; ``cost`` is filled from a price table."""

    model_config = ConfigDict(defer_build=True)  # validator built on first use (0097)
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cost: float | None = None
    currency: str | None = None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        cost: float | None
        currency = self.currency or other.currency
        if self.cost is None and other.cost is None:
            cost = None
        elif self.currency and other.currency and self.currency != other.currency:
            cost, currency = None, None  # mixed currencies do not add up
        else:
            cost = (self.cost or 0.0) + (other.cost or 0.0)
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cost=cost,
            currency=currency,
        )
