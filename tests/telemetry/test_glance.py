"""The status line's figures (telemetry/selectors/glance.py, read with sqlite3) equal the selectors'
(read through the ORM) on the real corpus: a session's usage, a local day's cost, the active block."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from telemetry.models import Session
from telemetry.selectors import glance
from telemetry.selectors.blocks import blocks_build, entries_orm
from telemetry.selectors.usage import usage_by_day

pytestmark = pytest.mark.django_db
DAY = date(2026, 11, 25)


@pytest.fixture
def db(corpus):
    if connection.vendor != "sqlite":
        pytest.skip("the status line reads SQLite stores only")
    connection.ensure_connection()
    return connection.connection  # the test's own sqlite3 connection: it sees the test's rows


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kathmandu", "Pacific/Chatham", "America/St_Johns"])
def test_a_days_cost_is_the_reports(db, tz):
    zone = ZoneInfo(tz)
    for day in (DAY - timedelta(days=1), DAY, DAY + timedelta(days=1)):
        start = datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
        expected = sum(r["cost_usd"] for r in usage_by_day(start=day, end=day, tz=tz))
        assert glance.day_cost_units(db, start=start, end=end) == expected * 10**8


def test_a_sessions_usage_is_its_row(db):
    session = Session.objects.filter(assistant_messages__gt=0).order_by("-cost_usd").first()
    found = glance.session_usage(db, session_id=session.session_id)
    assert found["cost_usd"] == float(session.cost_usd)
    assert found["tokens"] == (session.input_tokens + session.output_tokens + session.cache_write_tokens
                               + session.cache_read_tokens)  # fmt: skip
    assert glance.session_usage(db, session_id="no-such-session") is None


def test_the_active_block_is_the_ccusage_blocks_one(db):
    last = max(e.timestamp for e in entries_orm())
    for now in (last + timedelta(minutes=5), last + timedelta(hours=3), last + timedelta(hours=5)):
        expected = [b for b in blocks_build(entries_orm(), now=now) if b["isActive"]]
        assert glance.block_active(db, now=now) == (expected[0] if expected else None)
    assert glance.block_active(db, now=last + timedelta(minutes=5))["entries"] == 66


def test_the_block_is_claude_codes_window_alone(db):
    # A Cursor response inside the block's hours must not count in Claude Code's 5-hour window.
    from telemetry.models import Conversation, Turn

    last = max(e.timestamp for e in entries_orm())
    now = last + timedelta(minutes=5)
    before = glance.block_active(db, now=now)
    session = Session.objects.create(platform="cursor", session_id="cursor-in-the-block", started_at=last)
    conversation = Conversation.objects.create(session=session, conversation_id=session.session_id)
    Turn.objects.create(
        session=session, conversation=conversation, key="bubble:x", kind="assistant_response",
        timestamp=last - timedelta(minutes=1), hour=last.replace(minute=0, second=0, microsecond=0),
        model="gpt-5", input_tokens=1000, output_tokens=100,
    )  # fmt: skip
    assert len(entries_orm()) == len(entries_orm(platform="claude_code")) + 1
    assert glance.block_active(db, now=now) == before
