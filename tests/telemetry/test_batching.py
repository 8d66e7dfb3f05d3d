"""Pure batching rules: no Redis, no database."""

import pickle

import orjson

from telemetry.ingest.batching import BatchClock, batch_prepare, entries_decode, units_group
from telemetry.ingest.envelope import event_decode
from telemetry.store.codec import CURRENT
from telemetry.store.layout import INDEX_COLUMNS
from tests.factories import envelope


def decode(**overrides):
    return event_decode(orjson.dumps(envelope(**overrides)), max_bytes=1 << 20)


def test_flushes_when_batch_is_full():
    clock = BatchClock(max_events=3, flush_ms=100)
    clock.add(3, now_ms=0)
    assert clock.wait_ms(now_ms=1) == 0


def test_flushes_when_first_entry_is_flush_ms_old():
    clock = BatchClock(max_events=100, flush_ms=100)
    assert clock.wait_ms(now_ms=0) == 100  # empty: wait a full interval for a first entry
    clock.add(1, now_ms=1000)
    assert clock.wait_ms(now_ms=1040) == 60
    assert clock.wait_ms(now_ms=1100) == 0
    assert clock.room() == 99


def test_units_group_by_session_in_arrival_order_and_drop_repeats():
    a1, b1, a2 = decode(session_id="a"), decode(session_id="b"), decode(session_id="a")
    units = units_group([a1, b1, a2, a1])
    assert [(u.session_id, [e.event_id for e in u.events]) for u in units] == [
        ("a", [a1.event_id, a2.event_id]),
        ("b", [b1.event_id]),
    ]


def test_entries_decode_separates_dead_letters_and_keeps_every_id():
    good = orjson.dumps(envelope())
    decoded = entries_decode(
        [(b"1-0", {b"event": good}), (b"2-0", {b"event": b"nope"}), (b"3-0", {})], max_bytes=1024
    )
    assert [e.raw for e in decoded.events] == [good]
    assert [d.stream_id for d in decoded.dead] == [b"2-0", b"3-0"]
    assert decoded.ids == [b"1-0", b"2-0", b"3-0"]


def test_batch_prepare_lays_out_what_the_commit_needs():
    a1, b1, a2 = (envelope(session_id=s) for s in ("a", "b", "a"))
    raws = [orjson.dumps(e) for e in (a1, b1, a2)]
    entries = [(b"1-0", {b"event": raws[0]}), (b"2-0", {b"event": b"{"}), (b"3-0", {b"event": raws[1]}),
               (b"4-0", {b"event": raws[2]})]  # fmt: skip
    batch = batch_prepare(entries, codec=CURRENT, max_bytes=1 << 20, arrived=12.5)

    assert (batch.entries, batch.arrived, batch.codec_id) == (4, 12.5, CURRENT.id)
    assert batch.ack_ids == [b"1-0", b"3-0", b"4-0"]  # the dead letter is acknowledged with its XADD
    assert [d.stream_id for d in batch.dead] == [b"2-0"]
    assert batch.sessions == [("claude_code", "a"), ("claude_code", "b")]
    unit_a = batch.units[0]
    assert CURRENT.unpack(unit_a.blob) == [raws[0], raws[2]]
    assert unit_a.raw_bytes == len(raws[0]) + len(raws[2])
    assert [dict(zip(INDEX_COLUMNS, row, strict=True))["raw_bytes"] for row in unit_a.rows] == [
        len(raws[0]),
        len(raws[2]),
    ]
    records = orjson.loads(batch.changes)
    assert [(r["session_id"], [e[0] for e in r["events"]]) for r in records] == [
        ("a", [a1["event_id"], a2["event_id"]]),
        ("b", [b1["event_id"]]),
    ]
    assert pickle.loads(pickle.dumps(batch)) == batch  # it crosses to the writing process


def test_sources_are_counted_per_platform_for_the_fast_path_counters():
    events = [envelope(session_id="a"), envelope(session_id="a", source="transcript"), envelope(session_id="b"),
              envelope(platform="cursor", session_id="c", source="database")]  # fmt: skip
    entries = [(f"{i}-0".encode(), {b"event": orjson.dumps(e)}) for i, e in enumerate(events)]
    batch = batch_prepare(entries, codec=CURRENT, max_bytes=2**20, arrived=0.0)
    assert sorted(batch.sources) == [("claude_code", "hook", 2), ("claude_code", "transcript", 1),
                                     ("cursor", "database", 1)]  # fmt: skip
