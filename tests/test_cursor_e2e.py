"""Cursor end to end: the fixture's databases -> the database monitor's reader (one poll) and the fixture's
hook calls -> the Cursor hook's envelopes -> the Redis stream -> the fast path (StreamConsumer, what
`runfastpath` runs) -> the slow path's task (run synchronously, as the style guide says) -> the derived
tables, which must say what tests/fixtures/cursor/ground_truth.json says, the turn that exists only in
the WAL included, and must be the same whatever order the two producers' events arrive in."""

import json
import random
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import orjson
import pytest
from django.db.models import Q, Sum

from telemetry import tasks, wire
from telemetry.capture.cursor_events import edit_lines, hook_envelope
from telemetry.capture.cursor_monitor import CursorMonitor
from telemetry.capture.cursor_paths import locate_under
from telemetry.capture.cursor_state import CursorState
from telemetry.capture.privacy import Privacy
from telemetry.models import (
    AiCodeLine,
    AiCommit,
    CodeChange,
    Conversation,
    Session,
    ToolCall,
    Turn,
    TurnKind,
)
from telemetry.processing.cursor import AI_TRACKING_SESSION
from telemetry.processing.cursor_recompute import REST_TOOL
from tests.support.cursor import DATA_HOME, GROUND_TRUTH, HOOK_CALLS, cursor_home
from tests.telemetry.processing.test_cursor_catchup import derived_reset, snapshot
from tests.telemetry.test_consumer import drain, make_consumer
from tests.test_slowpath_e2e import all_caught_up, fastpath, raw_count, running, wait_for, worker

pytestmark = pytest.mark.django_db

PRIVACY = Privacy(b"cursor-e2e-salt")
TOTALS = GROUND_TRUTH["totals"]
DELETED = GROUND_TRUTH["excluded"]["deleted_conversations"][0]["id"]
V2NEW = "3ac7652c-cdf8-4404-8729-5e4299901c04"  # bubbles with {0,0} tokens: only the stop hook has them


def database_envelopes(home: Path) -> list[bytes]:
    """What one poll of the database monitor sends for the fixture."""
    out: list[bytes] = []
    monitor = CursorMonitor(
        home=str(home), privacy=PRIVACY, send=out.extend, state=CursorState(None),
        locate=locate_under(DATA_HOME, str(home)),
    )  # fmt: skip
    monitor.poll()
    return out


def hook_envelopes() -> list[bytes]:
    """Every fixture hook call, as the Cursor hook builds its envelope from stdin at the recorded time."""
    out = []
    for call in HOOK_CALLS:
        moment = datetime.fromisoformat(call["ts"].replace("Z", "+00:00"))
        capture_ns = int(moment.timestamp() * 1000) * 1_000_000
        raw = json.dumps(call["stdin"], ensure_ascii=False, separators=(",", ":")).encode()
        out.append(orjson.dumps(hook_envelope(raw, capture_ns=capture_ns, privacy=PRIVACY)))
    return out


def pipeline(redis, envelopes: list[bytes]) -> None:
    """Producers' XADDs -> the fast path -> the slow path's task until no session is dirty."""
    pipe = redis.pipeline(transaction=False)
    for raw in envelopes:
        pipe.xadd(wire.EVENTS_STREAM, {"event": raw})
    pipe.execute()
    drain(make_consumer(redis))
    for _ in range(20):
        if not redis.hlen(wire.DIRTY_SESSIONS):
            break
        tasks.sessions_catch_up()
    assert not redis.hlen(wire.DIRTY_SESSIONS)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return cursor_home(tmp_path)


def cursor_turns(**filters: object) -> object:
    return Turn.objects.filter(session__platform="cursor", **filters)


def figures(sessions: set[str] | None = None) -> dict:
    """The ground truth's figures, read from the derived tables (of the sessions named, else all)."""
    mine = Q(session__platform="cursor")
    if sessions is not None:
        mine &= Q(session__session_id__in=sessions)
    turns = Turn.objects.filter(mine)
    tools = ToolCall.objects.filter(mine)
    edits = CodeChange.objects.filter(mine).exclude(tool_name=REST_TOOL)
    conversations = Conversation.objects.filter(mine).exclude(revision="")
    session_rows = Session.objects.filter(pk__in=conversations.values("session"))
    tokens: dict = {}
    for row in (
        turns.filter(kind=TurnKind.ASSISTANT_RESPONSE, tokens_known=True)
        .values("model")
        .annotate(i=Sum("input_tokens"), o=Sum("output_tokens"))
    ):
        if row["i"] or row["o"]:
            tokens[row["model"]] = {"input": row["i"], "output": row["o"]}
    all_sessions = Session.objects.filter(platform="cursor")
    if sessions is not None:
        all_sessions = all_sessions.filter(session_id__in=sessions)
    lines = all_sessions.aggregate(a=Sum("lines_added"), r=Sum("lines_removed"))
    return {
        "conversations": conversations.count(),
        "conversations_nonempty": session_rows.filter(prompts__gt=0).count(),
        "conversations_archived": conversations.filter(archived=True).count(),
        "user_messages": turns.filter(kind=TurnKind.USER_PROMPT).count(),
        "assistant_messages": turns.filter(kind=TurnKind.ASSISTANT_RESPONSE).count(),
        "assistant_text_messages": turns.filter(kind=TurnKind.ASSISTANT_RESPONSE, detail__text=1).count(),
        "tool_calls": tools.count(),
        "lines_added": lines["a"] or 0,
        "lines_removed": lines["r"] or 0,
        "mcp_calls": tools.filter(tool_name__startswith="mcp_").count(),
        "file_reads": tools.filter(tool_name="read_file").count(),
        "shell_commands": tools.filter(tool_name="run_terminal_cmd").count(),
        "tokens_by_model": tokens,
        "files_edited": edits.values("path_hash").distinct().count(),
    }


def composer_sessions() -> set[str]:
    """The sessions of the conversations Cursor still has (a deleted one left only hooks and AI rows)."""
    return set(Conversation.objects.exclude(revision="").values_list("session__session_id", flat=True))


def project_sessions(project_key: str) -> set[str]:
    return set(Session.objects.filter(project__key=project_key).values_list("session_id", flat=True))


def test_the_databases_alone_give_the_ground_truth(redis, home: Path) -> None:
    pipeline(redis, database_envelopes(home))
    got = figures()
    assert got == {key: TOTALS[key] for key in got}
    # Per workspace: its sessions are those of its project (the first root, as Claude Code's).
    for workspace in GROUND_TRUTH["workspaces"]:
        project = PRIVACY.project(workspace["roots"][0])["hash"]
        mine = figures(project_sessions(project))
        expected = {key: workspace[key] for key in mine if key in workspace}
        assert {k: mine[k] for k in expected} == expected, workspace["label"]
    # Tokens Cursor did not record are missing, never zero: the assistant bubbles without tokenCount,
    # and the v2new conversation's {0,0} after the cutover.
    unknown = cursor_turns(kind=TurnKind.ASSISTANT_RESPONSE, tokens_known=False)
    assert unknown.filter(session__session_id=V2NEW).count() == 5
    assert Session.objects.aggregate(n=Sum("responses_without_tokens"))["n"] == unknown.count()
    assert not Session.objects.filter(session_id=AI_TRACKING_SESSION).exists()


def test_the_ai_tracking_figures(redis, home: Path) -> None:
    pipeline(redis, database_envelopes(home))
    truth = GROUND_TRUTH["ai_tracking"]
    lines = AiCodeLine.objects.all()
    assert lines.count() == truth["ai_code_hashes"]["rows"]
    assert dict(Counter(lines.values_list("source", flat=True))) == truth["ai_code_hashes"]["by_source"]
    by_model = Counter(m or "(null)" for m in lines.values_list("model", flat=True))
    assert dict(by_model) == truth["ai_code_hashes"]["by_model"]
    by_conversation = Counter(lines.exclude(session=None).values_list("session__session_id", flat=True))
    assert dict(by_conversation) == truth["ai_code_hashes"]["by_conversation"]
    commits = truth["scored_commits"]
    assert AiCommit.objects.count() == commits["rows"]
    once: dict[str, AiCommit] = {}
    for commit in AiCommit.objects.order_by("commit_hash", "branch"):
        once.setdefault(commit.commit_hash, commit)  # a commit scored on two branches counts once
    assert len(once) == commits["distinct_commits"]
    sums = defaultdict(int)
    for commit in once.values():
        for name, field in [("linesAdded", "lines_added"), ("linesDeleted", "lines_deleted"),
                            ("tabLinesAdded", "tab_lines_added"), ("composerLinesAdded", "composer_lines_added"),
                            ("humanLinesAdded", "human_lines_added"), ("blankLinesAdded", "blank_lines_added"),
                            ("composerLinesDeleted", "composer_lines_deleted")]:  # fmt: skip
            sums[name] += getattr(commit, field) or 0
    assert dict(sums) == {k: v for k, v in commits.items() if k in sums}


def test_hooks_and_databases_in_any_order_give_one_set_of_rows(redis, home: Path) -> None:
    database, hooks = database_envelopes(home), hook_envelopes()
    derived_reset(redis)
    pipeline(redis, database)
    db_only = figures(composer_sessions())
    orders = [database + hooks, hooks + database]
    shuffled = database + hooks
    random.Random(4).shuffle(shuffled)
    orders.append(shuffled)
    reference = None
    for order in orders:
        derived_reset(redis)
        half = len(order) // 2
        pipeline(redis, order[:half])
        pipeline(redis, order[half:])
        rows = snapshot()
        assert reference is None or rows == reference
        reference = rows
    with_hooks = figures(composer_sessions())
    # The hooks count nothing twice; they add the stop hook's tokens where Cursor recorded none.
    stop = GROUND_TRUTH["hooks"]["stop_tokens"]
    assert with_hooks.pop("tokens_by_model") == {
        **db_only.pop("tokens_by_model"),
        "default": {"input": stop["input_tokens"], "output": stop["output_tokens"]},
    }
    assert with_hooks == db_only
    v2new = cursor_turns(session__session_id=V2NEW, kind=TurnKind.ASSISTANT_RESPONSE)
    assert v2new.aggregate(r=Sum("cache_read_tokens"), w=Sum("cache_write_tokens")) == {
        "r": stop["cache_read_tokens"],
        "w": stop["cache_write_tokens"],
    }
    assert not cursor_turns(key__startswith="response:", session__session_id=V2NEW).exists()
    assert (
        not ToolCall.objects.filter(tool_use_id__startswith="hook:")
        .exclude(session__session_id=DELETED)
        .exists()
    )
    # Hook pairs give durations to the calls Cursor recorded.
    shells = ToolCall.objects.filter(tool_name="run_terminal_cmd").exclude(session__session_id=DELETED)
    assert sum(1 for s in shells if s.seen_in_hooks and s.duration_ms is not None) == 2  # the 2.x shells
    # The conversation Cursor deleted is a session of its hooks (and AI rows), not a conversation.
    deleted = Session.objects.get(platform="cursor", session_id=DELETED)
    assert (deleted.prompts, deleted.assistant_messages, deleted.tool_calls) == (1, 1, 2)
    edits = [c["stdin"] for c in HOOK_CALLS if c["hook_event_name"] == "afterFileEdit"]
    lines = [edit_lines(e["edits"]) for e in edits if e["conversation_id"] == DELETED]
    assert (deleted.lines_added, deleted.lines_removed) == tuple(map(sum, zip(*lines, strict=True)))
    assert not Conversation.objects.filter(session=deleted).exclude(revision="").exists()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_real_fast_path_and_worker_processes_give_the_ground_truth(redis, home: Path) -> None:
    """The same through real processes: `runfastpath` and a Celery worker, as `blueplane up` runs them."""
    events = database_envelopes(home) + hook_envelopes()
    with running(worker("cursor"), fastpath()) as procs:
        for raw in events:
            redis.xadd(wire.EVENTS_STREAM, {"event": raw})
        wait_for(lambda: raw_count() == len(events), "raw rows", procs)
        wait_for(all_caught_up, "derived rows", procs)
    got = figures(composer_sessions())
    stop = GROUND_TRUTH["hooks"]["stop_tokens"]
    expected = {key: TOTALS[key] for key in got}
    expected["tokens_by_model"] = {
        **TOTALS["tokens_by_model"],
        "default": {"input": stop["input_tokens"], "output": stop["output_tokens"]},
    }
    assert got == expected
