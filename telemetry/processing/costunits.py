"""Costs summed in SQL as integers of 10^-8 USD, in two parts (bounds.py says why), for any reader: the
ORM's aggregates (bounds.cost_units_sums) and the standard library's sqlite3 (selectors/readonly.py)
write the same sums. Standard library only: the light read path of `blueplane report` imports it."""

from decimal import Decimal

COST_SCALE = 10**8
COST_SPLIT_BITS = 24
_COST_UNITS = "CAST(ROUND(cost_usd * 100000000) AS BIGINT)"
# Two columns of a SELECT over turns or rollups: the sums of their cost units, high and low part.
COST_UNITS_SQL = f"SUM({_COST_UNITS} >> {COST_SPLIT_BITS}), SUM({_COST_UNITS} & {2**COST_SPLIT_BITS - 1})"


def cost_units_total(high: int | None, low: int | None) -> Decimal:
    """The cost in USD of the two sums of COST_UNITS_SQL (or bounds.cost_units_sums)."""
    return Decimal((int(high or 0) << COST_SPLIT_BITS) + int(low or 0)) / COST_SCALE
