"""Claude Code's OpenTelemetry export as a third source, through the real fast path and the slow path's
catch-up (in-process): the claude-otel fixture's transcripts, hooks and OTLP exports must give one
ledger with the provenance of every number, reproduce the fixture's expected.json, and give the same
rows whatever order the three sources arrive in (docs/metrics.md, "one ledger with provenance")."""

import random
from collections import defaultdict
from decimal import Decimal

import orjson
import pytest
from django.db.models import Sum

from telemetry import tasks, wire
from telemetry.models import (
    ActivityHour,
    ClaudeRawTrace,
    DataIssue,
    MetricPoint,
    OtelSequence,
    RawChunk,
    Session,
    SessionProgress,
    ToolCall,
    Turn,
    UsageHour,
)
from telemetry.processing import rebuild
from tests.support.otel import EXPECTED, HOOK_CALLS
from tests.support.otel_sources import hook_envelopes, otel_envelopes, transcript_envelopes
from tests.telemetry.processing.test_rebuild import DERIVED, _columns
from tests.telemetry.test_consumer import drain, make_consumer

pytestmark = pytest.mark.django_db

COMPACT = "req_01DVX0dnsA9grOhO1VQC0Qd8"  # the /compact summary call: no transcript line has it
API_ERROR = "req_01i0LBegQ26m8pBVcllIdyNH"
THROWAWAY = "cff5b819-9721-4b2b-a4e1-a5fff767d02e"  # --continue's id before it resolves the session
REJECTED_SESSION = "8339f394-e3a4-42eb-b5f5-e423f19027c0"  # 07-permission-denied
ERROR_SESSION = "253499fb-a2dc-4ff8-b7e3-23786c5cf80a"  # 06-api-error
USAGE = EXPECTED["usage"]["totals_by_source_and_model"]
METRICS = EXPECTED["otlp"]["metrics"]
TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens")


@pytest.fixture(scope="module")
def sources() -> dict[str, list[dict]]:
    return {"transcript": transcript_envelopes(), "hook": hook_envelopes(), "otel": otel_envelopes()}


def feed(redis, envelopes: list[dict], *, chunks: int = 1) -> None:
    """Producers' XADDs -> the fast path -> the slow path's task until no session is dirty; in `chunks`
    parts, each caught up before the next is sent."""
    size = -(-len(envelopes) // chunks) if envelopes else 1
    for start in range(0, len(envelopes), size):
        pipe = redis.pipeline(transaction=False)
        for envelope in envelopes[start : start + size]:
            pipe.xadd(wire.EVENTS_STREAM, {"event": orjson.dumps(envelope)})
        pipe.execute()
        drain(make_consumer(redis))
        for _ in range(20):
            if not redis.hlen(wire.DIRTY_SESSIONS):
                break
            tasks.sessions_catch_up()
        assert not redis.hlen(wire.DIRTY_SESSIONS)


def reset(redis) -> None:
    for model in (*reversed(DERIVED), SessionProgress, ClaudeRawTrace, RawChunk):
        model.objects.all().delete()
    redis.flushdb()


def dump() -> dict[str, list]:
    """Every derived table, ids and raw row numbers left out (they depend on arrival order)."""
    out = {}
    for model in DERIVED:
        columns = [c for c in _columns(model) if c != "event_seq"]
        out[model._meta.db_table] = sorted(model.objects.values_list(*columns), key=repr)
    return out


def everything(sources: dict) -> list[dict]:
    return sources["transcript"] + sources["hook"] + sources["otel"]


def per_model(rows, fields) -> dict[str, dict[str, int]]:
    out: dict = defaultdict(lambda: dict.fromkeys(fields, 0))
    for model, *values in rows:
        for name, value in zip(fields, values, strict=True):
            out[model][name] += value
    return dict(out)


def calls() -> object:
    return Turn.objects.filter(session__platform="claude_code", kind="assistant_response")


# --- the fixture's ground truth ---------------------------------------------------------------------


def test_three_sources_reproduce_expected_usage_by_source(redis, sources):
    feed(redis, everything(sources))
    # Transcript numbers, once per API call (what the transcripts say, deduplicated).
    transcript = per_model(
        calls().filter(source__in=["transcript", "both", "conflict"]).values_list("model", *TOKENS), TOKENS
    )
    # OTel's own reading of every call it saw (api_request), Claude Code's cost included.
    otel: dict = defaultdict(lambda: dict.fromkeys((*TOKENS, "cost_usd"), Decimal(0)))
    for model, reading in calls().exclude(otel_usage=None).values_list("model", "otel_usage"):
        for name in (*TOKENS, "cost_usd"):
            otel[model][name] += Decimal(str(reading[name]))
    metric_tokens: dict = defaultdict(lambda: defaultdict(Decimal))
    for model, kind, total in (
        MetricPoint.objects.filter(name="claude_code.token.usage")
        .values_list("model", "kind")
        .annotate(Sum("delta"))
    ):
        metric_tokens[model][kind] += total
    metric_cost = dict(
        MetricPoint.objects.filter(name="claude_code.cost.usage").values_list("model").annotate(Sum("delta"))
    )
    models = {key.split(" | ")[1] for key in USAGE} - {"<synthetic>"}
    assert set(otel) == models
    for model in models:
        want = USAGE[f"transcript_dedup | {model}"]
        assert transcript[model] == {
            "input_tokens": want["input_tokens"], "output_tokens": want["output_tokens"],
            "cache_read_tokens": want["cache_read_tokens"], "cache_write_tokens": want["cache_creation_tokens"],
            "cache_write_1h_tokens": want["cache_creation_1h_tokens"],
        }  # fmt: skip
        want = USAGE[f"otel_api_request | {model}"]
        got = otel[model]
        assert [got[n] for n in TOKENS] == [
            want["input_tokens"], want["output_tokens"], want["cache_read_tokens"],
            want["cache_creation_tokens"], want["cache_creation_1h_tokens"],
        ]  # fmt: skip
        assert abs(got["cost_usd"] - Decimal(str(want["cost_usd"]))) <= Decimal("1e-6")
        want = USAGE[f"metric_token_usage | {model}"]
        assert {k: float(v) for k, v in metric_tokens[model].items()} == {
            "input": want["input_tokens"], "output": want["output_tokens"],
            "cacheRead": want["cache_read_tokens"], "cacheCreation": want["cache_creation_tokens"],
        }  # fmt: skip
        want = Decimal(str(USAGE[f"metric_cost_usage | {model}"]["cost_usd"]))
        assert abs(metric_cost[model] - want) <= Decimal("1e-6")
    # The ledger (UsageHour, every source) counts each call once: OTel saw them all, so its totals.
    ledger = per_model(
        UsageHour.objects.filter(platform="claude_code").values_list(
            "model", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"
        ),
        TOKENS[:4],
    )
    assert ledger == {m: {n: int(otel[m][n]) for n in TOKENS[:4]} for m in models}
    by_source = dict(UsageHour.objects.values_list("source").annotate(Sum("messages")))
    assert by_source == {"both": 43, "otel": 1}


def test_the_compact_call_is_there_only_through_otel_priced_by_blueplane(redis, sources):
    feed(redis, everything(sources))
    compact = calls().get(request_id=COMPACT)
    assert (compact.source, compact.key, compact.model) == (
        "otel",
        f":{COMPACT}",
        "claude-sonnet-4-5-20250929",
    )
    assert (compact.input_tokens, compact.output_tokens, compact.cache_read_tokens, compact.cache_write_tokens) == (
        6, 49, 0, 24168,
    )  # fmt: skip
    assert compact.cost_usd == Decimal("0.091383")  # Blueplane's price table, as for every call
    assert compact.otel_usage["cost_usd"] == "0.091383"  # Claude Code's own figure, kept beside it
    assert compact.price_table


def test_join_counts_match_expected(redis, sources):
    feed(redis, everything(sources))
    joins = EXPECTED["joins"]
    api = joins["request_id"]["otel_api_request_vs_transcript"]
    assert calls().filter(source="both").count() == api["both"] == 43
    assert list(calls().filter(source="otel").values_list("request_id", flat=True)) == api["only_otel"]
    assert not calls().filter(source__in=["transcript", "conflict"]).exists()
    # The transcript's only request OTel has no api_request for is the API error: one turn, both sources.
    error = Turn.objects.get(kind="api_error")
    assert [error.request_id] == api["only_transcript"] == [API_ERROR]
    assert error.key == f"api_error::{API_ERROR}" and error.detail["sources"] == ["otel", "transcript"]
    tool_ids = joins["tool_use_id"]["otel_events_vs_hooks"]
    assert ToolCall.objects.filter(seen_in_otel=True, seen_in_hooks=True).count() == tool_ids["both"] == 27
    assert ToolCall.objects.filter(seen_in_otel=True).count() == 27
    # The transcript's 28th call failed validation before any hook or OTel event.
    assert ToolCall.objects.filter(seen_in_otel=False).get().seen_in_transcript
    prompt_ids = {c["payload"]["prompt_id"] for c in HOOK_CALLS if c["payload"].get("prompt_id")}
    otel_ids = {
        e["payload"]["attributes"]["prompt.id"] for e in sources["otel"] if e["event_type"] == "user_prompt"
    }
    assert len(otel_ids) == len(prompt_ids & otel_ids) == joins["prompt_id"]["otel_vs_hooks"]["both"] == 19
    prompts = Turn.objects.filter(kind="user_prompt")
    # 17 prompts; the two slash commands (/compact, /model) have a prompt id and no prompt.
    assert prompts.count() == joins["prompt_id"]["UserPromptSubmit_hooks"] == 17
    assert all(p.detail["sources"] == ["hook", "otel", "transcript"] for p in prompts)
    assert {p.key.removeprefix("prompt:") for p in prompts} < otel_ids


def test_metrics_give_otel_figures_per_session_and_hour(redis, sources):
    feed(redis, everything(sources))
    assert (
        MetricPoint.objects.count()
        == sum(m["points"] for m in METRICS.values()) - METRICS["claude_code.session.count"]["points"]
    )
    sessions = Session.objects.filter(platform="claude_code").aggregate(
        active=Sum("otel_active_seconds"), added=Sum("otel_lines_added"), removed=Sum("otel_lines_removed"),
        accepts=Sum("otel_edit_accepts"), rejects=Sum("otel_edit_rejects"),
    )  # fmt: skip
    hours = ActivityHour.objects.aggregate(
        active=Sum("otel_active_seconds"), added=Sum("otel_lines_added"), removed=Sum("otel_lines_removed"),
        accepts=Sum("otel_edit_accepts"), rejects=Sum("otel_edit_rejects"),
    )  # fmt: skip
    for figures in (sessions, hours):
        assert figures["active"] == Decimal(str(METRICS["claude_code.active_time.total"]["total"]))
        assert (
            figures["added"] + figures["removed"] == METRICS["claude_code.lines_of_code.count"]["total"] == 32
        )
        assert (
            figures["accepts"] + figures["rejects"] == METRICS["claude_code.code_edit_tool.decision"]["total"]
        )
    assert not Session.objects.filter(otel_active_seconds=None).exists()


def test_api_error_carries_its_attempts_and_retries_count(redis, sources):
    feed(redis, everything(sources))
    error = Turn.objects.get(kind="api_error", request_id=API_ERROR)
    assert error.session.session_id == ERROR_SESSION
    # One api_error event (attempt 1) and one failed llm_request span with three attempts.
    assert (error.detail["attempts"], error.detail["status_code"], error.detail["attempt"]) == (3, 400, 1)
    assert error.detail["error"] and error.detail["error_hash"]
    assert error.session.api_retries == 2
    assert Session.objects.aggregate(n=Sum("api_retries"))["n"] == 2
    assert ActivityHour.objects.aggregate(n=Sum("api_retries"))["n"] == 2
    assert error.session.api_errors == 1


def test_tool_decisions_and_results_join_the_hooks_calls(redis, sources):
    feed(redis, everything(sources))
    rejected = ToolCall.objects.get(decision="reject")
    assert rejected.session.session_id == REJECTED_SESSION
    assert (rejected.status, rejected.decision_source, rejected.tool_name) == ("rejected", "config", "Bash")
    assert rejected.seen_in_otel and rejected.seen_in_hooks and rejected.seen_in_transcript
    assert ToolCall.objects.filter(decision="accept").count() == 26
    timed = ToolCall.objects.exclude(otel_duration_ms=None)
    assert timed.count() == EXPECTED["joins"]["tool_use_id"]["by_event"]["tool_result"] == 26
    assert not timed.filter(otel_duration_ms__lt=0).exists()
    assert ToolCall.objects.filter(status="failure").exists()


def test_records_that_make_no_rows_make_no_session(redis, sources):
    feed(redis, everything(sources))
    assert not Session.objects.filter(session_id=THROWAWAY).exists()
    # ... though their sequence numbers are kept, for the gap count of the process.
    assert OtelSequence.objects.filter(session_id=THROWAWAY).count() == 37
    assert Session.objects.count() == 13
    assert not Session.objects.exclude(otel_gaps=0).exists()
    assert not DataIssue.objects.exists()


# --- one ledger, whatever arrives and in what order ---------------------------------------------------


def test_a_second_replay_adds_nothing(redis, sources):
    feed(redis, everything(sources))
    raw, before = ClaudeRawTrace.objects.count(), dump()
    feed(redis, everything(sources))
    assert ClaudeRawTrace.objects.count() == raw
    assert dump() == before


def test_with_and_without_otel_differ_exactly_by_the_calls_only_otel_saw(redis, sources):
    feed(redis, sources["transcript"] + sources["hook"])
    fields = (*TOKENS, "cost_usd")
    without = per_model(calls().values_list("model", *fields), fields)
    times = {
        "turns": dict(Turn.objects.values_list("key", "timestamp")),
        "tools": {
            t: (s, f) for t, s, f in ToolCall.objects.values_list("tool_use_id", "started_at", "finished_at")
        },
    }
    feed(redis, sources["otel"])
    with_otel = per_model(calls().values_list("model", *fields), fields)
    compact = calls().get(request_id=COMPACT)
    only_otel = {n: getattr(compact, n) for n in fields}
    assert with_otel[compact.model] == {n: without[compact.model][n] + only_otel[n] for n in fields}
    assert {m: v for m, v in with_otel.items() if m != compact.model} == {
        m: v for m, v in without.items() if m != compact.model
    }
    # OTel moved no time the transcript or the hooks gave.
    assert {k: t for k, t in Turn.objects.values_list("key", "timestamp") if k in times["turns"]} == times[
        "turns"
    ]
    tools = {
        t: (s, f) for t, s, f in ToolCall.objects.values_list("tool_use_id", "started_at", "finished_at")
    }
    assert tools == times["tools"]


ORDERS = {
    "otel_first": lambda s: s["otel"] + s["transcript"] + s["hook"],
    "otel_last": lambda s: s["transcript"] + s["hook"] + s["otel"],
    "interleaved": lambda s: random.Random(13).sample(everything(s), len(everything(s))),
    "reversed": lambda s: list(reversed(everything(s))),
}


def test_order_and_catch_up_splits_do_not_change_the_rows(redis, sources):
    feed(redis, everything(sources))
    expected = dump()
    assert expected["metric_points"] and expected["otel_sequences"]
    for name, order in ORDERS.items():
        for chunks in (1, 7):
            reset(redis)
            feed(redis, order(sources), chunks=chunks)
            assert dump() == expected, (name, chunks)


def test_rebuild_gives_the_rows_of_the_live_path(redis, sources):
    feed(redis, random.Random(5).sample(everything(sources), len(everything(sources))), chunks=5)
    live = dump()
    rebuild.derived_rebuild_all()
    assert dump() == live
