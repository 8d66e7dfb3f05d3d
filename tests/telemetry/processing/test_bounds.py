"""Hostile values through the real fast path and the catch-up task, on SQLite: each is clamped, dropped
or recorded as a data issue before it reaches a derived column, and no catch-up fails.
(The same stream on PostgreSQL: tests/test_postgres.py.)"""

from decimal import Decimal

import orjson
import pytest

from telemetry import tasks
from telemetry.capture.privacy import Privacy
from telemetry.models import (
    CodeChange,
    Conversation,
    DataIssue,
    Project,
    Session,
    SessionProgress,
    ToolCall,
    ToolHour,
    Turn,
    UsageHour,
)
from telemetry.processing import bounds, recompute
from telemetry.processing.bounds import COST_MAX, INT32_MAX, TOKENS_MAX, key_fit
from telemetry.processing.catchup import DERIVE_ERROR
from telemetry.processing.claude import claude_facts
from telemetry.processing.facts import IssueFact
from telemetry.processing.failures import DERIVE_FAILED
from telemetry.processing.rollups import hour_floor
from tests.telemetry.processing import hostile
from tests.telemetry.processing.hostile import LONG, T0, assistant, encoded, hook, ordinary, usage
from tests.telemetry.processing.test_catchup import SALT, hook_envelopes, ingest, transcript_envelopes

pytestmark = pytest.mark.django_db


def caught_up_cleanly() -> None:
    for p in SessionProgress.objects.all():
        assert (p.processed_seq, p.failures, p.last_error) == (p.raw_through_seq, 0, ""), p.session_id
    assert not DataIssue.objects.filter(kind=DERIVE_FAILED).exists()


def test_a_hostile_session_among_ordinary_ones_fails_no_catch_up(redis) -> None:
    events = [e for i in range(5) for e in ordinary(f"s{i}", start=i * 10)] + hostile.hostile("h")
    ingest(redis, encoded(events))

    assert tasks.sessions_catch_up() == 6

    caught_up_cleanly()
    for i in range(5):
        s = Session.objects.get(session_id=f"s{i}")
        assert (s.prompts, s.assistant_messages, s.tool_calls, s.input_tokens) == (1, 1, 1, 100)
    h = Session.objects.get(session_id="h")
    turns = Turn.objects.filter(session=h, kind="assistant_response")
    for field in ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens"):
        assert max(turns.values_list(field, flat=True)) == TOKENS_MAX
        assert getattr(h, field) == sum(turns.values_list(field, flat=True))
    # Counts that had to be clamped price nothing: the cost is unknown, never a wrong number.
    assert turns.get(key=":req-m-u64").cost_usd is None
    assert turns.get(key=":req-m-costly").cost_usd is None
    assert turns.get(key=":req-m-odd").input_tokens == 0
    prompts = {t.key: (t.chars, t.lines) for t in Turn.objects.filter(session=h, kind="user_prompt")}
    assert prompts == {"prompt:p-big": (INT32_MAX, None), "prompt:p-neg": (0, INT32_MAX)}
    assert h.lines_added == INT32_MAX  # two edits of 2^31 - 1 lines each: the sum as the column holds it
    assert set(CodeChange.objects.filter(session=h).values_list("lines_added", "lines_removed")) == {
        (INT32_MAX, INT32_MAX)
    }
    calls = {c.tool_use_id: c for c in ToolCall.objects.filter(session=h)}
    # Times outside the calendar's safe range: the events are issues, not rows.
    assert not {"t-first", "t-last", "t-over"} & set(calls)
    # Durations no call can have leave its start unknown; its outcome and end are kept (d3 would start
    # in year 1).
    for tool_id in ("d1", "d2", "d3"):
        assert (calls[tool_id].started_at, calls[tool_id].status) == (None, "success"), tool_id
    assert key_fit(LONG, 128) in calls and len(calls[key_fit(LONG, 128)].tool_name) == 128
    agent = Turn.objects.get(session=h, kind="subagent_run", agent_id="a" * 128)
    assert len(agent.key) == 300 and len(agent.detail["agent_type"]) == bounds.DETAIL_TEXT_MAX
    sub = Turn.objects.get(session=h, key="agent:sub")
    assert sub.detail["duration_ms"] == bounds.JSON_INT_MAX and "total_tokens" not in sub.detail
    # The fork origin no session id can be: its message stays with the session that sent it.
    assert Turn.objects.filter(session=h, key=":req-m-fork").exists() and h.parent_session_id == ""
    kinds = set(DataIssue.objects.filter(session=h).values_list("kind", flat=True))
    assert {bounds.VALUE_OUT_OF_RANGE, bounds.TIME_OUT_OF_RANGE, DERIVE_ERROR, "missing_field"} <= kinds
    assert h.data_issues == DataIssue.objects.filter(session=h).count()
    assert UsageHour.objects.filter(cost_usd__gt=0).exists() and ToolHour.objects.exists()


def test_a_session_whose_costs_sum_past_the_column_is_clamped(redis) -> None:
    # Each message at the largest counts kept costs ~$110,000 at Opus prices: 1,000 of them pass 10^8.
    ingest(redis, encoded([assistant("rich", i, f"m{i}", usage(TOKENS_MAX)) for i in range(1000)]))
    tasks.sessions_catch_up()
    caught_up_cleanly()
    session = Session.objects.get(session_id="rich")
    assert session.assistant_messages == 1000
    assert session.cost_usd == COST_MAX
    assert Turn.objects.filter(cost_usd__gt=100_000).count() == 1000
    assert max(UsageHour.objects.values_list("cost_usd", flat=True)) == COST_MAX


def test_cost_units_of_any_number_of_turns_sum_without_overflow() -> None:
    # 10^16 units of 10^-8 USD each: a 64-bit sum of them overflows after 922 turns.
    project = Project.objects.create(key="p", name="p")
    session = Session.objects.create(platform="claude_code", session_id="s", project=project)
    conversation = Conversation.objects.create(session=session, conversation_id="s")
    Turn.objects.bulk_create(
        Turn(session=session, conversation=conversation, project=project, key=f"m{i}", kind="assistant_response",
             timestamp=T0, hour=hour_floor(T0), cost_usd=COST_MAX, input_tokens=TOKENS_MAX)
        for i in range(2000)
    )  # fmt: skip
    recompute._counters(session)
    session.refresh_from_db()
    assert (session.cost_usd, session.input_tokens) == (COST_MAX, 2000 * TOKENS_MAX)


def test_a_long_key_is_found_under_the_key_it_was_stored_with(redis) -> None:
    # Both ids are longer than the column and share its first 128 characters: two calls, one row each.
    twin = LONG + "-twin"
    ingest(redis, encoded([hook("s", "PreToolUse", 1, tool_name="Bash", tool_use_id=LONG),
                           hook("s", "PreToolUse", 2, tool_name="Read", tool_use_id=twin)]))  # fmt: skip
    tasks.sessions_catch_up()
    ingest(redis, encoded([hook("s", "PostToolUse", 3, tool_name="Bash", tool_use_id=LONG),
                           hook("s", "PostToolUse", 4, tool_name="Read", tool_use_id=twin)]))  # fmt: skip
    tasks.sessions_catch_up()  # the second events of each call, in a catch-up of their own
    caught_up_cleanly()
    calls = {c.tool_use_id: c for c in ToolCall.objects.all()}
    assert set(calls) == {key_fit(LONG, 128), key_fit(twin, 128)}
    assert all(len(k) == 128 and c.status == "success" and c.duration_ms == 2000 for k, c in calls.items())
    assert Session.objects.get().tool_calls == 2


def test_key_fit_keeps_short_keys_and_tells_long_ones_apart() -> None:
    assert key_fit("abc", 128) == "abc"
    a, b = key_fit("k" * 300, 128), key_fit("k" * 299 + "j", 128)
    assert len(a) == len(b) == 128 and a != b and a.startswith("k" * 100)
    assert key_fit("k" * 300, 128) == a


def test_sums_are_fitted_to_their_columns() -> None:
    assert bounds.counter_fit(None) == 0
    assert bounds.counter_fit(2**40) == INT32_MAX
    assert bounds.counter_fit(-3) == 0
    assert bounds.cost_fit(Decimal(10**9)) == COST_MAX


def test_fitting_leaves_real_events_alone_and_fitted_facts_as_they_are() -> None:
    privacy = Privacy(SALT)
    for raw in hook_envelopes(privacy) + transcript_envelopes(privacy):
        event = orjson.loads(raw)
        facts = claude_facts(seq=1, event=event)
        assert bounds.facts_fit(facts, ident=1, session_id=event["session_id"]) == facts
    for event in hostile.hostile("h"):
        try:
            facts = claude_facts(seq=1, event=orjson.loads(orjson.dumps(event)))
        except OverflowError:
            continue  # a duration no time can be computed from: the catch-up records derive_error
        once = bounds.facts_fit(facts, ident=1, session_id="h")
        assert bounds.facts_fit(
            [f for f in once if not isinstance(f, IssueFact)], ident=1, session_id="h"
        ) == [f for f in once if not isinstance(f, IssueFact)]
