"""Model prices and the cost of a call.

Built-in list prices (per 1k tokens) for common hosted models, in the currency the vendor
bills in (USD for OpenAI/Anthropic, CNY for DashScope/DeepSeek/Moonshot). Prices change:
override or extend them with a dict or a YAML file named by ``ROOST_PRICES``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roost.core import ConfigError, Usage


@dataclass(frozen=True)
class Price:
    """Price of 1k input / output tokens; ``cache_read_per_1k`` for cached prompt tokens."""

    input_per_1k: float
    output_per_1k: float
    currency: str = "USD"
    cache_read_per_1k: float | None = None

    @classmethod
    def per_million(
        cls, input: float, output: float, currency: str = "USD", cache_read: float | None = None
    ) -> Price:
        return cls(
            input / 1000, output / 1000, currency, None if cache_read is None else cache_read / 1000
        )

    def cost(self, usage: Usage) -> float:
        cached = min(usage.cache_read_tokens, usage.input_tokens)
        fresh = usage.input_tokens - cached
        cache_price = (
            self.input_per_1k if self.cache_read_per_1k is None else self.cache_read_per_1k
        )
        return (
            fresh * self.input_per_1k
            + cached * cache_price
            + usage.output_tokens * self.output_per_1k
        ) / 1000


_M = Price.per_million
FREE = Price(0.0, 0.0, "USD", 0.0)

BUILTIN_PRICES: dict[str, Price] = {
    # OpenAI (USD)
    "gpt-4o": _M(2.50, 10.00, "USD", 1.25),
    "gpt-4o-mini": _M(0.15, 0.60, "USD", 0.075),
    "gpt-4.1": _M(2.00, 8.00, "USD", 0.50),
    "gpt-4.1-mini": _M(0.40, 1.60, "USD", 0.10),
    "gpt-4.1-nano": _M(0.10, 0.40, "USD", 0.025),
    "o3-mini": _M(1.10, 4.40, "USD", 0.55),
    "o3": _M(2.00, 8.00, "USD", 0.50),
    "o4-mini": _M(1.10, 4.40, "USD", 0.275),
    # Anthropic (USD)
    "claude-3-5-sonnet": _M(3.00, 15.00, "USD", 0.30),
    "claude-3-5-haiku": _M(0.80, 4.00, "USD", 0.08),
    "claude-3-7-sonnet": _M(3.00, 15.00, "USD", 0.30),
    "claude-3-haiku": _M(0.25, 1.25, "USD", 0.03),
    "claude-3-opus": _M(15.00, 75.00, "USD", 1.50),
    "claude-sonnet-4": _M(3.00, 15.00, "USD", 0.30),
    "claude-opus-4": _M(15.00, 75.00, "USD", 1.50),
    "claude-opus-4-5": _M(5.00, 25.00, "USD", 0.50),
    "claude-haiku-4": _M(1.00, 5.00, "USD", 0.10),
    # Alibaba DashScope (CNY)
    "qwen-max": _M(2.40, 9.60, "CNY"),
    "qwen-plus": _M(0.80, 2.00, "CNY"),
    "qwen-turbo": _M(0.30, 0.60, "CNY"),
    "qwen-long": _M(0.50, 2.00, "CNY"),
    "qwen2.5-72b-instruct": _M(4.00, 12.00, "CNY"),
    "qwen2.5-32b-instruct": _M(2.00, 6.00, "CNY"),
    "qwen2.5-14b-instruct": _M(1.00, 3.00, "CNY"),
    "qwen2.5-7b-instruct": _M(0.50, 1.00, "CNY"),
    "qwen2.5-3b-instruct": _M(0.30, 0.90, "CNY"),
    # DeepSeek (CNY)
    "deepseek-chat": _M(2.00, 8.00, "CNY", 0.50),
    "deepseek-reasoner": _M(4.00, 16.00, "CNY", 1.00),
    # Moonshot (CNY)
    "moonshot-v1-8k": _M(12.00, 12.00, "CNY"),
    "moonshot-v1-32k": _M(24.00, 24.00, "CNY"),
    "moonshot-v1-128k": _M(60.00, 60.00, "CNY"),
    # Local models run on your own hardware: no per-token bill.
    "local": FREE,
    "qwen2.5-coder-0.5b": FREE,
    "qwen2.5-coder-1.5b": FREE,
    "smollm2": FREE,
}


class PriceTable(Mapping[str, Price]):
    """Prices by model name: exact match first, then the longest matching prefix.

    Names are compared case-insensitively and an ``org/`` prefix (``Qwen/…``) is ignored,
    so ``claude-sonnet-4-20250514`` finds ``claude-sonnet-4``. ``default`` prices every
    model not in the table (``None``: cost unknown, ``usage.cost`` stays empty).
    """

    def __init__(
        self, entries: Mapping[str, Price] | None = None, *, default: Price | None = None
    ) -> None:
        self._entries: dict[str, Price] = {}
        self.default = default
        if entries:
            self.update(entries)

    # -- Mapping ------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Price:
        return self._entries[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    # -- building -----------------------------------------------------------------------
    def update(self, entries: Mapping[str, Price | Mapping[str, Any]]) -> PriceTable:
        for name, value in entries.items():
            self._entries[str(name).lower()] = (
                value if isinstance(value, Price) else _price_from_mapping(str(name), value)
            )
        return self

    def copy(self) -> PriceTable:
        return PriceTable(self._entries, default=self.default)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, default: Price | None = None) -> PriceTable:
        """Build from ``{"model": {"input_per_1k": …, "output_per_1k": …, "currency": …}}``."""
        return cls(default=default).update(data)

    @classmethod
    def from_yaml(cls, path: str | Path, *, default: Price | None = None) -> PriceTable:
        return cls(default=default).update(_read_yaml(Path(path)))

    # -- use ----------------------------------------------------------------------------
    def lookup(self, model: str | None) -> Price | None:
        if not model:
            return self.default
        for name in _candidates(model):
            if name in self._entries:
                return self._entries[name]
            best = max(
                (key for key in self._entries if name.startswith(key)), key=len, default=None
            )
            if best is not None:
                return self._entries[best]
        return self.default

    def cost(self, model: str | None, usage: Usage) -> Usage:
        """``usage`` with ``cost``/``currency`` filled when the model's price is known."""
        price = self.lookup(model)
        if price is None:
            return usage
        return usage.model_copy(update={"cost": price.cost(usage), "currency": price.currency})


def _candidates(model: str) -> list[str]:
    name = model.strip().lower()
    out = [name]
    if "/" in name:
        out.append(name.rsplit("/", 1)[1])
    return out


_PRICE_KEYS = {"input_per_1k", "output_per_1k", "input_per_1m", "output_per_1m"}


def _price_from_mapping(name: str, value: Mapping[str, Any]) -> Price:
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"price for {name!r} must be a mapping, got {type(value).__name__}",
            hint="write e.g. {input_per_1k: 0.001, output_per_1k: 0.002, currency: USD}",
        )
    unknown = set(value) - _PRICE_KEYS - {"currency", "cache_read_per_1k", "cache_read_per_1m"}
    if unknown:
        raise ConfigError(
            f"price for {name!r} has unknown keys {sorted(unknown)}",
            hint=f"allowed keys: {sorted(_PRICE_KEYS | {'currency', 'cache_read_per_1k', 'cache_read_per_1m'})}",
        )
    try:
        scale = 1.0 if "input_per_1k" in value or "output_per_1k" in value else 1 / 1000
        suffix = "1k" if scale == 1.0 else "1m"
        inp = float(value[f"input_per_{suffix}"]) * scale
        out = float(value[f"output_per_{suffix}"]) * scale
        cache_key = f"cache_read_per_{suffix}"
        cache = float(value[cache_key]) * scale if cache_key in value else None
    except KeyError as exc:
        raise ConfigError(
            f"price for {name!r} misses {exc.args[0]!r}",
            hint="give both input_per_1k and output_per_1k (or *_per_1m)",
        ) from None
    except (TypeError, ValueError):
        raise ConfigError(
            f"price for {name!r} must be numbers", hint="e.g. input_per_1k: 0.001"
        ) from None
    if min(inp, out, cache or 0.0) < 0:
        raise ConfigError(f"price for {name!r} is negative", hint="prices must be >= 0")
    currency = str(value.get("currency", "USD")).upper()
    return Price(inp, out, currency, cache)


def _read_yaml(path: Path) -> Mapping[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot read price file {path}: {exc.strerror}", hint="check ROOST_PRICES"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"price file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"price file {path} must map model names to prices",
            hint="e.g. 'gpt-4o: {input_per_1k: 0.0025, output_per_1k: 0.01}'",
        )
    prices = data.get("prices", data)
    if not isinstance(prices, Mapping):
        raise ConfigError(f"'prices' in {path} must be a mapping")
    return prices


@functools.lru_cache(maxsize=8)
def _file_entries(path: str, mtime_ns: int) -> dict[str, Price]:
    return dict(PriceTable.from_yaml(path))


def user_prices() -> dict[str, Price]:
    """Entries from the YAML file named by ``ROOST_PRICES`` (empty when unset)."""
    from roost.core.settings import get_settings

    file = get_settings().prices
    if file is None:
        return {}
    path = str(file)
    try:
        mtime = Path(path).stat().st_mtime_ns
    except OSError as exc:
        raise ConfigError(
            f"ROOST_PRICES points to {path}, which cannot be read ({exc.strerror})",
            hint="fix the path or unset ROOST_PRICES",
        ) from None
    return _file_entries(path, mtime)


def default_price_table() -> PriceTable:
    """Built-in prices overlaid with ``ROOST_PRICES`` (a fresh table: safe to modify)."""
    return PriceTable(BUILTIN_PRICES).update(user_prices())


def self_hosted_price_table() -> PriceTable:
    """For self-hosted endpoints: only ``ROOST_PRICES`` entries; everything else costs 0."""
    return PriceTable(user_prices(), default=FREE)
