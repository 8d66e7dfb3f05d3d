"""List prices of the models the assistants use, embedded so costs never need the network.

Money is `decimal.Decimal` in USD. The table's per-token prices (3.75e-06, 1e-07, ...) are read straight
from the JSON text into Decimal, so every product and sum is exact: a cost depends only on the token
counts and the table, never on summation order. Integer micro-dollars would not do: a cache read of
Haiku 4.5 costs 0.1 micro-dollar per token, so rounding each message would drift from ccusage.

The table records the date it is known to be right from (`as_of`). Every cost is reported together with
the table's `version`, so a stored cost can always say which prices produced it.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

PRICE_TABLE_PATH = Path(__file__).with_name("data") / "claude-prices.json"
# The other makers' models Cursor offers (OpenAI, Google, xAI); Cursor's Claude models use the table above.
CURSOR_PRICE_TABLE_PATH = Path(__file__).with_name("data") / "cursor-prices.json"

# Where the "above 200k tokens" prices start. LiteLLM names the tier in its keys; ccusage hard-codes the
# same 200_000 and counts it per token kind and per message (see `price_apply`).
TIER_THRESHOLD_TOKENS = 200_000

_DATE_SUFFIX = re.compile(r"-\d{8}$")
# Cursor's spelling of a model adds the effort or mode it runs in (`gpt-5-high`, `claude-4.5-opus-high-thinking`,
# `...-max`): the same model at the same list price per token.
_CURSOR_MODE_SUFFIX = re.compile(r"-(thinking|high|low|medium|xhigh|minimal|max|fast)$")
# ... and names Claude models version first: `claude-4.5-sonnet` is Anthropic's `claude-sonnet-4-5`.
_CURSOR_CLAUDE = re.compile(r"^claude-(\d+)(?:\.(\d+))?-(opus|sonnet|haiku)$")


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model's list prices in USD per token. `*_above_200k` are None where the model has no tier."""

    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal
    input_above_200k: Decimal | None = None
    output_above_200k: Decimal | None = None
    cache_write_5m_above_200k: Decimal | None = None
    cache_read_above_200k: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PriceTable:
    """A versioned price table. `version` names the exact table (valid-from date and content hash)."""

    version: str
    valid_from: date
    source: str
    models: MappingProxyType[str, ModelPrice]


def price_table_load(*, path: Path = PRICE_TABLE_PATH) -> PriceTable:
    """Read a price table (default: the embedded one). Loaded once per path and then shared: it is immutable.
    Raises ValueError when a model lacks one of the four base prices, since pricing its missing kind
    as free would under-report silently."""
    return _price_table_read(path)  # cached per path: called once per assistant message


@lru_cache(maxsize=8)
def _price_table_read(path: Path) -> PriceTable:
    raw = path.read_bytes()
    # parse_float=Decimal keeps the literal exactly as written (3.75e-06), with no binary float in between.
    document = json.loads(raw, parse_float=Decimal)
    valid_from = date.fromisoformat(document["as_of"])
    models = {name: _model_price(name=name, row=row) for name, row in document["models"].items()}
    digest = hashlib.sha256(raw).hexdigest()[:12]
    return PriceTable(
        version=f"{path.stem}@{valid_from.isoformat()}+{digest}",
        valid_from=valid_from,
        source=document.get("source", ""),
        models=MappingProxyType(models),
    )


def _model_price(*, name: str, row: dict[str, Any]) -> ModelPrice:
    base = {
        "input": "input_cost_per_token",
        "output": "output_cost_per_token",
        "cache_write_5m": "cache_creation_input_token_cost",
        "cache_read": "cache_read_input_token_cost",
    }
    missing = [key for key in base.values() if row.get(key) is None]
    if missing:
        raise ValueError(f"price table row {name!r} lacks {', '.join(missing)}")
    prices = {field: Decimal(row[key]) for field, key in base.items()}
    # A model without a 1-hour price (older ones) is priced at its 5-minute rate, as ccusage did before it
    # knew the 1-hour kind; every model in the fixture corpus that writes 1-hour cache has its own price.
    one_hour = row.get("cache_creation_input_token_cost_above_1hr")
    return ModelPrice(
        **prices,
        cache_write_1h=Decimal(one_hour) if one_hour is not None else prices["cache_write_5m"],
        input_above_200k=_optional(row.get("input_cost_per_token_above_200k_tokens")),
        output_above_200k=_optional(row.get("output_cost_per_token_above_200k_tokens")),
        cache_write_5m_above_200k=_optional(row.get("cache_creation_input_token_cost_above_200k_tokens")),
        cache_read_above_200k=_optional(row.get("cache_read_input_token_cost_above_200k_tokens")),
    )


def _optional(value: Decimal | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def price_find(*, table: PriceTable, model: str | None) -> ModelPrice | None:
    """The prices for `model`, or None when the table does not know it (the caller reports the cost as unknown).
    Tries the exact name, then the name without its `-YYYYMMDD` snapshot date (which names the same model).
    Unlike ccusage this does no substring matching: `claude-opus-4` must not borrow Opus 4.1's price."""
    if not model:
        return None
    price = table.models.get(model)
    if price is None:
        price = table.models.get(_DATE_SUFFIX.sub("", model))
    return price


def price_apply(
    *,
    price: ModelPrice,
    input_tokens: int,
    output_tokens: int,
    cache_write_5m_tokens: int,
    cache_write_1h_tokens: int,
    cache_read_tokens: int,
) -> Decimal:
    """The cost in USD of one API message's tokens, exact.

    The 200k tier follows ccusage (which is what the reference numbers come from), not LiteLLM:
    each token kind of each message is checked on its own, and only the tokens past 200_000 get the
    tier price. LiteLLM instead switches every token of the request to the tier once the prompt as a
    whole passes 200k. 1-hour cache writes have no tier price in LiteLLM, so they are charged flat."""
    return (
        _tiered(tokens=input_tokens, base=price.input, above=price.input_above_200k)
        + _tiered(tokens=output_tokens, base=price.output, above=price.output_above_200k)
        + _tiered(
            tokens=cache_write_5m_tokens, base=price.cache_write_5m, above=price.cache_write_5m_above_200k
        )
        + cache_write_1h_tokens * price.cache_write_1h
        + _tiered(tokens=cache_read_tokens, base=price.cache_read, above=price.cache_read_above_200k)
    )


def _tiered(*, tokens: int, base: Decimal, above: Decimal | None) -> Decimal:
    if above is None or tokens <= TIER_THRESHOLD_TOKENS:
        return tokens * base
    return TIER_THRESHOLD_TOKENS * base + (tokens - TIER_THRESHOLD_TOKENS) * above


def cursor_price_find(*, model: str | None) -> tuple[PriceTable, ModelPrice] | tuple[None, None]:
    """The table and prices for a model as Cursor names it, or (None, None) when no table knows it
    (`default`, Cursor's Auto, names no model; Cursor's own models have no list price). Only exact
    names after undoing Cursor's spelling (mode suffixes, version-first Claude names), never a guess."""
    if not model:
        return None, None
    name = model.lower()
    while (shorter := _CURSOR_MODE_SUFFIX.sub("", name)) != name:
        name = shorter
    claude = _CURSOR_CLAUDE.match(name)
    if claude:
        major, minor, family = claude.groups()
        version = f"{major}-{minor}" if minor else major
        table = price_table_load()
        # Anthropic's names put the family after the version up to Claude 3 (claude-3-5-sonnet-<date>).
        wanted = f"claude-{version}-{family}" if int(major) < 4 else f"claude-{family}-{version}"
        price = price_find(table=table, model=wanted) or _newest_snapshot(table, wanted)
        return (table, price) if price else (None, None)
    table = price_table_load(path=CURSOR_PRICE_TABLE_PATH)
    price = price_find(table=table, model=name)
    return (table, price) if price else (None, None)


def _newest_snapshot(table: PriceTable, name: str) -> ModelPrice | None:
    """The newest dated snapshot of `name` (`claude-sonnet-4` -> `claude-sonnet-4-20250514`)."""
    dated = sorted(k for k in table.models if _DATE_SUFFIX.sub("", k) == name)
    return table.models[dated[-1]] if dated else None
