"""The fast path against a real Redis and a real SQLite database."""

import hashlib
import threading
import time

import orjson
import pytest
import redis as redis_py

from telemetry import wire
from telemetry.ingest import batching, notify
from telemetry.ingest.batching import DeadLetter
from telemetry.ingest.consumer import StreamConsumer
from telemetry.models import ClaudeRawTrace, CursorRawTrace, RawChunk
from telemetry.store import writer
from telemetry.wire import CDC_STREAM, DLQ_STREAM, EVENTS_STREAM, GROUP
from tests.factories import entry, envelope

pytestmark = pytest.mark.django_db


def make_consumer(redis, name: str = "c1", **kw) -> StreamConsumer:
    kw.setdefault("flush_ms", 20)
    return StreamConsumer(client=redis, consumer=name, **kw)


def drain(consumer: StreamConsumer) -> int:
    total = 0
    while handled := consumer.run_once():
        total += handled
    return total


def publish(redis, events) -> list[bytes]:
    return [redis.xadd(EVENTS_STREAM, entry(e)) for e in events]


def pending(redis) -> int:
    try:
        return redis.xpending(EVENTS_STREAM, GROUP)["pending"]
    except redis_py.ResponseError:  # no group yet: nothing was read
        return 0


def test_events_in_become_rows(redis):
    consumer = make_consumer(redis)
    publish(redis, [envelope() for _ in range(250)])
    assert drain(consumer) == 250
    assert ClaudeRawTrace.objects.count() == 250
    assert pending(redis) == 0
    assert redis.xlen(DLQ_STREAM) == 0


def test_platforms_go_to_their_own_tables(redis):
    consumer = make_consumer(redis)
    publish(
        redis, [envelope(), envelope(platform="cursor", event_type="afterFileEdit", session_id="composer-1")]
    )
    drain(consumer)
    assert ClaudeRawTrace.objects.count() == 1
    assert CursorRawTrace.objects.get().event_type == "afterFileEdit"


def test_same_events_again_store_nothing_new(redis):
    events = [envelope() for _ in range(120)]
    consumer = make_consumer(redis)
    publish(redis, events)
    drain(consumer)
    publish(redis, events)
    assert drain(consumer) == 120
    assert ClaudeRawTrace.objects.count() == 120
    assert consumer.last_flush.inserted == 0


def test_entry_delivered_twice_after_crash_before_ack_is_stored_once(redis, monkeypatch):
    events = [envelope() for _ in range(30)]
    publish(redis, events)
    crashing = make_consumer(redis, "crashes")

    def crash(*args, **kwargs):
        raise SystemExit("killed after insert, before publish and ack")

    with monkeypatch.context() as patched, pytest.raises(SystemExit):
        patched.setattr(notify, "publish_command", crash)
        crashing.run_once()
    assert ClaudeRawTrace.objects.count() == 30
    assert pending(redis) == 30

    # The same consumer restarted finds its unacknowledged entries first and stores nothing twice.
    restarted = make_consumer(redis, "crashes")
    assert drain(restarted) == 30
    assert ClaudeRawTrace.objects.count() == 30
    assert pending(redis) == 0


def test_stale_pending_entries_are_reclaimed_by_another_consumer(redis):
    survivor = make_consumer(redis, "survivor", reclaim_idle_ms=1, reclaim_every_s=0)
    publish(redis, [envelope() for _ in range(10)])
    # Another consumer takes the entries and dies before storing them.
    redis.xreadgroup(GROUP, "dead", {EVENTS_STREAM: ">"}, count=100)
    assert pending(redis) == 10
    time.sleep(0.01)  # idle longer than reclaim_idle_ms
    assert drain(survivor) == 10
    assert ClaudeRawTrace.objects.count() == 10
    assert pending(redis) == 0


def test_entry_delivered_too_often_goes_to_dead_letter(redis):
    survivor = make_consumer(redis, "survivor", reclaim_idle_ms=1, reclaim_every_s=0, max_deliveries=3)
    (stream_id,) = publish(redis, [envelope()])
    redis.xreadgroup(GROUP, "dead-1", {EVENTS_STREAM: ">"})  # delivered once, then its consumer died
    redis.xclaim(EVENTS_STREAM, GROUP, "dead-2", 0, [stream_id])  # taken over (2nd delivery), died again
    time.sleep(0.01)  # idle longer than reclaim_idle_ms
    drain(survivor)
    assert ClaudeRawTrace.objects.count() == 0
    (dead,) = redis.xrange(DLQ_STREAM)
    assert b"delivered 3 times" in dead[1][b"reason"]
    assert dead[1][b"stream_id"] == stream_id
    assert pending(redis) == 0


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", b"not valid JSON"),
        (b"[1, 2]", b"envelope must be a JSON object"),
        ({k: v for k, v in envelope().items() if k != "session_id"}, b"missing field 'session_id'"),
        (envelope(timestamp=12), b"field 'timestamp' must be a string, got int"),
        (envelope(timestamp="2025-10-20T08:00:00"), b"has no time zone"),
        (envelope(platform="vim"), b"unknown platform 'vim'"),
        (envelope(payload=[1]), b"field 'payload' must be an object"),
        (envelope(payload={"blob": "x" * 5000}), b"over the 4096-byte limit"),
    ],
)
def test_bad_event_goes_to_dead_letter_and_the_batch_carries_on(redis, raw, reason):
    good_before, good_after = envelope(), envelope()
    publish(redis, [good_before])
    bad_id = redis.xadd(EVENTS_STREAM, entry(raw))
    publish(redis, [good_after])
    consumer = make_consumer(redis, max_event_bytes=4096)
    assert drain(consumer) == 3
    assert ClaudeRawTrace.objects.count() == 2
    (dead,) = redis.xrange(DLQ_STREAM)
    assert reason in dead[1][b"reason"], dead[1][b"reason"]
    assert dead[1][b"stream_id"] == bad_id
    assert pending(redis) == 0


def test_entry_without_event_field_goes_to_dead_letter(redis):
    redis.xadd(EVENTS_STREAM, {"data": "x"})
    drain(make_consumer(redis))
    (dead,) = redis.xrange(DLQ_STREAM)
    assert b"no 'event' field" in dead[1][b"reason"]


def test_flush_publishes_change_records_and_marks_sessions(redis, django_capture_on_commit_callbacks):
    publish(redis, [envelope(session_id="s1"), envelope(session_id="s2"), envelope(session_id="s1")])
    drain(make_consumer(redis))
    records = [r for _, fields in redis.xrange(CDC_STREAM) for r in orjson.loads(fields[b"records"])]
    assert sorted((r["session_id"], len(r["events"])) for r in records) == [("s1", 2), ("s2", 1)]
    assert set(redis.hkeys(wire.DIRTY_SESSIONS)) == {b"claude_code:s1", b"claude_code:s2"}


def test_one_task_is_enqueued_while_one_is_waiting(redis):
    consumer = make_consumer(redis, batch_size=1)
    publish(redis, [envelope(session_id=f"s{i}") for i in range(5)])
    drain(consumer)
    # Five batches, each touching a new session: one catch-up task is queued, not five.
    assert redis.llen("celery") == 1
    assert redis.hlen(wire.DIRTY_SESSIONS) == 5


def test_events_of_one_session_in_a_batch_share_one_unit(redis):
    publish(redis, [envelope(session_id="s1") for _ in range(5)] + [envelope(session_id="s2")])
    drain(make_consumer(redis))
    assert sorted(RawChunk.objects.values_list("n_events", flat=True)) == [1, 5]


def test_stream_is_trimmed_only_below_what_was_acknowledged(redis):
    publish(redis, [envelope() for _ in range(300)])
    consumer = make_consumer(redis, batch_size=100)
    consumer.run_once()  # 100 acknowledged
    redis.xreadgroup(GROUP, "other", {EVENTS_STREAM: ">"}, count=50)  # 50 pending elsewhere
    consumer.stream.trim()
    remaining = redis.xlen(EVENTS_STREAM)
    # Approximate trimming removes whole nodes only; it never removes unacknowledged entries.
    assert 200 <= remaining <= 300
    oldest_pending = redis.xpending(EVENTS_STREAM, GROUP)["min"]
    assert redis.xrange(EVENTS_STREAM, min=oldest_pending, max=oldest_pending)
    drain(make_consumer(redis, "late", reclaim_idle_ms=1, reclaim_every_s=0))
    assert ClaudeRawTrace.objects.count() == 300


def test_stopping_hands_out_the_batch_already_read_ahead(redis):
    publish(redis, [envelope() for _ in range(250)])
    consumer = make_consumer(redis, "ahead")
    stop = threading.Event()
    batches = consumer.batches(stop)
    first = next(batches)  # a full batch: the next one is requested before this one is prepared
    stop.set()
    second = next(batches)
    assert (first.entries, second.entries) == (100, 100)
    assert next(batches, None) is None
    assert pending(redis) == 200  # read, not yet committed; the last 50 were never read
    for batch in (first, second):
        consumer.commit(batch)
    assert ClaudeRawTrace.objects.count() == 200
    assert pending(redis) == 0


def test_a_read_ahead_dropped_unread_is_read_again_under_the_same_name(redis):
    publish(redis, [envelope() for _ in range(250)])
    batches = make_consumer(redis, "same").batches(threading.Event())
    next(batches)
    batches.close()  # the process stopped between the request and its reply
    assert pending(redis) == 200
    assert drain(make_consumer(redis, "same")) == 250
    assert ClaudeRawTrace.objects.count() == 250
    assert pending(redis) == 0


def test_numbers_too_big_for_an_index_column_do_not_fail_the_batch(redis):
    big = envelope(payload={"duration_ms": 1e300, "message": {"usage": {"input_tokens": 2**64 - 1}}})
    publish(redis, [big, envelope()])
    assert drain(make_consumer(redis)) == 2
    assert ClaudeRawTrace.objects.count() == 2
    assert ClaudeRawTrace.objects.filter(duration_ms__isnull=True, input_tokens__isnull=True).count() == 2
    assert pending(redis) == 0


def test_an_entry_that_crashes_every_restart_goes_to_dead_letter(redis, monkeypatch):
    publish(redis, [envelope()])

    def crash(*args, **kwargs):
        raise SystemExit("this event kills the process (say, out of memory) in the insert")

    monkeypatch.setattr(writer, "batch_write", crash)
    # The same consumer name restarted each time, as `blueplane up` restarts its fast path.
    for _ in range(2):
        with pytest.raises(SystemExit):
            make_consumer(redis, "restarted", max_deliveries=3).run_once()
    assert pending(redis) == 1
    # The third delivery reaches the bound: dead-lettered with the reason, not crashed on again.
    make_consumer(redis, "restarted", max_deliveries=3).run_once()
    (dead,) = redis.xrange(DLQ_STREAM)
    assert dead[1][b"reason"] == b"delivered 3 times without being acknowledged"
    assert pending(redis) == 0


def test_the_stream_is_trimmed_during_a_backlog_too(redis):
    publish(redis, [envelope() for _ in range(600)])
    consumer = make_consumer(redis, "busy", trim_every_s=1e-6)
    batches = consumer.batches(threading.Event())
    for _ in range(4):  # each full batch reads the next one ahead, so _collect() is not called
        consumer.commit(next(batches))
    assert redis.xlen(EVENTS_STREAM) < 600
    batches.close()


def test_the_change_stream_cap_counts_events_not_batches(redis):
    # Batches of 1 and of 100 events: the cap holds the events, whatever the batches were.
    consumer = make_consumer(redis, cdc_maxlen=250)
    for size in (100, 1, 1, 100, 1, 100, 100, 1):
        publish(redis, [envelope(session_id=f"s{i % 4}") for i in range(size)])
        drain(consumer)
    kept = [len(r["events"]) for _, f in redis.xrange(CDC_STREAM) for r in orjson.loads(f[b"records"])]
    assert 150 < sum(kept) <= 250
    assert redis.xrange(CDC_STREAM)[-1]  # the newest batch is there


def test_a_new_process_trims_what_was_acknowledged_at_start_up(redis):
    publish(redis, [envelope() for _ in range(300)])
    drain(make_consumer(redis, "first", trim_every_s=0))  # acknowledged, never trimmed
    assert redis.xlen(EVENTS_STREAM) == 300
    # A process that fails early, every time, still trims: at start, not only every trim_every_s.
    make_consumer(redis, "restarted", trim_every_s=3600).run_once()
    assert redis.xlen(EVENTS_STREAM) < 300


def test_a_dead_letter_keeps_the_whole_event_up_to_the_size_limit(redis):
    big = envelope(payload={"blob": "x" * 100_000})  # over the old 64 KiB cut, under the limit
    publish(redis, [big])
    redis.xadd(EVENTS_STREAM, entry(b"[" + b"1," * 60_000 + b"1]"))  # 120 KB, not an object
    too_big = b'{"blob": "' + b"y" * 300_000 + b'"}'
    too_big_id = redis.xadd(EVENTS_STREAM, entry(too_big))
    drain(make_consumer(redis, max_event_bytes=200_000))
    (_, whole), (_, cut) = redis.xrange(DLQ_STREAM)
    assert whole[b"event"] == b"[" + b"1," * 60_000 + b"1]"
    assert whole[b"deliveries"] == b"1"
    assert b"envelope must be a JSON object" in whole[b"reason"]
    # Over the limit: its size, sha256 and first bytes, and the reason says so.
    assert b"event" not in cut
    assert cut[b"stream_id"] == too_big_id
    assert int(cut[b"event_bytes"]) == len(too_big)
    assert cut[b"event_sha256"].decode() == hashlib.sha256(too_big).hexdigest()
    assert too_big.startswith(cut[b"event_head"]) and len(cut[b"event_head"]) == 64 * 1024
    assert b"cut: the event is" in cut[b"reason"]
    assert ClaudeRawTrace.objects.count() == 1


def test_dead_lettering_again_after_a_lost_reply_moves_nothing_twice(redis):
    consumer = make_consumer(redis)
    (stream_id,) = publish(redis, [envelope()])
    redis.xreadgroup(GROUP, "c1", {EVENTS_STREAM: ">"})
    letter = DeadLetter(stream_id, b"{}", "refused")
    assert consumer.stream.dead_letter([letter]) == 1
    assert consumer.stream.dead_letter([letter]) == 0  # a retry: it is no longer pending
    assert redis.xlen(DLQ_STREAM) == 1
    assert pending(redis) == 0


def test_entries_held_while_waiting_stay_claimed_without_a_delivery_counted(redis):
    consumer = make_consumer(redis, "waiting")
    publish(redis, [envelope() for _ in range(5)])
    redis.xreadgroup(GROUP, "waiting", {EVENTS_STREAM: ">"})
    time.sleep(0.2)
    assert consumer.stream.keep_claimed() == 5
    held = redis.xpending_range(EVENTS_STREAM, GROUP, min="-", max="+", count=10)
    assert {p["times_delivered"] for p in held} == {1}
    assert max(p["time_since_delivered"] for p in held) < 200  # another consumer would not take them


def test_a_lost_read_reply_loses_nothing(redis, monkeypatch):
    publish(redis, [envelope() for _ in range(30)])
    consumer = make_consumer(redis, "lossy")
    drain(consumer)  # past the start-up reads of its own pending entries
    publish(redis, [envelope() for _ in range(30)])
    real, lost = consumer.stream.read, []

    def read_then_lose_the_reply(**kwargs):
        got = real(**kwargs)
        if got and not lost:
            lost.append(len(got))
            raise redis_py.ConnectionError("connection reset while reading the reply")
        return got

    monkeypatch.setattr(consumer.stream, "read", read_then_lose_the_reply)
    drain(consumer)
    assert lost == [30]  # Redis delivered them, the reply never arrived
    assert ClaudeRawTrace.objects.count() == 60
    assert pending(redis) == 0
    assert redis.xlen(DLQ_STREAM) == 0


def test_an_entry_that_breaks_preparing_is_dead_lettered_alone(redis, monkeypatch):
    events = [envelope() for _ in range(10)]
    events[4] = envelope(event_type="Breaks")
    publish(redis, events)
    real = batching.index_row

    def index_row(e):
        if e.event_type == "Breaks":
            raise KeyError("a bug this event's content sets off")
        return real(e)

    monkeypatch.setattr(batching, "index_row", index_row)
    assert drain(make_consumer(redis)) == 10
    assert ClaudeRawTrace.objects.count() == 9
    ((_, dead),) = redis.xrange(DLQ_STREAM)
    assert b"could not be prepared: KeyError" in dead[b"reason"]
