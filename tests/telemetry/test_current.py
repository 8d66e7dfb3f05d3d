"""telemetry/selectors/current.py: the change stream read from where it stood, a record it cannot read
skipped, and today's figures equal to the usage and activity reports'."""

from datetime import date

import orjson
import pytest

from telemetry.selectors import activity, current, usage
from telemetry.selectors.spans import LocalDays
from telemetry.wire import CDC_STREAM

pytestmark = pytest.mark.django_db


def test_change_reader_starts_after_the_past_and_skips_what_it_cannot_read(redis):
    redis.xadd(
        CDC_STREAM, {"records": orjson.dumps([{"platform": "cursor", "session_id": "old", "events": []}])}
    )
    reader = current.ChangeReader.from_now(redis)
    assert reader.read(block_ms=10) == []
    redis.xadd(CDC_STREAM, {"records": b"not json"})
    records = [{"platform": "claude_code", "session_id": "s1",
                "events": [["e1", "PreToolUse", "2026-11-25T10:00:00Z"], ["e2", "assistant", "2026-11-25T10:00:01Z"]]}]  # fmt: skip
    redis.xadd(CDC_STREAM, {"records": orjson.dumps(records)})
    found = reader.read(block_ms=10)
    assert [(c.session_id, c.event_type) for c in found] == [("s1", "PreToolUse"), ("s1", "assistant")]
    assert reader.skipped == 1
    assert reader.read(block_ms=10) == []


def test_day_figures_are_the_reports(corpus):
    day = date(2026, 11, 25)
    found = current.day_figures(day=day, tz="UTC")
    (row,) = usage.usage_report(start=day, end=day, tz="UTC", by="day")
    days = LocalDays(day, day, "UTC")
    act = activity.activity_summary(start=days.start, end=days.end)
    assert found["cost_usd"] == row["cost_usd"] and found["messages"] == row["messages"] > 0
    assert found["tokens"] == sum(row[k] for k in current.TOKEN_KINDS) == 414 + 1758 + 692175 + 749319
    assert found["tool_calls"] == act["tool_calls"] > 0
    assert found["tool_failures"] == act["tool_failures"] + act["tool_rejections"] + act["tool_interruptions"]


def test_live_signature_moves_when_the_live_metrics_do(corpus, redis):
    from datetime import UTC, datetime

    from telemetry.processing import live

    now = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
    redis.delete(live.usage_key(now))
    before = current.live_signature(client=redis, now=now)
    assert live.live_metrics_refresh(hours=[now], client=redis)
    assert current.live_signature(client=redis, now=now) != before
