"""Purging sessions from a store the real pipeline filled: afterwards the reports equal the totals without
the purged sessions (computed here from their own turns, before the purge), nothing of them is left in
any table, archive file or Redis key, the other sessions' rows are unchanged, the rollups and live
metrics equal a recompute from scratch, and a second purge finds nothing."""

from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db.models import Sum

from telemetry.models import (
    RAW_TRACE_MODELS,
    ActivityHour,
    CodeChange,
    Conversation,
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
from telemetry.processing import live, purge, rollups
from telemetry.selectors import export, usage
from telemetry.store import archive
from telemetry.store.keys import session_key

pytestmark = pytest.mark.django_db

SPAN = {"start": date(2026, 11, 1), "end": date(2026, 11, 30), "tz": "UTC"}
MEASURES = (
    "messages",
    "input_tokens",
    "output_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "cost_usd",
)


def by_model() -> dict[str, tuple]:
    return {r["model"]: tuple(r[m] for m in MEASURES) for r in usage.usage_report(**SPAN, by="model")}


def expected_without(keys: set[tuple[str, str]]) -> dict[str, tuple]:
    """The per-model report minus the purged sessions' own assistant turns, summed here."""
    before = {m: list(v) for m, v in by_model().items()}
    pks = [s.pk for s in Session.objects.all() if (s.platform, s.session_id) in keys]
    turns = Turn.objects.filter(session__in=pks, kind=TurnKind.ASSISTANT_RESPONSE)
    for model in {t.model for t in turns}:
        mine = turns.filter(model=model)
        sums = mine.aggregate(*(Sum(m) for m in MEASURES[1:]))
        minus = [mine.count(), *(sums[f"{m}__sum"] or 0 for m in MEASURES[1:])]
        before[model] = [a - b for a, b in zip(before[model], minus, strict=True)]
    return {m: tuple(v) for m, v in before.items() if v[0]}


def rows_of_others(keys: set[tuple[str, str]]) -> dict[str, list[tuple]]:
    sessions = export.export_sessions(
        start=datetime(2000, 1, 1, tzinfo=UTC), end=datetime(2100, 1, 1, tzinfo=UTC)
    )
    out = {}
    for table in export.TABLES:
        rows = export.export_rows(table=table, sessions=sessions)
        out[table] = sorted((r for r in rows if (r[0], r[1]) not in keys), key=repr)
    return out


def rollup_rows() -> dict[str, list[tuple]]:
    fields = {
        UsageHour: ("hour", "platform", "project__key", "model", *MEASURES),
        ToolHour: (
            "hour",
            "platform",
            "project__key",
            "tool_name",
            "calls",
            "failures",
            "duration_histogram",
        ),
        ActivityHour: (
            "hour",
            "platform",
            "project__key",
            "sessions",
            "prompts",
            "lines_added",
            "active_seconds",
        ),
    }
    return {m.__name__: sorted(m.objects.values_list(*f), key=repr) for m, f in fields.items()}


# Celery's queue: catch-up tasks the fast path enqueued and no worker took in these in-process tests. A
# task names sessions and finds nothing to do for a purged one (README, Purge, says so).
BROKER_KEYS = (b"celery", b"unacked", b"unacked_index")


def redis_dump(redis) -> dict[bytes, object]:
    out = {}
    for key in redis.scan_iter(count=1000):
        if key in BROKER_KEYS or key.startswith(b"_kombu"):
            continue
        kind = redis.type(key)
        if kind == b"hash":
            out[key] = redis.hgetall(key)
        elif kind == b"zset":
            out[key] = redis.zrange(key, 0, -1, withscores=True)
        elif kind == b"stream":
            out[key] = redis.xrange(key)
        elif kind == b"list":
            out[key] = redis.lrange(key, 0, -1)
        elif kind == b"string":
            out[key] = redis.get(key)
    return out


def metrics(redis) -> dict:
    return {k: v for k, v in redis_dump(redis).items() if k.startswith(b"metric:")}


def assert_gone(keys: set[tuple[str, str]], redis) -> None:
    for platform, session_id in keys:
        assert not Session.objects.filter(platform=platform, session_id=session_id).exists()
        assert not SessionProgress.objects.filter(platform=platform, session_id=session_id).exists()
        assert not RawChunk.objects.filter(platform=platform, session_id=session_id).exists()
        assert not RAW_TRACE_MODELS[platform].objects.filter(session_key=session_key(session_id)).exists()
        assert not any(r["session_id"] == session_id for r in archive.archive_rows())
        assert session_id.encode() not in repr(redis_dump(redis)).encode()
    assert not Conversation.objects.filter(session__isnull=True).exists()
    # Every project left is still used by something.
    for project in Project.objects.exclude(key=Project.UNKNOWN_KEY):
        assert project.sessions.exists()


def check_purge(selection: purge.PurgeSelection, redis) -> purge.PurgeCounts:
    keys = selection.sessions
    assert keys
    live.rebuild_live_metrics(client=redis)
    expected = expected_without(keys)
    others = rows_of_others(keys)
    planned = purge.purge_count(selection, client=redis)
    counts = purge.sessions_purge(selection, client=redis)
    assert counts == planned
    assert counts.sessions == len(keys)
    assert by_model() == expected
    assert rows_of_others(keys) == others
    assert_gone(keys, redis)
    # Rollups and live metrics fixed in place equal a recompute from what remains.
    fixed, fixed_metrics = rollup_rows(), metrics(redis)
    rollups.rollups_rebuild()
    live.rebuild_live_metrics(client=redis)
    assert rollup_rows() == fixed
    assert metrics(redis) == fixed_metrics
    # A second purge finds nothing and changes nothing.
    again = purge.sessions_purge(purge.purge_select(session_id=next(iter(keys))[1]), client=redis)
    assert again == purge.PurgeCounts()
    return counts


def test_purge_one_session(corpus, redis):
    session = (
        Session.objects.filter(code_changes__isnull=False, tool_calls__gt=0).order_by("session_id").first()
    )
    key = (session.platform, session.session_id)
    selection = purge.purge_select(session_id=session.session_id)
    assert selection.sessions == {key}
    counts = check_purge(selection, redis)
    assert counts.turns > 0 and counts.tool_calls > 0 and counts.code_changes > 0 and counts.raw_events > 0
    assert counts.stream_entries > 0 and counts.change_records > 0  # the corpus passed through both streams


def test_purge_a_project_by_name(corpus, redis):
    project = Project.objects.exclude(key=Project.UNKNOWN_KEY).order_by("name").first()
    selection = purge.purge_select(project=project.name)
    assert selection.sessions == set(project.sessions.values_list("platform", "session_id"))
    counts = check_purge(selection, redis)
    assert counts.projects == 1
    assert not Project.objects.filter(pk=project.pk).exists()


def test_purge_a_span_takes_sessions_wholly_inside_it(corpus, redis):
    times = sorted(Session.objects.values_list("started_at", "last_event_at", "session_id"))
    # A span from the start of the corpus to the middle session's last event: sessions entirely before.
    start, cut = times[0][0], times[len(times) // 2][1]
    selection = purge.purge_select(start=start, end=cut)
    inside = {("claude_code", s) for a, b, s in times if a >= start and b < cut}
    assert selection.sessions == inside
    assert selection.kept_across_edges == sum(1 for a, b, _ in times if a < cut <= b)
    check_purge(selection, redis)
    assert Session.objects.count() == len(times) - len(inside)


def test_purge_everything_leaves_an_empty_store(corpus, redis):
    live.rebuild_live_metrics(client=redis)
    n = Session.objects.count()
    counts = purge.everything_purge(client=redis)
    assert counts.sessions == n
    for model in (Session, Turn, ToolCall, CodeChange, DataIssue, SessionProgress, RawChunk, UsageHour,
                  ToolHour, ActivityHour, Project, *RAW_TRACE_MODELS.values()):  # fmt: skip
        assert not model.objects.exists(), model
    assert metrics(redis) == {}
    assert usage.usage_report(**SPAN, by="model") == []
    assert purge.everything_purge(client=redis) == purge.PurgeCounts()


def test_purge_removes_archived_events_and_keeps_the_rest(corpus, redis, settings, tmp_path):
    settings.BLUEPLANE_ARCHIVE_DIR = str(tmp_path / "archive")
    moved = archive.raw_traces_archive(older_than_days=1)
    assert moved > 0
    sessions_before = Counter(r["session_id"] for r in archive.archive_rows())
    victim = sorted(sessions_before)[0]
    counts = check_purge(purge.purge_select(session_id=victim), redis)
    assert counts.archived_events == sessions_before[victim]
    assert counts.archive_files >= 1
    left = Counter(r["session_id"] for r in archive.archive_rows())
    assert left == Counter({s: n for s, n in sessions_before.items() if s != victim})


def test_dirty_marks_and_dead_letters_of_the_session_go(corpus, redis):
    from telemetry.wire import DIRTY_SESSIONS, DLQ_STREAM

    session = Session.objects.order_by("session_id").first()
    other = Session.objects.order_by("session_id").last()
    redis.hset(DIRTY_SESSIONS, f"claude_code:{session.session_id}", 1)
    redis.hset(DIRTY_SESSIONS, f"claude_code:{other.session_id}", 1)
    redis.xadd(DLQ_STREAM, {"event_head": b'{"event_id": "x", "session_id": "' + session.session_id.encode(),
                            "reason": "too large"})  # fmt: skip
    redis.xadd(DLQ_STREAM, {"event": b'{"platform": "claude_code", "session_id": "' + other.session_id.encode()
                            + b'"}', "reason": "bad"})  # fmt: skip
    counts = purge.sessions_purge(purge.purge_select(session_id=session.session_id), client=redis)
    assert counts.dirty_marks == 1 and counts.dead_letters == 1
    assert redis.hkeys(DIRTY_SESSIONS) == [f"claude_code:{other.session_id}".encode()]
    assert redis.xlen(DLQ_STREAM) == 1


def test_money_stays_exact(corpus, redis):
    total = Session.objects.aggregate(c=Sum("cost_usd"))["c"]
    session = Session.objects.order_by("-cost_usd").first()
    purge.sessions_purge(purge.purge_select(session_id=session.session_id), client=redis)
    report = sum((r["cost_usd"] for r in usage.usage_report(**SPAN, by="model")), Decimal(0))
    assert report == total - session.cost_usd
