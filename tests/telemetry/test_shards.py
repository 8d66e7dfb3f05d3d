"""The slow path's dirty marks in several shards (BLUEPLANE_SLOWPATH_SHARDS): the fast path marks each
session in its shard and wakes one task per shard, a task drains its own shard only, beat's sweep
covers every shard, and a change of the shard count loses no mark. Real Redis, real SQLite, the tasks
called synchronously (their worker runs in the end-to-end tests)."""

import base64
import json

import pytest
from django.utils import timezone

from telemetry import tasks, wire
from telemetry.models import SessionProgress
from telemetry.processing import dirty, purge
from telemetry.selectors import system
from tests.factories import entry, envelope
from tests.telemetry.test_consumer import drain, make_consumer

pytestmark = pytest.mark.django_db
SESSIONS = [f"s{i}" for i in range(16)]


def ingest(redis, shards: int, sessions=SESSIONS) -> None:
    for session in sessions:
        redis.xadd(wire.EVENTS_STREAM, entry(envelope(session_id=session)))
    drain(make_consumer(redis, shards=shards, batch_size=len(sessions)))


def shard_of(session: str, shards: int) -> int:
    return wire.session_shard(wire.session_field("claude_code", session), shards)


def marked(redis) -> dict[int, set[str]]:
    """Marked session ids by the shard whose hash holds them (every possible shard's key)."""
    out: dict[int, set[str]] = {}
    for shard, key in enumerate(wire.DIRTY_KEYS):
        if fields := redis.hkeys(key):
            out[shard] = {wire.session_parse(f)[1] for f in fields}
    return out


def queued_tasks(redis) -> list[tuple[list, dict]]:
    """(args, kwargs) of the catch-up tasks waiting in the broker's queue (kombu's Redis list)."""
    out = []
    for raw in redis.lrange("celery", 0, -1):
        message = json.loads(raw)
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        out.append((args, kwargs))
    return out


def applied(session: str) -> bool:
    progress = SessionProgress.objects.filter(session_id=session).first()
    return progress is not None and not progress.waiting


def test_a_batch_spreads_its_sessions_over_the_shards_and_wakes_one_task_each(redis):
    ingest(redis, shards=4)

    expected: dict[int, set[str]] = {}
    for session in SESSIONS:
        expected.setdefault(shard_of(session, 4), set()).add(session)
    assert marked(redis) == expected
    assert len(expected) > 1  # 16 sessions do not all hash to one of 4 shards
    assert {shard for shard in range(4) if redis.exists(wire.scheduled_key(shard))} == set(expected)
    # One script call per batch, one task per shard it woke, naming that shard and its sessions.
    woken = {kwargs["shard"]: {s for _, s in args[0]} for args, kwargs in queued_tasks(redis)}
    assert woken == expected


def test_one_shard_keeps_the_unsharded_keys_and_messages(redis):
    ingest(redis, shards=1, sessions=["s1", "s2"])
    assert marked(redis) == {0: {"s1", "s2"}}
    assert wire.dirty_key(0) == wire.DIRTY_SESSIONS and redis.exists(wire.SCHEDULED_FLAG)
    assert [kwargs for _, kwargs in queued_tasks(redis)] == [{}]


def test_each_task_drains_its_own_shard_only_and_nothing_is_left(redis, settings):
    settings.SLOWPATH_SHARDS = 4
    ingest(redis, shards=4)
    before = marked(redis)
    first, *others = sorted(before)

    tasks.sessions_catch_up(shard=first)

    assert first not in marked(redis)
    assert not redis.exists(wire.scheduled_key(first))
    assert {shard: marked(redis)[shard] for shard in others} == {shard: before[shard] for shard in others}
    assert all(redis.exists(wire.scheduled_key(shard)) for shard in others)  # their tasks are still due
    assert all(applied(s) for s in before[first])
    assert not any(applied(s) for shard in others for s in before[shard])

    for shard in others:
        tasks.sessions_catch_up(shard=shard)
    assert marked(redis) == {}
    assert all(applied(s) for s in SESSIONS)
    assert not any(redis.exists(wire.scheduled_key(shard)) for shard in range(4))


def test_readers_and_purge_count_every_shard(redis, settings):
    settings.SLOWPATH_SHARDS = 4
    ingest(redis, shards=4)
    redis.hset(wire.dirty_key(9), "claude_code:left-over", 1)  # past the count: still counted
    assert dirty.dirty_count(redis) == len(SESSIONS) + 1
    marks = system._dirty_marks(redis)
    assert marks["total"] == len(SESSIONS) + 1 and len(marks["sample"]) == len(SESSIONS) + 1
    assert purge._dirty_marks(redis, {("claude_code", s) for s in SESSIONS}, delete=True) == len(SESSIONS)
    assert marked(redis) == {9: {"left-over"}}


@pytest.mark.parametrize("before, after", [(4, 1), (4, 2), (1, 4), (2, 3)])
def test_a_shard_count_change_loses_no_mark(redis, settings, before, after):
    """Marks made with one count, drained by the runs the sweep starts under another: every session is
    caught up and no mark is left, including those in a shard past the new count."""
    settings.SLOWPATH_SHARDS = before
    ingest(redis, shards=before)
    assert dirty.dirty_count(redis) == len(SESSIONS)
    redis.delete(*(wire.scheduled_key(shard) for shard in range(wire.SHARDS_MAX)))  # the wake-ups were lost

    settings.SLOWPATH_SHARDS = after
    if after == 1:
        tasks.sessions_catch_up()  # beat's sweep with one shard: the one task over every mark
    else:
        enqueued = dirty.sweep(redis, shards=after, enqueue=lambda shard: None)
        assert set(range(after)) <= set(enqueued)
        assert set(enqueued) - set(range(after)) == set(marked(redis)) - set(range(after))
        for shard in enqueued:
            tasks.sessions_catch_up(shard=shard)

    assert marked(redis) == {}
    assert all(applied(s) for s in SESSIONS)


def test_the_sweep_task_enqueues_a_run_per_shard(redis, settings):
    settings.SLOWPATH_SHARDS = 3
    redis.hset(wire.dirty_key(5), "claude_code:left-over", 1)
    assert tasks.slowpath_sweep() == [0, 1, 2, 5]
    assert sorted(kwargs["shard"] for _, kwargs in queued_tasks(redis)) == [0, 1, 2, 5]


def test_a_failing_session_is_retried_by_its_own_shard_only(redis, settings):
    settings.SLOWPATH_SHARDS = 4
    session = SESSIONS[0]
    ingest(redis, shards=4, sessions=[session])
    own = shard_of(session, 4)
    tasks.sessions_catch_up(shard=own)
    SessionProgress.objects.filter(session_id=session).update(failures=1, retry_at=timezone.now())

    assert [tasks.sessions_catch_up(shard=shard) for shard in range(4) if shard != own] == [0, 0, 0]
    assert tasks.sessions_catch_up(shard=own) == 1
