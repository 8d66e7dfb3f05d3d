"""The figures Claude Code's OpenTelemetry metrics give a session and an hour (Session.otel_*,
ActivityHour.otel_*), and API retries: shared by the session counters (recompute.py) and the hourly
rollups (rollups.py), so both count alike. docs/metrics.md, "one ledger with provenance"."""

from decimal import Decimal

from .bounds import INT64_MAX, counter_fit

# The metrics behind the session's and the hour's otel_* figures: (metric, kind) -> field.
OTEL_FIGURES = {
    ("claude_code.active_time.total", None): "otel_active_seconds",
    ("claude_code.lines_of_code.count", "added"): "otel_lines_added",
    ("claude_code.lines_of_code.count", "removed"): "otel_lines_removed",
    ("claude_code.code_edit_tool.decision", "accept"): "otel_edit_accepts",
    ("claude_code.code_edit_tool.decision", "reject"): "otel_edit_rejects",
}
OTEL_METRICS = sorted({name for name, _ in OTEL_FIGURES})
_SECONDS_PLACES = Decimal("0.001")
_SECONDS_MAX = Decimal("9999999999999.999")  # Decimal(16, 3)


def otel_figure(name: str, kind: str) -> str | None:
    """The otel_* field a metric point counts in, if any."""
    return OTEL_FIGURES.get((name, kind)) or OTEL_FIGURES.get((name, None))


def otel_figures_fit(sums: dict[str, Decimal]) -> dict:
    """Summed metric deltas as the otel_* columns hold them."""
    out: dict = {}
    for field in OTEL_FIGURES.values():
        value = sums.get(field, Decimal(0))
        if field == "otel_active_seconds":
            out[field] = min(max(value, Decimal(0)), _SECONDS_MAX).quantize(_SECONDS_PLACES)
        else:
            out[field] = counter_fit(int(value), INT64_MAX)
    return out


def api_retries(detail: dict | None) -> int:
    """Attempts after the first of a request (`detail.attempts`, from its llm_request span)."""
    attempts = (detail or {}).get("attempts")
    return attempts - 1 if type(attempts) is int and attempts > 1 else 0
