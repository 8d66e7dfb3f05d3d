"""Cursor through the slow path on a real store: envelopes (built per docs/wire-format.md "Cursor events")
-> Redis stream -> StreamConsumer -> raw store -> session_catch_up, on SQLite and Redis. Hooks and
database records of one conversation give one set of rows whatever the order and split they arrive in."""

import json
import random
from decimal import Decimal
from typing import Any

import orjson
import pytest

from telemetry.models import (
    ActivityHour,
    AiCodeLine,
    AiCommit,
    CodeChange,
    Conversation,
    CursorRawTrace,
    DataIssue,
    Project,
    RawChunk,
    Session,
    SessionProgress,
    ToolCall,
    ToolHour,
    Turn,
    TurnKind,
    UsageHour,
)
from telemetry.processing.catchup import session_catch_up
from telemetry.processing.cursor import AI_TRACKING_SESSION
from telemetry.processing.lifecycle import sessions_idle_close
from telemetry.processing.purge import everything_purge, purge_select, sessions_purge
from telemetry.processing.rebuild import derived_rebuild_all
from telemetry.wire import EVENTS_STREAM
from tests.factories import entry
from tests.support import cursor_events as ev
from tests.support.cursor_events import CONV, GEN1, GEN2, T0
from tests.telemetry.test_consumer import drain, make_consumer

pytestmark = pytest.mark.django_db

_FED: set[str] = set()


def ingest(redis, envelopes: list[dict]) -> None:
    pipe = redis.pipeline(transaction=False)
    for event in envelopes:
        pipe.xadd(EVENTS_STREAM, entry(orjson.dumps(event)))
    pipe.execute()
    drain(make_consumer(redis))


def catch_up_all() -> int:
    keys = set(SessionProgress.objects.filter(platform="cursor").values_list("session_id", flat=True)) | _FED
    return sum(session_catch_up(platform="cursor", session_id=s).applied for s in sorted(keys))


def feed(redis, envelopes: list[dict]) -> int:
    _FED.update(e["session_id"] for e in envelopes)
    ingest(redis, envelopes)
    return catch_up_all()


def derived_reset(redis) -> None:
    for model in (DataIssue, CodeChange, ToolCall, Turn, Conversation, AiCodeLine, AiCommit, Session, Project,
                  SessionProgress, UsageHour, ToolHour, ActivityHour, CursorRawTrace, RawChunk):  # fmt: skip
        model.objects.all().delete()
    redis.flushdb()
    _FED.clear()


def _row(obj: Any, drop: tuple = ()) -> tuple:
    skip = {"id", "session_id", "conversation_id", "project_id", *drop}
    return tuple(
        sorted((k, _text(v)) for k, v in obj.__dict__.items() if not k.startswith("_") and k not in skip)
    )


def _text(value: Any) -> str:
    # JSON columns compare as values: the order of an object's keys is not part of them.
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)


def snapshot() -> dict[str, Any]:
    """Every derived row, without surrogate ids (and issues without their raw seq)."""
    return {
        "sessions": sorted((*_row(s), s.session_id) for s in Session.objects.all()),
        "conversations": sorted((*_row(c), c.conversation_id) for c in Conversation.objects.all()),
        "turns": sorted(_row(t) for t in Turn.objects.all()),
        "tools": sorted(_row(t) for t in ToolCall.objects.all()),
        "changes": sorted(_row(c) for c in CodeChange.objects.all()),
        "issues": sorted((i.kind, i.detail) for i in DataIssue.objects.all()),
        "ai_commits": sorted(_row(c) for c in AiCommit.objects.all()),
        "ai_code": sorted(
            (*_row(c), c.session.session_id if c.session else "") for c in AiCodeLine.objects.all()
        ),
        "usage": sorted(_row(u) for u in UsageHour.objects.all()),
        "tool_hours": sorted(_row(u) for u in ToolHour.objects.all()),
        "activity": sorted(_row(u) for u in ActivityHour.objects.all()),
    }


def run(redis, envelopes: list[dict]) -> dict[str, Any]:
    derived_reset(redis)
    feed(redis, envelopes)
    return snapshot()


def counts() -> dict[str, int]:
    turns = Turn.objects.filter(session__session_id=CONV)
    return {
        "prompts": turns.filter(kind=TurnKind.USER_PROMPT).count(),
        "responses": turns.filter(kind=TurnKind.ASSISTANT_RESPONSE).count(),
        "tool_calls": ToolCall.objects.filter(session__session_id=CONV).count(),
        "changes": CodeChange.objects.filter(session__session_id=CONV).count(),
    }


def test_database_records_alone_make_the_conversation(redis) -> None:
    feed(redis, ev.conversation_db())
    assert counts() == {"prompts": 2, "responses": 6, "tool_calls": 4, "changes": 2}
    session = Session.objects.get(platform="cursor", session_id=CONV)
    conversation = Conversation.objects.get(session=session)
    # The composer's newest revision, whatever came first; its totals are the session's lines.
    assert (conversation.lines_added, conversation.lines_removed, conversation.mode) == (9, 2, "agent")
    assert (session.lines_added, session.lines_removed) == (9, 2)
    assert session.project.key == ev.PROJECT["hash"]
    assert (session.prompts, session.assistant_messages, session.tool_calls) == (2, 6, 4)
    assert session.tool_failures == 1  # the MCP call Cursor recorded as an error
    assert (session.input_tokens, session.output_tokens) == (1000, 64)
    # gpt-4.1 at OpenAI's list price (2 and 8 USD per million input and output tokens)
    assert session.cost_usd == Decimal("0.002512")
    assert session.responses_without_tokens == 1  # b4: no tokenCount
    b4 = Turn.objects.get(session=session, key="bubble:b4")
    assert b4.tokens_known is False and b4.cost_usd is None
    assert ToolCall.objects.get(session=session, tool_use_id="toolu_shell").tool_name == "run_terminal_cmd"
    (usage,) = UsageHour.objects.filter(platform="cursor", model="gpt-4.1", responses_without_tokens__gt=0)
    assert usage.responses_without_tokens == 1


def test_hooks_add_durations_and_stop_tokens_without_counting_anything_twice(redis) -> None:
    feed(redis, ev.conversation_db())
    db_only = counts()
    derived_reset(redis)
    feed(redis, ev.conversation_db() + ev.conversation_hooks())
    assert counts() == db_only
    session = Session.objects.get(platform="cursor", session_id=CONV)
    shell = ToolCall.objects.get(session=session, tool_use_id="toolu_shell")
    assert shell.seen_in_hooks and shell.seen_in_transcript
    assert shell.duration_ms is not None and shell.duration_ms >= 5_000
    assert shell.tool_name == "run_terminal_cmd"  # the database's name, not the hook's "Shell"
    mcp = ToolCall.objects.get(session=session, tool_use_id="toolu_mcp")  # joined by the MCP tool's name
    assert (mcp.tool_name, mcp.status, mcp.duration_ms) == ("mcp_acme_query", "failure", 2_000)
    assert not ToolCall.objects.filter(session=session, tool_use_id__startswith="hook:").exists()
    assert not Turn.objects.filter(session=session, key__startswith="response:").exists()
    b4 = Turn.objects.get(session=session, key="bubble:b4")  # GEN1's last text bubble
    assert (b4.input_tokens, b4.output_tokens, b4.cache_read_tokens, b4.cache_write_tokens) == (
        1000,
        70,
        10,
        5,
    )
    assert b4.tokens_known
    assert session.responses_without_tokens == 0
    assert (session.lines_added, session.lines_removed) == (9, 2)


def test_hooks_alone_make_a_conversation_too(redis) -> None:
    feed(redis, ev.conversation_hooks())
    assert counts() == {"prompts": 2, "responses": 2, "tool_calls": 4, "changes": 1}
    session = Session.objects.get(platform="cursor", session_id=CONV)
    assert (session.lines_added, session.lines_removed) == (3, 1)
    responses = Turn.objects.filter(session=session, kind=TurnKind.ASSISTANT_RESPONSE)
    assert sorted((t.key, t.tokens_known) for t in responses) == [
        (f"response:{GEN1}", True),
        (f"response:{GEN2}", False),
    ]
    assert session.responses_without_tokens == 1
    # The shell hooks without an id joined the call preToolUse named.
    assert ToolCall.objects.get(session=session, tool_use_id="toolu_shell").duration_ms >= 5_000


def test_every_order_of_hooks_and_records_gives_the_same_rows(redis) -> None:
    events = ev.conversation_db() + ev.conversation_hooks()
    reference = run(redis, events)
    assert reference["turns"] and reference["tools"] and reference["changes"]
    assert run(redis, list(reversed(events))) == reference
    rng = random.Random(12)
    for _ in range(6):
        shuffled = events[:]
        rng.shuffle(shuffled)
        assert run(redis, shuffled) == reference


def test_every_split_into_catch_ups_gives_the_same_rows(redis) -> None:
    events = ev.conversation_hooks() + ev.conversation_db()
    reference = run(redis, events)
    rng = random.Random(5)
    shuffled = events[:]
    rng.shuffle(shuffled)
    for cut in range(1, len(events)):
        derived_reset(redis)
        feed(redis, shuffled[:cut])
        feed(redis, shuffled[cut:])
        assert snapshot() == reference, cut


def test_a_later_text_bubble_takes_the_stop_tokens_over(redis) -> None:
    """The stop hook's tokens belong to the generation's last text bubble: if that bubble arrives after
    an earlier one took them, they move, as a rebuild would have put them."""
    events = ev.conversation_db() + ev.conversation_hooks()
    late = ev.bubble(CONV, "b4b", role="assistant", ms=T0 + 31_000, request_id=GEN1, position=9)
    reference = run(redis, [*events, late])
    derived_reset(redis)
    feed(redis, events)
    assert Turn.objects.get(key="bubble:b4").input_tokens == 1000
    feed(redis, [late])
    assert snapshot() == reference
    assert Turn.objects.get(key="bubble:b4b").input_tokens == 1000
    assert Turn.objects.get(key="bubble:b4").tokens_known is False


def test_applying_events_again_changes_nothing(redis) -> None:
    events = ev.conversation_db() + ev.conversation_hooks()
    reference = run(redis, events)
    assert catch_up_all() == 0
    feed(redis, events)  # the same events again: stored once, nothing new to apply
    assert snapshot() == reference


def test_a_rebuild_from_zero_equals_the_live_rows(redis) -> None:
    events = ev.conversation_db() + ev.conversation_hooks() + ai_tracking()
    rng = random.Random(3)
    rng.shuffle(events)
    derived_reset(redis)
    for start in range(0, len(events), 7):
        feed(redis, events[start : start + 7])
    sessions_idle_close()  # as beat would have: a rebuild applies the idle rule too
    live = snapshot()
    derived_rebuild_all()
    assert snapshot() == live


def ai_tracking() -> list[dict]:
    return [
        ev.scored_commit("c1", "main", ms=T0, linesAdded=10, composerLinesAdded=4, v1AiPercentage="40.00"),
        ev.scored_commit(
            "c1", "main", ms=T0 + 5, linesAdded=12, composerLinesAdded=4, v1AiPercentage="33.33"
        ),
        ev.scored_commit("c1", "feature", ms=T0, linesAdded=10),
        ev.ai_code("h-tab", ms=T0, source="tab"),
        ev.ai_code("h-composer", ms=T0 + 1, conversation=CONV, request_id=GEN1),
    ]


def test_ai_tracking_fills_its_tables_and_makes_no_session_of_its_own(redis) -> None:
    for events in (ai_tracking(), list(reversed(ai_tracking()))):
        derived_reset(redis)
        feed(redis, events)
        assert not Session.objects.filter(session_id=AI_TRACKING_SESSION).exists()
        main = AiCommit.objects.get(commit_hash="c1", branch="main")
        assert (main.lines_added, str(main.v1_ai_percentage)) == (12, "33.33")  # the newest scoring
        assert AiCommit.objects.count() == 2
        assert AiCodeLine.objects.get(hash="h-tab").session is None
        line = AiCodeLine.objects.get(hash="h-composer")
        assert line.session.session_id == CONV and line.request_id == GEN1


def test_unknown_events_are_data_issues_and_the_rest_is_derived(redis) -> None:
    bad = [
        ev.hook("somethingNew", CONV, GEN1, T0 + 5),
        ev.generation(CONV, GEN1, T0) | {"event_type": "mystery", "event_id": "cu:db:mystery:1"},
        ev.scored_commit("c9", "main", ms=T0) | {"event_type": "mystery2", "event_id": "cu:db:mystery:2"},
    ]
    feed(redis, ev.conversation_db() + bad)
    assert counts()["prompts"] == 2
    kinds = sorted(DataIssue.objects.values_list("kind", flat=True))
    assert kinds == ["unknown_hook", "unknown_record"]  # the AI-tracking one is logged: it has no session
    assert Session.objects.get(session_id=CONV).data_issues == 2


def test_conversation_fields_come_from_the_newest_revision_in_either_order(redis) -> None:
    old = ev.composer(CONV, created_ms=T0, updated_ms=T0 + 10, archived=False, mode="chat", lines_added=1)
    new = ev.composer(CONV, created_ms=T0, updated_ms=T0 + 20, archived=True, mode="agent", lines_added=4)
    for order in ([old], [new]), ([new], [old]):
        derived_reset(redis)
        for part in order:
            feed(redis, part)
        conversation = Conversation.objects.get(conversation_id=CONV)
        assert (conversation.archived, conversation.mode, conversation.lines_added) == (True, "agent", 4)
        assert json.dumps(conversation.title) == '""'  # the title's text was not kept


def test_purge_removes_a_conversations_ai_code_lines_and_everything_the_ai_tracking_rows(redis) -> None:
    feed(redis, ev.conversation_db() + ai_tracking())
    sessions_purge(purge_select(session_id=CONV), client=redis)
    assert not AiCodeLine.objects.filter(hash="h-composer").exists()
    assert AiCodeLine.objects.filter(hash="h-tab").exists() and AiCommit.objects.exists()
    everything_purge(client=redis)
    assert not AiCodeLine.objects.exists() and not AiCommit.objects.exists()


def test_a_generation_stopped_during_a_tool_call_has_one_response(redis) -> None:
    """No text bubble: the hooks' response is the generation's last bubble, not a second response."""
    gen = "99999999-0000-0000-0000-000000000000"
    events = [
        ev.bubble(CONV, "u", role="user", ms=T0, request_id=gen, position=0),
        ev.bubble(CONV, "t", role="assistant", ms=T0 + 10, request_id=gen, position=1, tokens=None,
                  tool=ev.shell_tool(ev.SHELL, tool_use_id="toolu_x", status="cancelled")),
        ev.hook("stop", CONV, gen, T0 + 20, status="aborted", loop_count=0, input_tokens=5, output_tokens=1),
    ]  # fmt: skip
    for order in (events, list(reversed(events))):
        derived_reset(redis)
        feed(redis, order)
        (response,) = Turn.objects.filter(kind=TurnKind.ASSISTANT_RESPONSE)
        assert (response.key, response.input_tokens, response.tokens_known) == ("bubble:t", 5, True)
        assert ToolCall.objects.get().status == "interrupted"
