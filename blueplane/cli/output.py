"""How the command prints: Rich tables and charts for people, JSON for scripts.

JSON goes through json_print alone and never carries anything else (no colour, no progress, no
heading), so `blueplane ... --json | jq` always parses. Tables and charts use Rich, imported only when
one is drawn (~60 ms): colour is off with NO_COLOR (Rich reads it) or when stdout is not a terminal,
and then the table is as wide as its content instead of being cut to 80 columns.

Money is a JSON number of USD everywhere (`cost_usd`: 1.8843), never a string; dates and times are ISO
8601 strings. README ("Reports") documents it.
"""

import json
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_print(value: object) -> None:
    """Print one JSON document (records from the selectors serialize as they are)."""
    print(json.dumps(value, default=_json_default, indent=2))


def console() -> Any:
    """A Rich console on stdout: colour only on a terminal without NO_COLOR, and no width limit when
    writing to a pipe or file (a table there is read by a program or kept, not wrapped to 80)."""
    from rich.console import Console

    terminal = sys.stdout.isatty()
    return Console(
        no_color=bool(os.environ.get("NO_COLOR")) or not terminal,
        width=None if terminal else 10_000,
        highlight=False,
        soft_wrap=not terminal,
    )


def report_head(*, rows: list, as_json: bool, heading: str, what: str) -> bool:
    """Print JSON, or the heading (and say so when there is nothing). True when a table should follow."""
    if as_json:
        json_print(rows)
        return False
    print(heading)
    if not rows:
        print(f"no {what} recorded in this period")
    return bool(rows)


def cell(value: object, kind: str) -> str:
    """One value as a table shows it: kind 'text', 'int' (1,234) or 'usd' (1.2346); a string as it is."""
    if value is None:
        return "-"
    if isinstance(value, str):  # a number's place taken by a word ("missing")
        return value
    if kind == "int":
        return f"{round(value):,}"
    if kind == "usd":
        return f"{value:,.4f}"
    return str(value)


def table(
    rows: Iterable[dict],
    columns: Sequence[tuple[str, str, str]],
    *,
    title: str | None = None,
    total: dict | None = None,
) -> None:
    """Print rows as a table: columns are (key, heading, kind) with kind 'text', 'int' or 'usd' (numbers
    right-aligned); `total`, when given, is a last row set off by a rule."""
    from rich import box
    from rich.table import Table

    grid = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for _, heading, kind in columns:
        grid.add_column(heading, justify="left" if kind == "text" else "right", no_wrap=True)
    for row in rows:
        grid.add_row(*(cell(row.get(k), kind) for k, _, kind in columns))
    if total is not None:
        grid.add_section()
        grid.add_row(*(cell(total.get(k), kind) for k, _, kind in columns), style="bold")
    console().print(grid)


BLOCKS = " ▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    """One character per value, its height in eighths of the largest (zero is blank)."""
    top = max(values, default=0) or 1
    return "".join(BLOCKS[min(8, round(8 * v / top))] if v > 0 else " " for v in values)


def bar(value: float, top: float, width: int = 24) -> str:
    """A horizontal bar of `width` cells at full scale `top`, in eighths of a cell."""
    if top <= 0 or value <= 0:
        return ""
    eighths = max(1, round(width * 8 * min(value, top) / top))
    full, part = divmod(eighths, 8)
    return "█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")
