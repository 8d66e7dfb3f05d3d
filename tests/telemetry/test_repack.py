"""Re-packing merges small units without changing what any event is."""

import orjson
import pytest

from telemetry.models import ClaudeRawTrace, RawChunk
from telemetry.store import repack, units
from telemetry.wire import EVENTS_STREAM
from tests.factories import entry, envelope
from tests.telemetry.test_consumer import drain, make_consumer

pytestmark = pytest.mark.django_db


def store_one_batch_at_a_time(redis, events):
    consumer = make_consumer(redis, batch_size=1)
    for e in events:
        redis.xadd(EVENTS_STREAM, entry(e))
    drain(consumer)


def test_quiet_session_units_are_merged_and_every_event_reads_back(redis):
    events = [
        envelope(session_id="s1", payload={"n": i, "text": "same words again " * 20}) for i in range(40)
    ]
    events += [envelope(session_id="s2", payload={"n": i}) for i in range(3)]
    store_one_batch_at_a_time(redis, events)
    assert RawChunk.objects.count() == 43
    before = {t.seq: units.event_raw(platform="claude_code", seq=t.seq) for t in ClaudeRawTrace.objects.all()}
    stored_before = sum(len(b) for b in RawChunk.objects.values_list("body", flat=True))

    written = repack.units_repack(older_than_s=0, max_unit_events=16)

    assert written == 3 + 1  # s1: 40 events in units of 16, 16, 8; s2: one unit of 3
    assert sorted(RawChunk.objects.values_list("n_events", flat=True)) == [3, 8, 16, 16]
    assert all(RawChunk.objects.values_list("sealed", flat=True))
    after = {t.seq: units.event_raw(platform="claude_code", seq=t.seq) for t in ClaudeRawTrace.objects.all()}
    assert after == before
    stored_after = sum(len(b) for b in RawChunk.objects.values_list("body", flat=True))
    assert stored_after < stored_before / 2


def test_session_events_read_back_in_order_after_a_watermark(redis):
    events = [envelope(session_id="s1", payload={"n": i}) for i in range(10)]
    store_one_batch_at_a_time(redis, events)
    repack.units_repack(older_than_s=0, max_unit_events=4)
    seqs = list(ClaudeRawTrace.objects.order_by("seq").values_list("seq", flat=True))
    rows = units.session_events(platform="claude_code", session_id="s1", after_seq=seqs[2])
    assert [orjson.loads(raw)["payload"]["n"] for _, raw in rows] == list(range(3, 10))


def test_recent_sessions_are_left_alone(redis):
    store_one_batch_at_a_time(redis, [envelope(session_id="s1") for _ in range(3)])
    assert repack.units_repack(older_than_s=3600) == 0
    assert RawChunk.objects.filter(sealed=False).count() == 3
