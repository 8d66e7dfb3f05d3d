"""Builders of wire-format envelopes and stream entries for tests."""

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import orjson

_counter = itertools.count()
T0 = datetime(2025, 10, 20, 8, 0, tzinfo=UTC)


def envelope(**overrides) -> dict:
    """A valid Claude Code hook envelope; override any field."""
    n = next(_counter)
    event = {
        "event_id": f"test:{uuid.uuid4()}",
        "platform": "claude_code",
        "source": "hook",
        "event_type": "PreToolUse",
        "hook_type": "PreToolUse",
        "session_id": "session-a",
        "timestamp": (T0 + timedelta(seconds=n)).isoformat().replace("+00:00", "Z"),
        "payload": {"tool_name": "Bash", "tool_input": {"command_bytes": 12}},
        "metadata": {"capture_ts": n},
    }
    event.update(overrides)
    return event


def entry(event: dict | bytes | str) -> dict[str, bytes]:
    """The fields of one telemetry:events entry carrying this event."""
    if isinstance(event, dict):
        return {"event": orjson.dumps(event)}
    return {"event": event.encode() if isinstance(event, str) else event}


# --- Cursor's derived rows, as the slow path writes them (for the interfaces' tests) ---------------------

CURSOR_DAY = datetime(2026, 11, 25, tzinfo=UTC)  # a day of the Claude Code corpus too: both platforms
CURSOR_SESSION = "cursor-window-1"  # two conversations; one response with tokens, one without
CURSOR_SESSION_BARE = "cursor-window-2"  # the next day: its one response has no recorded tokens
CURSOR_PROJECT = ("cursorprojectkey0001", "cursor-app")  # key, name
# Two scored commits, one of them scored on two branches (counted once), as the fixture's
# ai-code-tracking.db holds them (tests/fixtures/cursor/ground_truth.json, ai_tracking.scored_commits).
CURSOR_COMMITS = [
    {"commit_hash": "a" * 40, "branch": "main", "lines_added": 50, "lines_deleted": 10, "tab_lines_added": 5,
     "composer_lines_added": 10, "composer_lines_deleted": 8, "human_lines_added": 33, "blank_lines_added": 2},
    {"commit_hash": "a" * 40, "branch": "feature", "lines_added": 50, "lines_deleted": 10, "tab_lines_added": 5,
     "composer_lines_added": 10, "composer_lines_deleted": 8, "human_lines_added": 33, "blank_lines_added": 2},
    {"commit_hash": "b" * 40, "branch": "main", "lines_added": 36, "lines_deleted": 8, "tab_lines_added": 2,
     "composer_lines_added": 9, "composer_lines_deleted": 6, "human_lines_added": 24, "blank_lines_added": 1},
]  # fmt: skip


def cursor_rows() -> dict:
    """Cursor sessions, conversations, turns, a tool call, usage rollups, scored commits and AI code lines
    in the database, as the slow path derives them: on CURSOR_DAY, a session whose two responses are one
    with tokens and one without; the next day, a session whose only response has none. Returns the
    sessions by id."""
    from decimal import Decimal

    from telemetry.models import (
        AiCodeLine,
        AiCommit,
        Conversation,
        Project,
        Session,
        ToolCall,
        ToolHour,
        Turn,
        UsageHour,
    )
    from telemetry.processing.histograms import histogram_of

    project = Project.objects.create(key=CURSOR_PROJECT[0], name=CURSOR_PROJECT[1])
    at = CURSOR_DAY.replace(hour=10)
    hour = at
    one = Session.objects.create(
        platform="cursor", session_id=CURSOR_SESSION, project=project, models_used=["gpt-5"],
        started_at=at, last_event_at=at + timedelta(minutes=5), prompts=1, assistant_messages=2,
        tool_calls=1, input_tokens=1000, output_tokens=200, cost_usd=Decimal("0.01"),
        responses_without_tokens=1,
    )  # fmt: skip
    first = Conversation.objects.create(
        session=one,
        conversation_id="composer-1",
        started_at=at,
        mode="agent",
        lines_added=12,
        lines_removed=3,
    )
    Conversation.objects.create(session=one, conversation_id="composer-2", started_at=at, mode="ask")
    common = {"session": one, "conversation": first, "project": project, "hour": hour}
    Turn.objects.create(**common, key="p1", kind="user_prompt", timestamp=at, chars=40)
    Turn.objects.create(**common, key="r1", kind="assistant_response", timestamp=at + timedelta(minutes=1),
                        model="gpt-5", input_tokens=1000, output_tokens=200, cost_usd=Decimal("0.01"))  # fmt: skip
    Turn.objects.create(**common, key="r2", kind="assistant_response", timestamp=at + timedelta(minutes=2),
                        model="gpt-5", tokens_known=False)  # fmt: skip
    ToolCall.objects.create(**common, tool_use_id="t1", tool_name="run_terminal_cmd", status="success",
                            started_at=at + timedelta(minutes=3), duration_ms=120)  # fmt: skip
    ToolHour.objects.create(hour=hour, platform="cursor", project=project, tool_name="run_terminal_cmd", calls=1,
                            duration_ms_sum=120, duration_histogram=histogram_of([120]))  # fmt: skip
    UsageHour.objects.create(hour=hour, platform="cursor", project=project, model="gpt-5", messages=2,
                             input_tokens=1000, output_tokens=200, cost_usd=Decimal("0.01"),
                             responses_without_tokens=1)  # fmt: skip

    later = CURSOR_DAY + timedelta(days=1, hours=9)
    bare = Session.objects.create(
        platform="cursor", session_id=CURSOR_SESSION_BARE, project=project, models_used=["claude-4.5-sonnet"],
        started_at=later, last_event_at=later, assistant_messages=1, responses_without_tokens=1,
    )  # fmt: skip
    talk = Conversation.objects.create(session=bare, conversation_id="composer-3", started_at=later)
    Turn.objects.create(session=bare, conversation=talk, project=project, hour=later, key="r3",
                        kind="assistant_response", timestamp=later, model="claude-4.5-sonnet",
                        tokens_known=False)  # fmt: skip
    UsageHour.objects.create(hour=later, platform="cursor", project=project, model="claude-4.5-sonnet",
                             messages=1, responses_without_tokens=1)  # fmt: skip

    scored = CURSOR_DAY.replace(hour=12)
    for n, commit in enumerate(CURSOR_COMMITS):
        AiCommit.objects.create(**commit, scored_at=scored + timedelta(minutes=n), hour=scored)
    lines = [("composer", "gpt-5", ".py", one), ("composer", "gpt-5", ".py", one), ("composer", "gpt-5", "py", one),
             ("composer", "gpt-5", ".ts", one), ("tab", "", ".ts", None)]  # fmt: skip
    for n, (source, model, extension, session) in enumerate(lines):
        AiCodeLine.objects.create(hash=f"h{n}", source=source, model=model, file_extension=extension,
                                  session=session, created_at=scored, hour=scored)  # fmt: skip
    return {CURSOR_SESSION: one, CURSOR_SESSION_BARE: bare}


# --- Claude Code rows with OpenTelemetry provenance, as the slow path writes them (interfaces' tests) ----

OTEL_DAY = datetime(2026, 11, 26, tzinfo=UTC)
OTEL_SESSION = "otel-session-1"  # API calls from every source, tool decisions, OTel metrics, a gap
OTEL_PROJECT = ("otelprojectkey000001", "otel-app")  # key, name
OTEL_MODEL = "claude-sonnet-4-5-20250929"
# Each call: (request id, source, tokens (input, output, cache write, cache read), cost, OTel's reading)
OTEL_CALLS = [
    ("req_both", "both", (10, 100, 1000, 5000), "0.0200", (10, 100, 1000, 5000, "0.0200")),
    ("req_transcript", "transcript", (20, 200, 0, 6000), "0.0050", None),
    ("req_otel", "otel", (6, 49, 24168, 0), "0.0914", (6, 49, 24168, 0, "0.091383")),
    ("req_conflict", "conflict", (30, 300, 0, 0), "0.0046", (30, 301, 0, 0, "0.004605")),
]


def otel_rows() -> dict:
    """A Claude Code session on OTEL_DAY whose four API calls came from each source (OTEL_CALLS), with
    tool calls (one rejected by the user, one accepted by config, one seen by hooks only), OTel metric
    points (active time, lines, an edit decision, tokens and cost), an API error with a retry, one
    possibly lost OTel record, and the rollups the slow path writes for them. Returns the session."""
    from decimal import Decimal

    from telemetry.models import (
        ActivityHour,
        Conversation,
        MetricPoint,
        Project,
        Session,
        ToolCall,
        ToolHour,
        Turn,
        UsageHour,
    )
    from telemetry.processing.histograms import histogram_of

    project = Project.objects.create(key=OTEL_PROJECT[0], name=OTEL_PROJECT[1])
    at = OTEL_DAY.replace(hour=10)
    session = Session.objects.create(
        platform="claude_code", session_id=OTEL_SESSION, project=project, models_used=[OTEL_MODEL],
        started_at=at, last_event_at=at + timedelta(minutes=9), prompts=2, assistant_messages=4,
        tool_calls=3, tool_rejections=1, api_errors=1, api_retries=2, otel_gaps=1,
        input_tokens=66, output_tokens=649, cache_write_tokens=25168, cache_read_tokens=11000,
        cost_usd=Decimal("0.1210"), active_seconds=420, otel_active_seconds=Decimal("23.852"),
        lines_added=30, lines_removed=2, otel_lines_added=30, otel_lines_removed=2,
        otel_edit_accepts=11, otel_edit_rejects=0,
    )  # fmt: skip
    talk = Conversation.objects.create(session=session, conversation_id=OTEL_SESSION, started_at=at)
    common = {"session": session, "conversation": talk, "project": project, "hour": at}
    Turn.objects.create(**common, key="prompt:p1", kind="user_prompt", timestamp=at, chars=40,
                        detail={"sources": ["hook", "otel", "transcript"]})  # fmt: skip
    Turn.objects.create(**common, key="prompt:p2", kind="user_prompt", timestamp=at + timedelta(minutes=5),
                        chars=12, detail={"sources": ["hook", "transcript"]})  # fmt: skip
    for n, (request, source, tokens, cost, reading) in enumerate(OTEL_CALLS):
        otel = None
        if reading:
            keys = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens", "cost_usd")
            otel = dict(zip(keys, reading, strict=True)) | {"cache_write_1h_tokens": 0}
        Turn.objects.create(
            **common, key=f":{request}", kind="assistant_response", timestamp=at + timedelta(minutes=n + 1),
            model=OTEL_MODEL, input_tokens=tokens[0], output_tokens=tokens[1], cache_write_tokens=tokens[2],
            cache_read_tokens=tokens[3], cost_usd=Decimal(cost), request_id=request, source=source,
            otel_usage=otel,
        )  # fmt: skip
        UsageHour.objects.create(
            hour=at, platform="claude_code", project=project, model=OTEL_MODEL, source=source, messages=1,
            input_tokens=tokens[0], output_tokens=tokens[1], cache_write_tokens=tokens[2],
            cache_read_tokens=tokens[3], cost_usd=Decimal(cost),
        )  # fmt: skip
    Turn.objects.create(**common, key="api_error::req_error", kind="api_error", timestamp=at + timedelta(minutes=6),
                        model=OTEL_MODEL, request_id="req_error",
                        detail={"status_code": 529, "attempts": 3, "sources": ["otel", "transcript"]})  # fmt: skip
    calls = [
        ("toolu_rejected", "Bash", "rejected", "reject", "user_reject", True, True, True),
        ("toolu_accepted", "Write", "success", "accept", "config", True, True, True),
        ("toolu_hooks", "Read", "success", "", "", False, True, True),
    ]
    for n, (tool_id, name, status, decision, decided_by, otel, hooks, transcript) in enumerate(calls):
        ToolCall.objects.create(
            **common, tool_use_id=tool_id, tool_name=name, status=status, decision=decision,
            decision_source=decided_by, seen_in_otel=otel, seen_in_hooks=hooks, seen_in_transcript=transcript,
            started_at=at + timedelta(minutes=n + 1), duration_ms=100 * (n + 1),
            otel_duration_ms=90 * (n + 1) if otel else None,
        )  # fmt: skip
        ToolHour.objects.create(hour=at, platform="claude_code", project=project, tool_name=name, calls=1,
                                rejections=int(status == "rejected"), duration_ms_sum=100 * (n + 1),
                                duration_histogram=histogram_of([100 * (n + 1)]))  # fmt: skip
    points = [
        ("claude_code.active_time.total", "", "cli", "23.852"),
        ("claude_code.lines_of_code.count", OTEL_MODEL, "added", "30"),
        ("claude_code.lines_of_code.count", OTEL_MODEL, "removed", "2"),
        ("claude_code.code_edit_tool.decision", "", "accept", "11"),
        ("claude_code.token.usage", OTEL_MODEL, "input", "46"),
        ("claude_code.token.usage", OTEL_MODEL, "output", "450"),
        ("claude_code.token.usage", OTEL_MODEL, "cacheCreation", "25168"),
        ("claude_code.token.usage", OTEL_MODEL, "cacheRead", "5000"),
        ("claude_code.cost.usage", OTEL_MODEL, "", "0.115988"),
    ]
    for n, (name, model, kind, value) in enumerate(points):
        MetricPoint.objects.create(
            session=session, project=project, key=f"cc:o:metric:{n}", name=name, model=model, kind=kind,
            series=f"series-{n}", temporality="delta", start_time=at, time=at + timedelta(minutes=9), hour=at,
            value=Decimal(value), delta=Decimal(value),
        )  # fmt: skip
    ActivityHour.objects.create(
        hour=at, platform="claude_code", project=project, sessions=1, prompts=2, api_errors=1, api_retries=2,
        lines_added=30, lines_removed=2, edits_accepted=3, active_seconds=420,
        otel_active_seconds=Decimal("23.852"), otel_lines_added=30, otel_lines_removed=2, otel_edit_accepts=11,
    )  # fmt: skip
    return session


# --- Sessions of several people and machines, as a team server derives them (docs/team.md) --------------

PEOPLE_DAY = datetime(2026, 11, 20, tzinfo=UTC)
PEOPLE_PROJECT = ("peopleprojectkey0001", "team-app")  # key, name
# (session id, user, machine, responses): alice on two machines, bob on one, and this install's own.
PEOPLE_SESSIONS = [
    ("people-alice-laptop", "alice", "alice-laptop", 3),
    ("people-alice-desk", "alice", "alice-desk", 2),
    ("people-bob", "bob", "bob-laptop", 1),
    ("people-local", "", "", 4),
]


def people_rows() -> dict:
    """Claude Code sessions of two users on three machines (and one of this install's own) on PEOPLE_DAY,
    each with assistant responses (1000 input tokens and 0.01 USD each), a prompt, a Bash call (bob's
    failed) and an edit; the rollups recomputed from them as the slow path does. Returns the sessions by
    id."""
    from decimal import Decimal

    from telemetry.models import CodeChange, Conversation, Project, Session, ToolCall, Turn
    from telemetry.processing.rollups import rollups_rebuild

    project = Project.objects.create(key=PEOPLE_PROJECT[0], name=PEOPLE_PROJECT[1])
    out = {}
    for n, (session_id, user, machine, responses) in enumerate(PEOPLE_SESSIONS):
        at = PEOPLE_DAY.replace(hour=9 + n)
        session = out[session_id] = Session.objects.create(
            platform="claude_code", session_id=session_id, project=project, user=user, machine=machine,
            models_used=["claude-sonnet-4-5"], started_at=at, last_event_at=at + timedelta(minutes=10),
            prompts=1, assistant_messages=responses, tool_calls=1, input_tokens=1000 * responses,
            cost_usd=Decimal("0.01") * responses,
        )  # fmt: skip
        talk = Conversation.objects.create(session=session, conversation_id=session_id, started_at=at)
        common = {"session": session, "conversation": talk, "project": project, "hour": at}
        Turn.objects.create(**common, key="p", kind="user_prompt", timestamp=at, chars=10)
        for r in range(responses):
            Turn.objects.create(**common, key=f"r{r}", kind="assistant_response",
                                timestamp=at + timedelta(minutes=1 + r), model="claude-sonnet-4-5",
                                input_tokens=1000, cost_usd=Decimal("0.01"))  # fmt: skip
        ToolCall.objects.create(**common, tool_use_id="t", tool_name="Bash",
                                status="failure" if user == "bob" else "success",
                                started_at=at + timedelta(minutes=5), duration_ms=100)  # fmt: skip
        CodeChange.objects.create(session=session, project=project, hour=at, key="t", tool_name="Edit", file_extension="py", lines_added=2,
                                  timestamp=at + timedelta(minutes=6))  # fmt: skip
    rollups_rebuild()
    return out
