"""Price table lookup, overrides from dicts and ROOST_PRICES, and cost of a call."""

from __future__ import annotations

from pathlib import Path

import pytest

from roost.core import ConfigError, Usage
from roost.core.settings import get_settings
from roost.models import Price, PriceTable, default_price_table
from roost.models.pricing import self_hosted_price_table


def test_lookup_exact_then_longest_prefix() -> None:
    table = default_price_table()
    assert table.lookup("gpt-4o-mini") == table["gpt-4o-mini"]
    assert table.lookup("gpt-4o-mini-2024-07-18") == table["gpt-4o-mini"]
    assert table.lookup("gpt-4o-2024-08-06") == table["gpt-4o"]
    assert table.lookup("claude-sonnet-4-20250514") == table["claude-sonnet-4"]
    assert table.lookup("Qwen/Qwen2.5-72B-Instruct") == table["qwen2.5-72b-instruct"]
    assert table.lookup("moonshot-v1-8k").currency == "CNY"  # type: ignore[union-attr]
    assert table.lookup("deepseek-reasoner").currency == "CNY"  # type: ignore[union-attr]
    assert table.lookup("qwen2.5-coder-0.5b") == Price(0.0, 0.0, "USD", 0.0)
    assert table.lookup("totally-unknown") is None


def test_cost_counts_cached_tokens_at_their_price() -> None:
    table = PriceTable({"m": Price(1.0, 2.0, "CNY", cache_read_per_1k=0.1)})
    usage = table.cost("m", Usage(input_tokens=3000, output_tokens=500, cache_read_tokens=1000))
    assert usage.cost == pytest.approx(2 * 1.0 + 1 * 0.1 + 0.5 * 2.0)
    assert usage.currency == "CNY"
    unknown = table.cost("other", Usage(input_tokens=10))
    assert unknown.cost is None and unknown.currency is None


def test_overrides_from_dict_and_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = default_price_table().update(
        {"gpt-4o": {"input_per_1m": 1.0, "output_per_1m": 2.0, "currency": "usd"}}
    )
    assert table["gpt-4o"] == Price(0.001, 0.002, "USD")
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        "prices:\n  my-finetune: {input_per_1k: 0.5, output_per_1k: 1.5, currency: EUR}\n"
        "  gpt-4o-mini: {input_per_1k: 9, output_per_1k: 9}\n"
    )
    monkeypatch.setenv("ROOST_PRICES", str(prices))
    get_settings.cache_clear()  # settings are read once per process
    table = default_price_table()
    assert table.lookup("my-finetune-v2") == Price(0.5, 1.5, "EUR")
    assert table["gpt-4o-mini"].input_per_1k == 9
    assert self_hosted_price_table().lookup("my-finetune") == Price(0.5, 1.5, "EUR")
    assert self_hosted_price_table().lookup("llama-3-8b") == Price(0.0, 0.0, "USD", 0.0)


def test_bad_price_files_are_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as info:
        PriceTable.from_dict({"m": {"input_per_1k": 1}})
    assert "output_per_1k" in str(info.value)
    with pytest.raises(ConfigError):
        PriceTable.from_dict({"m": {"input_per_1k": 1, "output_per_1k": 1, "colour": 3}})
    with pytest.raises(ConfigError):
        PriceTable.from_dict({"m": {"input_per_1k": -1, "output_per_1k": 1}})
    monkeypatch.setenv("ROOST_PRICES", str(tmp_path / "missing.yaml"))
    get_settings.cache_clear()
    with pytest.raises(ConfigError) as info:
        default_price_table()
    assert "ROOST_PRICES" in str(info.value)
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    monkeypatch.setenv("ROOST_PRICES", str(bad))
    get_settings.cache_clear()
    with pytest.raises(ConfigError):
        default_price_table()
