"""The slow path's catch-up against the real Claude Code corpus, through the real fast path (capture
envelopes -> Redis stream -> StreamConsumer -> raw store -> session_catch_up), on SQLite and Redis."""

import json
import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from telemetry import tasks, wire
from telemetry.capture.claude_events import hook_envelope
from telemetry.capture.importer import history_import
from telemetry.capture.privacy import Privacy
from telemetry.capture.transcripts import FileState, ProjectCache, file_events, transcript_files
from telemetry.models import (
    ClaudeRawTrace,
    CodeChange,
    Conversation,
    DataIssue,
    Project,
    RawChunk,
    Session,
    SessionProgress,
    SessionStatus,
    ToolCall,
    Turn,
    TurnKind,
)
from telemetry.processing import catchup, recompute
from telemetry.processing.catchup import session_catch_up
from telemetry.processing.rollups import active_seconds, hour_floor
from telemetry.wire import EVENTS_STREAM
from tests.factories import entry
from tests.telemetry.test_consumer import drain, make_consumer

pytestmark = pytest.mark.django_db

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "claude-real"
PROJECTS = CORPUS / "projects"
FORK_ORIGINAL = "2910f535-51be-4d56-b921-f3cc433ece4e"
FORK = "1866ec00-1844-42fe-b156-a87aa606088c"
FAILURES = "8c01be02-d679-455c-bd81-be73213afb61"
SUBAGENT_PARENT = "0112e194-50b9-44cf-811d-a68cd8ea7af6"
README_TOTALS = {
    "claude-sonnet-4-5-20250929": (301, 1254, 446193, 569663, "1.8843"),
    "claude-opus-4-5-20251101": (61, 367, 111371, 132455, "0.7843"),
    "claude-opus-4-1-20250805": (4, 28, 21942, 0, "0.4136"),
    "claude-haiku-4-5-20251001": (48, 109, 112669, 47201, "0.1468"),
}
SALT = b"catch-up tests"


# --- feeding the pipeline -------------------------------------------------------------------------


def transcript_envelopes(privacy: Privacy, root: Path = PROJECTS) -> list[bytes]:
    """Every transcript line as the tailer/importer builds it."""
    out: list[bytes] = []
    projects = ProjectCache(privacy)
    for path in transcript_files(str(root)):
        envelopes = file_events(path, FileState(), privacy=privacy, projects=projects, final=True).envelopes
        out.extend(envelopes)
    return out


def hook_envelopes(privacy: Privacy) -> list[bytes]:
    """Every recorded hook call, as the hook builds its envelope from stdin."""
    out = []
    for line in (CORPUS / "hooks.jsonl").read_text().splitlines():
        call = json.loads(line)
        raw = json.dumps(call["payload"]).encode()
        out.append(orjson.dumps(hook_envelope(raw, capture_ns=int(call["ts"] * 1e9), privacy=privacy)))
    return out


def envelope_session(raw: bytes) -> str:
    return orjson.loads(raw)["session_id"]


def ingest(redis, envelopes: list[bytes]) -> None:
    for start in range(0, len(envelopes), 500):
        pipe = redis.pipeline(transaction=False)
        for raw in envelopes[start : start + 500]:
            pipe.xadd(EVENTS_STREAM, entry(raw))
        pipe.execute()
    drain(make_consumer(redis))


_SESSION_IDS: set[str] = set()


def catch_up_all() -> int:
    """Catch up every session the test fed (as the task would for each dirty one)."""
    keys = set(SessionProgress.objects.values_list("platform", "session_id"))
    keys |= {("claude_code", s) for s in _SESSION_IDS}
    return sum(session_catch_up(platform=p, session_id=s).applied for p, s in sorted(keys))


def feed(redis, envelopes: list[bytes]) -> int:
    """Ingest envelopes through the fast path, then catch up every session they touched."""
    _SESSION_IDS.update(envelope_session(raw) for raw in envelopes)
    ingest(redis, envelopes)
    return catch_up_all()


def derived_reset() -> None:
    """Forget every raw and derived row (a fresh install), keeping Redis as the test left it."""
    for model in (DataIssue, CodeChange, ToolCall, Turn, Conversation, Session, Project, SessionProgress):
        model.objects.all().delete()
    ClaudeRawTrace.objects.all().delete()
    RawChunk.objects.all().delete()


# --- comparing derived rows -----------------------------------------------------------------------


def snapshot() -> dict[str, Any]:
    """Every derived row, without surrogate ids or the raw seq of issues (which depends on arrival)."""
    sessions = {
        s.session_id: {
            k: v for k, v in s.__dict__.items() if not k.startswith("_") and k not in ("id", "project_id")
        }
        | {"project": s.project.key}
        for s in Session.objects.select_related("project")
    }
    turns = sorted(
        (t.session.session_id, t.key, t.kind, t.timestamp, t.hour, t.model, t.stop_reason, t.input_tokens,
         t.output_tokens, t.cache_write_tokens, t.cache_write_1h_tokens, t.cache_read_tokens,
         t.cost_usd, t.price_table, t.latency_ms, t.chars, t.lines, t.agent_id,
         json.dumps(t.detail, sort_keys=True), t.project.key, t.conversation.conversation_id)
        for t in Turn.objects.select_related("session", "project", "conversation")
    )  # fmt: skip
    tools = sorted(
        (c.session.session_id, c.tool_use_id, c.tool_name, c.mcp_server, c.status, c.error_type,
         c.started_at, c.finished_at, c.hour, c.duration_ms, c.message_key, c.agent_id, c.seen_in_hooks,
         c.seen_in_transcript, c.project.key)
        for c in ToolCall.objects.select_related("session", "project")
    )  # fmt: skip
    changes = sorted(
        (c.session.session_id, c.key, c.tool_name, c.file_extension, c.path_hash, c.lines_added,
         c.lines_removed, c.status, c.timestamp, c.hour, c.project.key)
        for c in CodeChange.objects.select_related("session", "project")
    )  # fmt: skip
    issues = sorted(
        (i.session.session_id, i.kind, i.detail if i.seq < 0 else "")
        for i in DataIssue.objects.select_related("session")
    )
    return {"sessions": sessions, "turns": turns, "tools": tools, "changes": changes, "issues": issues}


# --- what the transcripts say, counted independently ------------------------------------------------


def transcript_counts() -> dict[str, Counter]:
    """Per session, straight from the unfiltered files: prompts, tool calls and their outcomes.

    Written apart from the implementation: a forked session's copied lines are found as uuids that also
    occur in another session's file (they belong to the earlier session), and outcomes are read from
    the result text."""
    records_by_file = {
        path: [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        for path in PROJECTS.rglob("*.jsonl")
    }
    seen_in: dict[str, set[str]] = defaultdict(set)
    first_ts: dict[str, str] = {}
    for records in records_by_file.values():
        for r in records:
            if r.get("uuid"):
                seen_in[r["uuid"]].add(r["sessionId"])
    for records in records_by_file.values():
        for r in records:
            # When a session began: its first line that no other session has.
            if r.get("timestamp") and r.get("sessionId") and len(seen_in.get(r.get("uuid", ""), ())) <= 1:
                first_ts[r["sessionId"]] = min(first_ts.get(r["sessionId"], "~"), r["timestamp"])

    def owner(r: dict) -> str:
        # A copied line belongs to the session that existed first.
        sessions = seen_in.get(r.get("uuid", ""), {r["sessionId"]})
        return min(sessions, key=lambda s: first_ts.get(s, "~"))

    counts: dict[str, Counter] = defaultdict(Counter)
    calls: dict[str, str] = {}
    outcome: dict[str, str] = {}
    for records in records_by_file.values():
        for r in records:
            message = r.get("message")
            if not isinstance(message, dict):
                continue
            content = message.get("content")
            if r["type"] == "assistant" and isinstance(content, list):
                for block in content:
                    if block.get("type") == "tool_use":
                        calls[block["id"]] = owner(r)
            elif r["type"] == "user" and isinstance(content, list):
                for block in content:
                    if block.get("type") != "tool_result":
                        continue
                    text = json.dumps(r.get("toolUseResult")) + json.dumps(block.get("content"))
                    if not block.get("is_error"):
                        outcome[block["tool_use_id"]] = "ok"
                    elif "User rejected" in text or "needs approval" in text:
                        outcome[block["tool_use_id"]] = "rejected"
                    elif "interrupted by user" in text:
                        outcome[block["tool_use_id"]] = "interrupted"
                    else:
                        outcome[block["tool_use_id"]] = "failed"
            elif (
                r["type"] == "user"
                and not r.get("isMeta")
                and not r.get("isSidechain")
                and not r.get("isCompactSummary")
                and owner(r) == r["sessionId"]
                and not _local_text(content)
            ):
                counts[r["sessionId"]]["prompts"] += 1
    for tool_id, session in calls.items():
        counts[session]["tool_calls"] += 1
        counts[session][outcome.get(tool_id, "pending")] += 1
    return counts


def _local_text(content: Any) -> bool:
    """A slash command run locally, its output, or an interruption note: not a prompt to the model."""
    text = content if isinstance(content, str) else " ".join(b.get("text", "") for b in content)
    return text.startswith(("<command-name>/", "<local-command-stdout>", "[Request interrupted"))


# --- the tests ------------------------------------------------------------------------------------


@pytest.fixture
def corpus(redis) -> None:
    """The whole corpus, imported by the real importer, with the hook calls, derived."""
    privacy = Privacy(SALT)
    history_import(str(PROJECTS), client=redis, privacy=privacy, progress=False)
    hooks = hook_envelopes(privacy)
    _SESSION_IDS.update(envelope_session(raw) for raw in hooks + transcript_envelopes(privacy))
    ingest(redis, hooks)
    catch_up_all()


def _rounded(cost: Decimal) -> str:
    return str(cost.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def test_per_model_totals_equal_ccusage(corpus) -> None:
    for model, (*tokens, cost) in README_TOTALS.items():
        turns = Turn.objects.filter(kind=TurnKind.ASSISTANT_RESPONSE, model=model)
        got = [
            sum(getattr(t, f) for t in turns)
            for f in ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
        ]
        assert got == tokens, model
        assert _rounded(sum(t.cost_usd for t in turns)) == cost, model
    assert set(Turn.objects.filter(kind=TurnKind.ASSISTANT_RESPONSE).values_list("model", flat=True)) == set(
        README_TOTALS
    )


def test_session_token_totals_equal_ccusage_except_the_fork_pair(corpus) -> None:
    expected = {
        row["period"]: row for row in json.loads((CORPUS / "ccusage" / "session.json").read_text())["session"]
    }
    sessions = {s.session_id: s for s in Session.objects.all()}
    for session_id, row in expected.items():
        if session_id == FORK:
            continue
        s = sessions[session_id]
        assert (s.input_tokens, s.output_tokens, s.cache_write_tokens, s.cache_read_tokens) == (
            row["inputTokens"], row["outputTokens"], row["cacheCreationTokens"], row["cacheReadTokens"]
        ), session_id  # fmt: skip
        assert abs(s.cost_usd - Decimal(repr(row["totalCost"]))) < Decimal("1e-6"), session_id
    # The fork's copies of its origin's messages count for the origin (ccusage gives them to the fork).
    fork, original = sessions[FORK], sessions[FORK_ORIGINAL]
    pair = expected[FORK]
    assert fork.parent_session_id == FORK_ORIGINAL
    assert fork.output_tokens + original.output_tokens == pair["outputTokens"]
    assert fork.cache_write_tokens + original.cache_write_tokens == pair["cacheCreationTokens"]
    assert original.assistant_messages == 2 and original.output_tokens > 0


def test_session_counts_equal_the_transcripts_counted_independently(redis) -> None:
    # Content kept (opt-in); the next test checks the same counts with the default privacy filter.
    privacy = Privacy(SALT, store_content=True)
    feed(redis, hook_envelopes(privacy) + transcript_envelopes(privacy))
    expected = transcript_counts()
    sessions = {s.session_id: s for s in Session.objects.all()}
    assert set(sessions) >= set(expected)
    for session_id, s in sessions.items():
        want = expected.get(session_id, Counter())
        got = (s.prompts, s.tool_calls, s.tool_failures, s.tool_rejections, s.tool_interruptions)
        assert got == (
            want["prompts"],
            want["tool_calls"],
            want["failed"],
            want["rejected"],
            want["interrupted"],
        ), session_id
        assert ToolCall.objects.filter(session=s, status="pending").count() == want["pending"], session_id
    totals = Counter()
    for c in expected.values():
        totals.update(c)
    # Guards: the corpus exercises what is compared.
    assert totals["failed"] == 4 and totals["rejected"] == 2 and totals["tool_calls"] > 40
    # Hooks and transcript lines of one prompt or tool call were merged, not counted twice.
    assert ToolCall.objects.filter(seen_in_hooks=True, seen_in_transcript=True).count() >= 30
    assert (
        Turn.objects.filter(kind=TurnKind.USER_PROMPT, detail__sources=["hook", "transcript"]).count() >= 20
    )


def test_with_the_default_filter_rejections_and_interruptions_are_still_told_apart(corpus) -> None:
    # The result texts are filtered out at capture; capture's verdicts (metadata.tool_outcomes) remain.
    expected = transcript_counts()
    for s in Session.objects.all():
        want = expected.get(s.session_id, Counter())
        got = (s.tool_calls, s.tool_failures, s.tool_rejections, s.tool_interruptions)
        assert got == (want["tool_calls"], want["failed"], want["rejected"], want["interrupted"]), (
            s.session_id
        )


def test_sessions_carry_project_branch_status_and_models(corpus) -> None:
    s = Session.objects.get(session_id=FAILURES)
    assert s.project.name == "03-failures" and s.project.key != Project.UNKNOWN_KEY
    assert s.git_branch == "master"
    assert s.status == SessionStatus.ENDED and s.end_reason == "other"
    assert s.models_used == ["claude-sonnet-4-5-20250929"]
    assert s.started_at <= s.last_event_at
    assert Conversation.objects.get(session=s).conversation_id == FAILURES
    parent = Session.objects.get(session_id=SUBAGENT_PARENT)
    assert parent.subagent_runs == 1
    run = Turn.objects.get(session=parent, kind=TurnKind.SUBAGENT_RUN)
    assert run.detail["agent_type"] == "general-purpose"
    # The sub-agent's messages count under the parent session.
    assert Turn.objects.filter(session=parent, kind=TurnKind.ASSISTANT_RESPONSE).exclude(agent_id="").exists()
    assert Session.objects.get(session_id="bdc434aa-1525-474e-b01d-9258265409aa").compactions == 1
    assert Session.objects.get(session_id="a4acdedd-5732-44dd-a851-567450fd79e4").api_errors == 1


def test_tool_calls_have_durations_and_edits_have_lines(corpus) -> None:
    calls = ToolCall.objects.filter(session__session_id=FAILURES)
    assert all(c.duration_ms is not None and c.duration_ms >= 0 for c in calls)
    assert calls.filter(status="failure").count() == 4
    changes = CodeChange.objects.filter(session__session_id="6020e324-f726-4ac2-bb01-94fd89ba3a10")
    assert sorted((c.tool_name, c.file_extension, c.lines_added, c.lines_removed) for c in changes) == [
        ("Edit", "txt", 1, 1),
        ("Write", "txt", 3, 0),
    ]
    assert Turn.objects.filter(kind=TurnKind.ASSISTANT_RESPONSE, latency_ms__isnull=False).count() > 50


def test_repeated_catch_up_changes_nothing(corpus) -> None:
    before = snapshot()
    assert catch_up_all() == 0
    assert snapshot() == before


def test_events_applied_twice_change_nothing(corpus) -> None:
    before = snapshot()
    # A redelivered task that re-applies every event (watermarks forgotten) merges to the same rows.
    SessionProgress.objects.update(processed_seq=0)
    assert catch_up_all() > 0
    assert snapshot() == before


def test_failure_after_a_partial_write_leaves_nothing_and_a_rerun_is_clean(redis, monkeypatch) -> None:
    privacy = Privacy(SALT)
    envelopes = [
        e for e in hook_envelopes(privacy) + transcript_envelopes(privacy) if envelope_session(e) == FAILURES
    ]
    feed(redis, envelopes)
    clean = snapshot()
    derived_reset()
    ingest(redis, envelopes)  # raw rows again (the stream is re-read by a fresh consumer group state)
    assert ClaudeRawTrace.objects.exists(), "the fast path did not store the events again"

    def crash(*args, **kwargs):
        raise RuntimeError("worker killed after writing rows")

    monkeypatch.setattr(catchup, "_rollups", crash)
    with pytest.raises(RuntimeError):
        session_catch_up(platform="claude_code", session_id=FAILURES)
    assert not Turn.objects.exists() and not ToolCall.objects.exists() and not Session.objects.exists()
    assert not SessionProgress.objects.filter(session_id=FAILURES, processed_seq__gt=0).exists()
    monkeypatch.undo()
    assert session_catch_up(platform="claude_code", session_id=FAILURES).applied == len(envelopes)
    assert snapshot() == clean


def _order_snapshot(redis, envelopes: list[bytes]) -> dict:
    derived_reset()
    redis.flushdb()
    feed(redis, envelopes)
    return snapshot()


def test_arrival_order_does_not_change_the_rows(redis) -> None:
    privacy = Privacy(SALT)
    hooks, lines = hook_envelopes(privacy), transcript_envelopes(privacy)
    reference = _order_snapshot(redis, hooks + lines)
    assert reference["turns"] and reference["tools"]
    assert _order_snapshot(redis, lines + hooks) == reference
    shuffled = hooks + lines
    random.Random(7).shuffle(shuffled)
    assert _order_snapshot(redis, shuffled) == reference


def test_increments_give_the_same_rows_as_one_pass(redis) -> None:
    privacy = Privacy(SALT)
    sessions = {FAILURES, FORK, FORK_ORIGINAL, SUBAGENT_PARENT}
    envelopes = [
        e for e in hook_envelopes(privacy) + transcript_envelopes(privacy) if envelope_session(e) in sessions
    ]
    reference = _order_snapshot(redis, envelopes)
    rng = random.Random(11)
    for _ in range(6):
        cuts = sorted(rng.sample(range(1, len(envelopes)), 4))
        derived_reset()
        redis.flushdb()
        for start, end in zip([0, *cuts], [*cuts, len(envelopes)], strict=True):
            feed(redis, envelopes[start:end])
        assert snapshot() == reference, cuts


def test_every_split_of_one_session_gives_the_same_rows(redis) -> None:
    privacy = Privacy(SALT)
    envelopes = [
        e for e in hook_envelopes(privacy) + transcript_envelopes(privacy) if envelope_session(e) == FAILURES
    ]
    reference = _order_snapshot(redis, envelopes)
    for cut in range(1, len(envelopes)):
        derived_reset()
        redis.flushdb()
        feed(redis, envelopes[:cut])
        feed(redis, envelopes[cut:])
        assert snapshot() == reference, cut


def test_the_task_drains_dirty_sessions_into_derived_rows(redis) -> None:
    privacy = Privacy(SALT)
    envelopes = [e for e in transcript_envelopes(privacy) if envelope_session(e) == FAILURES]
    ingest(redis, envelopes)
    assert redis.hlen(wire.DIRTY_SESSIONS) == 1
    assert tasks.sessions_catch_up() == 1
    session = Session.objects.get(session_id=FAILURES)
    assert session.tool_calls == 5 and session.tool_failures == 4
    progress = SessionProgress.objects.get(session_id=FAILURES)
    assert progress.processed_seq == progress.raw_through_seq > 0
    assert redis.hlen(wire.DIRTY_SESSIONS) == 0


def test_active_time_and_latencies_computed_in_sql_equal_the_datetime_definitions() -> None:
    # The catch-up computes both from exact epoch microseconds in SQL; fractions just under a second
    # (which SQLite's own date functions would round to milliseconds) and repeated times are the traps.
    base = datetime(2025, 3, 1, 12, 0, 59, 999600, tzinfo=UTC)
    offsets_us = [0, 1, 400, 999_999, 61_000_000, 61_000_000, 700_000_001, 700_250_000, 1_300_999_999]
    times = [base + timedelta(microseconds=us) for us in offsets_us]
    project = Project.objects.create(key="p", name="p")
    session = Session.objects.create(platform="claude_code", session_id="s", project=project)
    conversation = Conversation.objects.create(session=session, conversation_id="s")
    kinds = [TurnKind.USER_PROMPT, TurnKind.ASSISTANT_RESPONSE] * 5
    for i, (ts, kind) in enumerate(zip(times, kinds, strict=False)):
        Turn.objects.create(session=session, conversation=conversation, project=project, key=f"t{i}",
                            kind=kind, timestamp=ts, hour=hour_floor(ts), agent_id="a" if i > 6 else "")  # fmt: skip
    ToolCall.objects.create(session=session, conversation=conversation, project=project, tool_use_id="c",
                            started_at=times[2] + timedelta(microseconds=7), hour=hour_floor(times[2]),
                            finished_at=times[6] - timedelta(microseconds=3))  # fmt: skip

    recompute._latencies(session)
    recompute._counters(session)

    session.refresh_from_db()
    all_times = [*times, times[2] + timedelta(microseconds=7), times[6] - timedelta(microseconds=3)]
    assert session.active_seconds == active_seconds(all_times) > 0
    marks = [(t.agent_id, t.timestamp) for t in Turn.objects.filter(kind=TurnKind.USER_PROMPT)]
    marks.append(("", times[6] - timedelta(microseconds=3)))
    for turn in Turn.objects.filter(kind=TurnKind.ASSISTANT_RESPONSE):
        before = sorted(ts for agent, ts in marks if agent == turn.agent_id and ts <= turn.timestamp)
        want = round((turn.timestamp - before[-1]).total_seconds() * 1000) if before else None
        assert turn.latency_ms == want, turn.key
    assert Turn.objects.filter(latency_ms__isnull=False).count() >= 3
