"""Claude Code derivation: pure facts from envelopes (no database), and bad data through the catch-up."""

import random

import orjson
import pytest

from telemetry.capture.privacy import Privacy
from telemetry.models import DataIssue, Session, ToolCall
from telemetry.processing.catchup import ORPHAN_RESULT, session_catch_up
from telemetry.processing.claude import claude_facts, mcp_server, tool_result_outcome
from telemetry.processing.facts import IssueFact, Reduced, facts_reduce
from tests.factories import envelope
from tests.telemetry.processing.test_catchup import SALT, hook_envelopes, ingest, transcript_envelopes


@pytest.fixture(scope="module")
def corpus_facts() -> list:
    privacy = Privacy(SALT)
    events = [orjson.loads(raw) for raw in hook_envelopes(privacy) + transcript_envelopes(privacy)]
    return [fact for seq, event in enumerate(events, 1) for fact in claude_facts(seq=seq, event=event)]


def _comparable(reduced: Reduced) -> tuple:
    return (reduced.sessions, reduced.turns, reduced.tools, reduced.changes, set(reduced.issues))


def test_merging_facts_in_any_order_or_twice_gives_the_same_result(corpus_facts) -> None:
    reference = _comparable(facts_reduce(corpus_facts))
    rng = random.Random(3)
    for _ in range(5):
        shuffled = list(corpus_facts)
        rng.shuffle(shuffled)
        assert _comparable(facts_reduce(shuffled)) == reference
    # Split into parts reduced on their own, then merged: what a catch-up in increments does.
    parts = [facts_reduce(corpus_facts[i::3]) for i in range(3)]
    combined = Reduced()
    for part in parts:
        facts_reduce([*part.turns.values(), *part.tools.values(), *part.changes.values()], combined)
    assert (combined.turns, combined.tools, combined.changes) == reference[1:4]
    assert _comparable(facts_reduce(corpus_facts + corpus_facts)) == reference


def test_the_corpus_has_no_unexplained_records(corpus_facts) -> None:
    assert [f for f in corpus_facts if isinstance(f, IssueFact)] == []


def test_bad_events_become_issues_not_errors() -> None:
    base = {"platform": "claude_code", "session_id": "s", "timestamp": "2025-10-20T08:00:00Z"}
    cases = [
        {**base, "source": "transcript", "event_type": "hologram", "payload": {"type": "hologram"}},
        {**base, "source": "hook", "event_type": "FutureHook", "payload": {"hook_event_name": "FutureHook"}},
        {**base, "source": "transcript", "event_type": "assistant", "payload": {"type": "assistant"}},
        {**base, "source": "hook", "event_type": "PreToolUse", "payload": {"tool_name": "Bash"}},
        {**base, "source": "transcript", "event_type": "user",
         "payload": {"type": "user", "message": {"content": [{"type": "tool_result"}]}}},
        {**base, "timestamp": None, "source": "hook", "event_type": "x", "payload": {}},
    ]  # fmt: skip
    kinds = []
    for seq, event in enumerate(cases, 1):
        issues = [f for f in claude_facts(seq=seq, event=event) if isinstance(f, IssueFact)]
        assert len(issues) == 1, event
        kinds.append(issues[0].kind)
    assert kinds == [
        "unknown_record",
        "unknown_hook",
        "missing_field",
        "missing_field",
        "missing_field",
        "bad_envelope",
    ]


def test_mcp_server_comes_from_the_tool_name() -> None:
    assert mcp_server("mcp__github__create_issue") == "github"
    assert mcp_server("Bash") == ""


def test_outcomes_of_tool_results() -> None:
    assert tool_result_outcome(is_error=False, result=None) == ("success", "")
    assert tool_result_outcome(is_error=False, result={"interrupted": True})[0] == "interrupted"
    assert tool_result_outcome(is_error=True, result={"chars": 9}) == ("failure", "error")
    # Capture's verdict, read from the text before the privacy filter dropped it.
    assert tool_result_outcome(is_error=True, result=None, marked="user_rejected") == (
        "rejected",
        "user_rejected",
    )
    assert tool_result_outcome(is_error=True, result=None, marked="permission_denied")[0] == "rejected"
    assert tool_result_outcome(is_error=True, result=None, marked="interrupted")[0] == "interrupted"
    assert tool_result_outcome(is_error=True, result=None, marked="tool_use_error") == (
        "failure",
        "tool_use_error",
    )


@pytest.mark.django_db
def test_bad_data_is_recorded_and_counted_and_the_catch_up_carries_on(redis) -> None:
    good = envelope(session_id="s1", event_type="PreToolUse",
                    payload={"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": "t1"})  # fmt: skip
    odd = envelope(session_id="s1", source="transcript", event_type="hologram", payload={"type": "hologram"})
    orphan = envelope(
        session_id="s1", source="transcript", event_type="user",
        payload={"type": "user", "message": {"content": [{"type": "tool_result", "tool_use_id": "t2"}]}},
    )  # fmt: skip
    ingest(redis, [orjson.dumps(e) for e in (good, odd, orphan)])
    assert session_catch_up(platform="claude_code", session_id="s1").applied == 3
    session = Session.objects.get(session_id="s1")
    assert sorted(DataIssue.objects.values_list("kind", flat=True)) == sorted(
        ["unknown_record", ORPHAN_RESULT]
    )
    assert session.data_issues == 2 and session.tool_calls == 2
    # The call arrives later: the result is no longer an orphan.
    call = envelope(session_id="s1", event_type="PreToolUse",
                    payload={"hook_event_name": "PreToolUse", "tool_name": "Read", "tool_use_id": "t2"})  # fmt: skip
    ingest(redis, [orjson.dumps(call)])
    session_catch_up(platform="claude_code", session_id="s1")
    session.refresh_from_db()
    assert list(DataIssue.objects.values_list("kind", flat=True)) == ["unknown_record"]
    assert session.data_issues == 1
    assert ToolCall.objects.get(tool_use_id="t2").status == "success"


@pytest.mark.parametrize("duration", [1e300, -5, float("nan"), 2**70])
def test_a_duration_no_call_can_have_leaves_the_start_unknown_not_the_outcome(duration) -> None:
    event = envelope(
        event_type="PostToolUse",
        payload={
            "hook_event_name": "PostToolUse",
            "tool_use_id": "t1",
            "tool_name": "Bash",
            "duration_ms": duration,
        },
    )
    [tool] = [
        f for f in claude_facts(seq=1, event=event) if not isinstance(f, IssueFact) and hasattr(f, "status")
    ]
    assert (tool.status, tool.started_at, tool.finished_at is not None) == ("success", None, True)


def test_a_transcript_line_without_any_time_is_an_issue_not_a_1970_session() -> None:
    event = envelope(
        source="transcript",
        event_type="user",
        timestamp="1970-01-01T00:00:00.000Z",
        payload={"type": "user", "uuid": "u1", "message": {"role": "user", "content": []}},
        metadata={"timestamp_from": "none"},
    )
    [issue] = claude_facts(seq=1, event=event)
    assert isinstance(issue, IssueFact) and issue.kind == "time_unknown"
