"""How the command prints: aligned tables for people, JSON for scripts.

Money is a JSON number of USD everywhere (`cost_usd`: 1.8843), never a string; dates and times are ISO
8601 strings. README ("Reports") documents it.
"""

import json
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_print(value: object) -> None:
    """Print one JSON document (records from the selectors serialize as they are)."""
    print(json.dumps(value, default=_json_default, indent=2))


def report_head(*, rows: list, as_json: bool, heading: str, what: str) -> bool:
    """Print JSON, or the heading (and say so when there is nothing). True when a table should follow."""
    if as_json:
        json_print(rows)
        return False
    print(heading)
    if not rows:
        print(f"no {what} recorded in this period")
    return bool(rows)


def _cell(value: object, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "int":
        return f"{round(value):,}"
    if kind == "usd":
        return f"{value:,.4f}"
    return str(value)


def table(rows: Iterable[dict], columns: list[tuple[str, str, str]]) -> None:
    """Print rows as aligned columns: (key, heading, format) with format 'text', 'int' or 'usd'."""
    cells = [[_cell(r.get(k), kind) for k, _, kind in columns] for r in rows]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, (_, h, _) in enumerate(columns)]
    for line in [[h for _, h, _ in columns], *cells]:
        print(
            "  ".join(
                v.ljust(w) if kind == "text" else v.rjust(w)
                for v, w, (_, _, kind) in zip(line, widths, columns, strict=True)
            ).rstrip()
        )
