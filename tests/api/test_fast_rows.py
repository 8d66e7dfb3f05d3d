"""The plain-dict rows of the hot lists (api/v1/resources/serializers.py: session_data,
session_detail_data, timeline_data) render to the very bytes the DRF serializers that document them
render: over the corpus stored and derived by the real pipeline, and over rows at the edges (no project,
no times, years 1 and 9999, counts past 32 bits, the largest money the column holds)."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from rest_framework.renderers import JSONRenderer

from api.v1.resources import serializers
from telemetry.models import CodeChange, Conversation, Project, Session, ToolCall, Turn
from telemetry.selectors import sessions, timeline
from telemetry.selectors.timeline import TimelineItem

pytestmark = pytest.mark.django_db

RENDER = JSONRenderer().render


def same_json(fast: object, drf: object) -> None:
    # Bytes, not values: the key order and the number types must match too.
    assert RENDER(fast) == RENDER(drf)


def test_sessions_and_their_timelines_over_the_corpus(corpus):
    rows = list(sessions.sessions_with_tokens(sessions.session_list()))
    assert len(rows) == 21
    same_json(
        [serializers.session_data(s) for s in rows], serializers.SessionSerializer(rows, many=True).data
    )
    for row in rows:
        (found,) = sessions.session_lookup(session_id=row.session_id, platform=row.platform)
        same_json(serializers.session_detail_data(found), serializers.SessionDetailSerializer(found).data)
        items, more = timeline.timeline_page(session=found, limit=100_000)
        assert not more
        drf = [serializers.TIMELINE_SERIALIZERS[item.type](item.row).data for item in items]
        same_json(serializers.timeline_data(items), drf)
    kinds = {item.type for s in rows for item in timeline.timeline_page(session=s, limit=100_000)[0]}
    assert kinds == {"turn", "tool_call", "code_change"}  # every kind was compared


EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
BIG = 2**63 - 1
MONEY_MAX = Decimal("99999999.99999999")  # 16 digits, 8 after the point


def edge_sessions() -> list[Session]:
    bare = Session(platform="cursor", session_id="s" * 256, project=None, models_used=[])
    bare.tokens = None
    bare.started_at = datetime(2025, 1, 1, 12, 30, 0, 5, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    full = Session(
        platform="claude_code", session_id="é\u2028", project=Project(key="k" * 64, name="n\u00e9"),
        models_used=["m", None], started_at=EARLIEST, last_event_at=LATEST, ended_at=LATEST,
        input_tokens=BIG, output_tokens=BIG, cache_write_tokens=0, cache_read_tokens=2**40,
        cost_usd=MONEY_MAX, active_seconds=2**31 - 1, status="ended", end_reason="x" * 64,
    )  # fmt: skip
    full.tokens = 4 * BIG  # a sum past 64 bits
    full.conversation_count = 3
    return [bare, full]


def test_sessions_at_the_edges():
    rows = edge_sessions()
    same_json(
        [serializers.session_data(s) for s in rows], serializers.SessionSerializer(rows, many=True).data
    )
    for row in rows:
        same_json(serializers.session_detail_data(row), serializers.SessionDetailSerializer(row).data)


def test_timeline_rows_at_the_edges():
    conversation = Conversation(conversation_id="c" * 256)
    turn = Turn(pk=BIG, conversation=conversation, kind="assistant", timestamp=LATEST, input_tokens=BIG,
                cost_usd=MONEY_MAX, latency_ms=2**31 - 1)  # fmt: skip
    bare_turn = Turn(pk=1, conversation=conversation, kind="prompt", timestamp=EARLIEST, cost_usd=None)
    call = ToolCall(pk=2, conversation=conversation, tool_use_id="t", started_at=None, finished_at=EARLIEST,
                    seen_in_hooks=True)  # fmt: skip
    change = CodeChange(pk=3, key="k", timestamp=LATEST, lines_added=2**31 - 1)
    rows = [("turn", turn, LATEST), ("turn", bare_turn, EARLIEST), ("tool_call", call, None)]
    rows.append(("code_change", change, LATEST))
    items = []
    for rank, (kind, row, at) in enumerate(rows):
        row.at = at
        items.append(TimelineItem(type=kind, at=at, rank=rank, row=row))
    drf = [serializers.TIMELINE_SERIALIZERS[item.type](item.row).data for item in items]
    same_json(serializers.timeline_data(items), drf)
