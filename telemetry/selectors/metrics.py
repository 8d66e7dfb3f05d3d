"""Figures for /metrics that the health report does not carry: the fast path's counters (kept in Redis
by the fast path, another process) and all-time usage and tool totals from the hourly rollups.

Label values stay bounded: at most LABEL_VALUES_MAX models and tools each (by volume), the rest summed
under "other"; platforms and sources are closed sets; no session or project ids.
"""

from decimal import Decimal
from typing import TypedDict

import redis
from django.db.models import Sum

from ..models import ToolHour, UsageHour
from ..scope import refuse_if_scoped
from ..wire import BATCH_LATENCY_BOUNDS_S, FASTPATH_METRICS, OTLP_METRICS

LABEL_VALUES_MAX = 100
OTHER = "other"
TOKEN_KINDS = ("input", "output", "cache_write", "cache_read")


class FastPathCounters(TypedDict):
    events: dict[tuple[str, str], int]  # (platform, source) -> events committed
    inserted: int  # events new to the store
    batches: int
    # (upper bound in s, batches at or under it): cumulative, +Inf last
    latency_buckets: list[tuple[float, int]]
    latency_sum_s: float


def fastpath_counters(client: redis.Redis) -> FastPathCounters:
    """The fast path's counters since they were first written (they survive restarts: Redis keeps them)."""
    refuse_if_scoped("the fast path's counters")
    raw = {
        k.decode(): int(v) for k, v in client.hgetall(FASTPATH_METRICS).items() if v.lstrip(b"-").isdigit()
    }
    events: dict[tuple[str, str], int] = {}
    for name, value in raw.items():
        if name.startswith("events:"):
            _, platform, source = name.split(":", 2)
            events[(platform, source)] = value
    buckets = []
    running = 0
    for bound in (*BATCH_LATENCY_BOUNDS_S, float("inf")):
        running += raw.get(f"latency_le:{bound:g}" if bound != float("inf") else "latency_le:+Inf", 0)
        buckets.append((bound, running))
    return FastPathCounters(
        events=events,
        inserted=raw.get("inserted", 0),
        batches=raw.get("batches", 0),
        latency_buckets=buckets,
        latency_sum_s=raw.get("latency_us_sum", 0) / 1e6,
    )


class OtlpCounters(TypedDict):
    requests: dict[str, int]  # signal (logs, metrics, traces) -> requests answered 200
    records: dict[str, int]  # signal -> records put on the stream (or spooled)
    refused: dict[str, int]  # signal -> records refused in a partialSuccess
    errors: dict[str, int]  # HTTP status ("400", "413", ...) -> requests answered with it
    spooled: int  # requests that went to the spool because Redis could not take them


def otlp_counters(client: redis.Redis) -> OtlpCounters:
    """The OTLP receiver's counters since they were first written (wire.OTLP_METRICS)."""
    refuse_if_scoped("the OTLP receiver's counters")
    out = OtlpCounters(requests={}, records={}, refused={}, errors={}, spooled=0)
    for key, value in client.hgetall(OTLP_METRICS).items():
        name, _, label = key.decode().partition(":")
        if not value.lstrip(b"-").isdigit():
            continue
        if name == "spooled":
            out["spooled"] = int(value)
        elif name in ("requests", "records", "refused", "errors") and label:
            out[name][label] = int(value)
    return out


class ModelUsage(TypedDict):
    platform: str
    model: str  # "" for responses without a model name
    messages: int
    tokens: dict[str, int]  # TOKEN_KINDS -> tokens
    cost_usd: Decimal


class ToolTotals(TypedDict):
    platform: str
    tool_name: str
    calls: int
    failures: int
    rejections: int
    interruptions: int


def usage_by_model() -> list[ModelUsage]:
    """All-time messages, tokens by kind and cost per platform and model (one GROUP BY over the hourly
    rollups)."""
    rows = (
        UsageHour.objects.values("platform", "model")
        .annotate(
            messages_sum=Sum("messages"),
            input_sum=Sum("input_tokens"),
            output_sum=Sum("output_tokens"),
            cache_write_sum=Sum("cache_write_tokens"),
            cache_read_sum=Sum("cache_read_tokens"),
            cost_sum=Sum("cost_usd"),
        )
        .order_by()
    )
    out = [
        ModelUsage(
            platform=r["platform"],
            model=r["model"],
            messages=r["messages_sum"] or 0,
            tokens={kind: r[f"{kind}_sum"] or 0 for kind in TOKEN_KINDS},
            cost_usd=r["cost_sum"] or Decimal(0),
        )
        for r in rows
    ]
    return _bounded(out, key="model", weight=lambda u: sum(u["tokens"].values()), merge=_usage_merge)


def tool_totals() -> list[ToolTotals]:
    """All-time calls and outcomes per platform and tool (one GROUP BY over the hourly rollups)."""
    rows = (
        ToolHour.objects.values("platform", "tool_name")
        .annotate(
            calls_sum=Sum("calls"),
            failures_sum=Sum("failures"),
            rejections_sum=Sum("rejections"),
            interruptions_sum=Sum("interruptions"),
        )
        .order_by()
    )
    out = [
        ToolTotals(
            platform=r["platform"],
            tool_name=r["tool_name"],
            calls=r["calls_sum"] or 0,
            failures=r["failures_sum"] or 0,
            rejections=r["rejections_sum"] or 0,
            interruptions=r["interruptions_sum"] or 0,
        )
        for r in rows
    ]
    return _bounded(out, key="tool_name", weight=lambda t: t["calls"], merge=_tools_merge)


def _bounded(rows: list, *, key: str, weight, merge) -> list:
    """The LABEL_VALUES_MAX heaviest values of `key` kept as they are, the others merged per platform
    under OTHER."""
    totals: dict[str, int] = {}
    for row in rows:
        totals[row[key]] = totals.get(row[key], 0) + weight(row)
    if len(totals) <= LABEL_VALUES_MAX:
        return rows
    kept = set(sorted(totals, key=lambda name: (-totals[name], name))[:LABEL_VALUES_MAX])
    out = [row for row in rows if row[key] in kept]
    others: dict[str, dict] = {}
    for row in rows:
        if row[key] in kept:
            continue
        acc = others.get(row["platform"])
        if acc is None:
            others[row["platform"]] = {
                **row,
                key: OTHER,
                **({"tokens": dict(row["tokens"])} if "tokens" in row else {}),
            }
        else:
            merge(acc, row)
    return out + list(others.values())


def _usage_merge(acc: ModelUsage, row: ModelUsage) -> None:
    acc["messages"] += row["messages"]
    acc["cost_usd"] += row["cost_usd"]
    for kind in TOKEN_KINDS:
        acc["tokens"][kind] += row["tokens"][kind]


def _tools_merge(acc: ToolTotals, row: ToolTotals) -> None:
    for measure in ("calls", "failures", "rejections", "interruptions"):
        acc[measure] += row[measure]
