"""An event sent again with the same event id but another timestamp is a second raw row (the raw store
keys rows by time and id); no derived figure counts it twice. Real corpus through the real fast path."""

from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal

import orjson
import pytest
from django.db.models import Count, Sum

from telemetry.capture.privacy import Privacy
from telemetry.models import (
    ActivityHour,
    ClaudeRawTrace,
    CodeChange,
    DataIssue,
    Session,
    ToolCall,
    ToolHour,
    Turn,
    UsageHour,
)
from tests.telemetry.processing.hostile import assistant, encoded, hook, record
from tests.telemetry.processing.test_catchup import (
    FAILURES,
    SALT,
    derived_reset,
    feed,
    hook_envelopes,
    transcript_envelopes,
)

pytestmark = pytest.mark.django_db

_SESSION_FIGURES = ("prompts", "assistant_messages", "tool_calls", "tool_failures", "tool_rejections",
                    "tool_interruptions", "api_errors", "compactions", "subagent_runs", "input_tokens",
                    "output_tokens", "cache_write_tokens", "cache_read_tokens", "cost_usd", "lines_added",
                    "lines_removed", "data_issues", "models_used")  # fmt: skip


def shifted(raw: bytes, by: timedelta) -> bytes:
    event = orjson.loads(raw)
    moment = datetime.fromisoformat(event["timestamp"]) + by
    return orjson.dumps({**event, "timestamp": moment.isoformat()})


def odd_ones() -> list[bytes]:
    """Events whose identity, today, can only come from the event itself: no ids of their own."""
    return encoded([
        hook(FAILURES, "PreCompact", 1, trigger="auto"),  # no prompt_id
        hook(FAILURES, "FutureHook", 2),  # an issue
        record(FAILURES, "hologram", 3, {}),  # an issue
        {**record(FAILURES, "user", 4, {"message": {"content": "hi"}, "turnPosition": 1}),
         "payload": {"type": "user", "message": {"content": "hi"}, "turnPosition": 1}},  # no promptId, no uuid
        assistant(FAILURES, 5, "", {"input_tokens": 3}, requestId=None, uuid=None),  # no ids at all
    ])  # fmt: skip


def figures() -> dict:
    """Every count and sum the derived tables hold (times and the durations between them aside: a copy
    sent later may widen them)."""
    sum_of = lambda model, group, *fields: sorted(  # noqa: E731
        model.objects.values(*group)
        .annotate(**{f: Sum(f) for f in fields})
        .order_by()
        .values_list(*group, *fields)
    )
    return {
        "sessions": sorted(Session.objects.values_list("session_id", *_SESSION_FIGURES)),
        "turns": Counter(Turn.objects.values_list("session__session_id", "kind")),
        "turn_usage": sum_of(
            Turn, ["model"], "input_tokens", "output_tokens", "cache_read_tokens", "cost_usd"
        ),
        "tools": Counter(ToolCall.objects.values_list("tool_name", "status")),
        "changes": sum_of(CodeChange, ["status"], "lines_added", "lines_removed"),
        "issues": Counter(DataIssue.objects.values_list("session__session_id", "kind")),
        "usage": sum_of(UsageHour, ["model"], "messages", "input_tokens", "output_tokens", "cost_usd"),
        "tool_hours": sum_of(ToolHour, ["tool_name"], "calls", "failures", "rejections", "interruptions"),
        "activity": sum_of(ActivityHour, [], "prompts", "api_errors", "lines_added", "edits_accepted"),
    }


def test_events_sent_again_with_other_timestamps_count_once(redis) -> None:
    privacy = Privacy(SALT)
    envelopes = hook_envelopes(privacy) + transcript_envelopes(privacy) + odd_ones()
    feed(redis, envelopes)
    once = figures()
    assert once["issues"] and once["turns"][(FAILURES, "compaction")] == 1
    assert sum(n for (_, kind), n in once["turns"].items() if kind == "assistant_response") > 50
    assert once["usage"] and Decimal(sum(row[-1] for row in once["usage"])) > 1

    derived_reset()
    redis.flushdb()
    # Every event twice: the copy 7 s later (a hook re-sent from the spool, a transcript line re-read
    # by another tailer with its own clock), hooks and transcript lines alike, in one feed and in two.
    later = [shifted(raw, timedelta(seconds=7)) for raw in envelopes]
    feed(redis, envelopes[::2] + later[1::2])
    feed(redis, envelopes[1::2] + later[::2])
    assert ClaudeRawTrace.objects.count() == 2 * len(envelopes)  # both copies stored
    assert figures() == once
    assert (
        DataIssue.objects.values("session", "kind", "detail").annotate(n=Count("id")).filter(n__gt=1).count()
        == 0
    )
