"""The embedded price table and how a message's tokens are priced."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from telemetry.processing.pricing import (
    CURSOR_PRICE_TABLE_PATH,
    PRICE_TABLE_PATH,
    cursor_price_find,
    price_apply,
    price_find,
    price_table_load,
)


def test_table_version_names_its_valid_from_date_and_content(tmp_path: Path) -> None:
    table = price_table_load()
    assert table.valid_from.isoformat() == "2026-11-25"
    assert table.version.startswith("claude-prices@2026-11-25+")
    document = json.loads(PRICE_TABLE_PATH.read_text())
    document["models"]["claude-haiku-4-5"]["input_cost_per_token"] = 2e-06
    edited = tmp_path / "prices.json"
    edited.write_text(json.dumps(document))
    assert price_table_load(path=edited).version != table.version


def test_prices_are_exact_decimals() -> None:
    price = price_table_load().models["claude-sonnet-4-5-20250929"]
    assert price.cache_write_5m == Decimal("3.75e-06")
    assert price.cache_write_1h == Decimal("6e-06")
    assert price.cache_read == Decimal("3e-07")


def test_one_hour_cache_write_has_its_own_price() -> None:
    price = price_table_load().models["claude-opus-4-5-20251101"]
    cost = price_apply(
        price=price,
        input_tokens=0,
        output_tokens=0,
        cache_write_5m_tokens=1000,
        cache_write_1h_tokens=1000,
        cache_read_tokens=0,
    )
    assert cost == Decimal("0.00625") + Decimal("0.01")


def test_model_without_one_hour_price_uses_the_five_minute_one() -> None:
    price = price_table_load().models["claude-opus-4-1-20250805"]
    assert price.cache_write_1h == price.cache_write_5m == Decimal("1.875e-05")


def test_above_200k_tier_applies_per_kind_to_the_tokens_past_the_threshold() -> None:
    # As ccusage does; LiteLLM itself would price every token at the tier once the prompt passes 200k.
    price = price_table_load().models["claude-sonnet-4-20250514"]

    def cost(**tokens: int) -> Decimal:
        counts = dict.fromkeys(
            (
                "input_tokens",
                "output_tokens",
                "cache_write_5m_tokens",
                "cache_write_1h_tokens",
                "cache_read_tokens",
            ),
            0,
        )
        return price_apply(price=price, **{**counts, **tokens})

    assert cost(input_tokens=200_000) == Decimal("0.6")
    assert cost(input_tokens=300_000) == Decimal("0.6") + Decimal("0.6")
    assert cost(output_tokens=250_000) == Decimal("3") + Decimal("1.125")
    assert cost(cache_write_5m_tokens=300_000) == Decimal("0.75") + Decimal("0.75")
    assert cost(cache_read_tokens=250_000) == Decimal("0.06") + Decimal("0.03")
    # Each kind on its own: 150k input plus 150k cache read stays below the tier.
    assert cost(input_tokens=150_000, cache_read_tokens=150_000) == Decimal("0.45") + Decimal("0.045")


def test_model_without_tier_is_priced_flat_above_200k() -> None:
    price = price_table_load().models["claude-sonnet-4-5-20250929"]
    cost = price_apply(
        price=price,
        input_tokens=300_000,
        output_tokens=0,
        cache_write_5m_tokens=0,
        cache_write_1h_tokens=0,
        cache_read_tokens=0,
    )
    assert cost == Decimal("0.9")


def test_find_matches_exact_names_and_undated_aliases_only() -> None:
    table = price_table_load()
    assert (
        price_find(table=table, model="claude-opus-4-5-20251101") is table.models["claude-opus-4-5-20251101"]
    )
    assert price_find(table=table, model="claude-sonnet-4-6-20991231") is table.models["claude-sonnet-4-6"]
    assert price_find(table=table, model="claude-opus-4") is None
    assert price_find(table=table, model="<synthetic>") is None
    assert price_find(table=table, model=None) is None


def test_row_missing_a_base_price_is_rejected(tmp_path: Path) -> None:
    document = json.loads(PRICE_TABLE_PATH.read_text())
    del document["models"]["claude-haiku-4-5"]["cache_read_input_token_cost"]
    broken = tmp_path / "prices.json"
    broken.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="claude-haiku-4-5"):
        price_table_load(path=broken)


@pytest.mark.parametrize(
    ("cursor_name", "table", "model"),
    [
        ("gpt-5", "cursor-prices", "gpt-5"),
        ("gpt-5-high", "cursor-prices", "gpt-5"),  # the effort Cursor runs it at: the same list price
        ("GPT-4.1", "cursor-prices", "gpt-4.1"),
        ("gpt-5-codex-high", "cursor-prices", "gpt-5-codex"),
        ("claude-4.5-sonnet-thinking", "claude-prices", "claude-sonnet-4-5"),
        ("claude-4.5-opus-high-thinking", "claude-prices", "claude-opus-4-5"),
        ("claude-4-sonnet", "claude-prices", "claude-sonnet-4-20250514"),  # the newest snapshot
        ("claude-3.7-sonnet", "claude-prices", "claude-3-7-sonnet-20250219"),
    ],
)
def test_cursor_names_find_the_makers_list_price(cursor_name: str, table: str, model: str) -> None:
    found, price = cursor_price_find(model=cursor_name)
    assert found.version.startswith(f"{table}@")
    assert price is found.models[model]


@pytest.mark.parametrize(
    "cursor_name", ["default", "composer-1", "", None, "gpt-5-turbo-ultra", "claude-4.5-poet"]
)
def test_cursor_names_without_a_list_price_have_no_cost(cursor_name: str | None) -> None:
    # `default` is Cursor's Auto: it names no model, so no price is guessed for it.
    assert cursor_price_find(model=cursor_name) == (None, None)


def test_cursor_table_loads_every_row_and_is_versioned_apart_from_claudes() -> None:
    table = price_table_load(path=CURSOR_PRICE_TABLE_PATH)
    assert table.version.startswith("cursor-prices@") and "gpt-4.1" in table.models
    assert not any(name.startswith("claude-") for name in table.models)
