"""Reclaiming a dead consumer's entries (EventStream.reclaim) against a real Redis: XAUTOCLAIM's cursor
is followed through the whole pending list, past entries of live consumers that are not idle enough."""

import pytest

from telemetry.ingest.streams import EventStream
from telemetry.models import ClaudeRawTrace
from telemetry.wire import EVENTS_STREAM, GROUP
from tests.factories import envelope
from tests.telemetry.test_consumer import drain, make_consumer, publish

IDLE_MS = 60_000


def stream(redis, name: str = "survivor") -> EventStream:
    s = EventStream(redis, consumer=name, dlq_maxlen=1000)
    s.ensure_group()
    return s


def pending_list(redis, *, live: int, dead: int) -> tuple[list[bytes], list[bytes]]:
    """`live` entries held by a consumer that is working (idle 0) in front of `dead` entries of one that
    died ten minutes ago. Returns both lists of ids."""
    ids = publish(redis, [envelope(session_id=f"s{i % 7}") for i in range(live + dead)])
    redis.xreadgroup(GROUP, "live", {EVENTS_STREAM: ">"}, count=live)
    redis.xreadgroup(GROUP, "dead", {EVENTS_STREAM: ">"}, count=dead)
    # Age the dead consumer's entries without counting a delivery (JUSTID): no sleeping in the test.
    redis.xclaim(EVENTS_STREAM, GROUP, "dead", 0, ids[live:], idle=10 * IDLE_MS, justid=True)
    return ids[:live], ids[live:]


def holder(redis, ids: list[bytes]) -> set[str]:
    consumers = set()
    for sid in ids:
        (p,) = redis.xpending_range(EVENTS_STREAM, GROUP, min=sid, max=sid, count=1)
        consumers.add(p["consumer"].decode() if isinstance(p["consumer"], bytes) else p["consumer"])
    return consumers


def test_reclaim_follows_the_cursor_past_live_entries_and_pages(redis):
    s = stream(redis)
    live, dead = pending_list(redis, live=30, dead=25)
    # The setup is what hid entries before: one XAUTOCLAIM from 0-0 (10 x COUNT = 20 entries looked
    # at) sees only live ones and claims nothing.
    first_page = redis.xautoclaim(EVENTS_STREAM, GROUP, "survivor", IDLE_MS, start_id="0-0", count=2)
    assert first_page[1] == []

    claimed: list[bytes] = []
    for _ in range(50):
        got = s.reclaim(min_idle_ms=IDLE_MS, count=2, max_deliveries=5)
        assert len(got.entries) <= 2 and not got.poison
        claimed += [sid for sid, _ in got.entries]
        if not got.more:
            break
    assert claimed == dead  # every one, once, in stream order
    assert holder(redis, dead) == {"survivor"}
    assert holder(redis, live) == {"live"}  # live consumers keep theirs
    # A full pass ended: the next call starts again from the front and finds nothing more.
    again = s.reclaim(min_idle_ms=IDLE_MS, count=2, max_deliveries=5)
    assert again.entries == [] and not again.more


def test_reclaim_keeps_its_cursor_across_calls(redis):
    s = stream(redis)
    # More live entries than one call scans (10 pages of 10 x 2): the first call gives up on them.
    _, dead = pending_list(redis, live=250, dead=3)
    first = s.reclaim(min_idle_ms=IDLE_MS, count=2, max_deliveries=5)
    assert first.entries == [] and first.more
    second = s.reclaim(min_idle_ms=IDLE_MS, count=2, max_deliveries=5)
    third = s.reclaim(min_idle_ms=IDLE_MS, count=2, max_deliveries=5)
    assert [sid for sid, _ in second.entries + third.entries] == dead
    assert not third.more


def test_reclaim_hands_back_poison_from_a_later_page(redis):
    s = stream(redis)
    _, dead = pending_list(redis, live=30, dead=1)
    redis.xclaim(EVENTS_STREAM, GROUP, "dead", 0, dead, idle=10 * IDLE_MS, retrycount=4)
    got = s.reclaim(min_idle_ms=IDLE_MS, count=2, max_deliveries=5)
    assert got.entries == [] and [d.stream_id for d in got.poison] == dead


@pytest.mark.django_db
def test_consumer_takes_over_a_dead_consumers_whole_backlog_at_once(redis):
    # Reclaiming is due once at start and then every hour: after a page was claimed, the consumer goes
    # on reclaiming right away until the dead consumer's list is done.
    survivor = make_consumer(redis, "survivor", batch_size=10, reclaim_idle_ms=IDLE_MS, reclaim_every_s=3600)
    live, dead = pending_list(redis, live=150, dead=95)
    drain(survivor)
    assert ClaudeRawTrace.objects.count() == len(dead)
    assert redis.xpending(EVENTS_STREAM, GROUP)["pending"] == len(live)  # only the live consumer's
