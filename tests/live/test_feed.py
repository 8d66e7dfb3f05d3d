"""The live feed's plain functions: decoding the change streams, a connection's query and filters, the
outbox's bounds, the relay's split of a read. No Redis, no database, no server."""

import asyncio
from datetime import UTC, date, datetime

import orjson
import pytest

from api.dashboard.filters import FilterError
from api.live.feed import (
    MAX_QUERY_CHARS,
    change_concerns,
    event_filters_parse,
    event_matches,
    metrics_request_parse,
    query_params,
)
from api.live.outbox import BEHIND, Outbox
from api.live.relay import ProjectCache, entries_split
from telemetry.processing.catchup import CatchUpRun
from telemetry.processing.changes import change_record
from telemetry.selectors.changes import (
    change_entry_events,
    derived_changes_merge,
    derived_entry_decode,
    entry_time,
)
from telemetry.wire import CDC_STREAM, DERIVED_STREAM

NOW_MS = 1_780_000_000_000


def cdc_fields(*records: dict) -> dict[bytes, bytes]:
    return {b"records": orjson.dumps(list(records))}


def record(session: str, *event_ids: str, platform: str = "claude_code") -> dict:
    return {
        "platform": platform,
        "session_id": session,
        "events": [[e, "PreToolUse", "2026-12-06T10:00:00Z"] for e in event_ids],
    }


def test_a_change_entry_becomes_its_events_with_the_commit_time():
    events = change_entry_events(
        f"{NOW_MS}-3".encode(), cdc_fields(record("s1", "a", "b"), record("s2", "c"))
    )
    assert [(e["session_id"], e["event_id"]) for e in events] == [("s1", "a"), ("s1", "b"), ("s2", "c")]
    assert events[0]["stored_at"] == entry_time(f"{NOW_MS}-0") == "2026-05-28T20:26:40.000Z"
    assert events[0]["project"] is None and events[0]["event_type"] == "PreToolUse"


@pytest.mark.parametrize(
    "fields", [{b"records": b"not json"}, {b"records": b'[{"platform": "x"}]'}, {b"other": b"[]"}, {}]
)
def test_a_change_entry_of_another_shape_decodes_to_nothing(fields):
    assert change_entry_events(b"1-0", fields) == []


def test_a_malformed_entry_id_has_no_time():
    assert entry_time(b"junk") == "" and entry_time("9" * 40 + "-0") == ""


def test_a_derived_record_round_trips_and_merges():
    run = CatchUpRun(
        changed={("claude_code", "s2"), ("claude_code", "s1")},
        hours={datetime(2026, 12, 6, 10, tzinfo=UTC)},
        project_ids={1},
    )
    one = derived_entry_decode({b"change": change_record(run=run, project_keys=["k1"], at=5.0)})
    assert one == {
        "sessions": [["claude_code", "s1"], ["claude_code", "s2"]],
        "hours": ["2026-12-06T10:00:00Z"],
        "projects": ["k1"],
        "at": 5.0,
    }
    other = {"sessions": [["cursor", "c"]], "hours": ["2026-12-06T11:00:00Z"], "projects": ["k1"], "at": 7.0}
    merged = derived_changes_merge([one, other])
    assert merged["sessions"][0] == ["claude_code", "s1"] and ["cursor", "c"] in merged["sessions"]
    assert merged["projects"] == ["k1"] and merged["at"] == 7.0 and len(merged["hours"]) == 2
    assert derived_entry_decode({b"change": b"[1, 2]"}) is None
    assert derived_entry_decode({b"change": b"{bad"}) is None


def test_the_relay_splits_a_read_by_stream_and_drops_stale_entries():
    reply = [
        [CDC_STREAM.encode(), [
            (f"{NOW_MS}-0".encode(), cdc_fields(record("s1", "a"))),
            (f"{NOW_MS - 60_000}-0".encode(), cdc_fields(record("old", "z"))),  # a backlog: stale
        ]],
        [DERIVED_STREAM.encode(), [
            (f"{NOW_MS}-1".encode(), {b"change": b'{"sessions": [["claude_code", "s1"]], "at": 1}'}),
            (f"{NOW_MS}-2".encode(), {b"change": b"nonsense"}),
        ]],
    ]  # fmt: skip
    events, derived, derived_id = entries_split(reply, now_ms=NOW_MS)
    assert [e["event_id"] for e in events] == ["a"]
    assert len(derived) == 1 and derived[0]["sessions"] == [["claude_code", "s1"]]
    assert derived_id == f"{NOW_MS}-1"
    assert entries_split(None, now_ms=NOW_MS) == ([], [], None)


def test_the_project_cache_keeps_known_projects_and_asks_again_about_unknown_ones():
    cache = ProjectCache(size=2)
    a, b, c = ("claude_code", "a"), ("claude_code", "b"), ("claude_code", "c")
    assert cache.missing({a, b}, now=0) == {a, b}
    cache.update({a: "ka", b: None}, now=0)
    assert cache.get(a) == "ka" and cache.get(b) is None
    assert cache.missing({a, b}, now=1) == set()  # b: asked about a moment ago
    assert cache.missing({a, b}, now=10) == {b}  # b may be derived by now
    cache.update({b: "kb", c: "kc"}, now=10)
    assert cache.get(a) is None and cache.get(c) == "kc"  # bounded: the least recently used went


def test_event_filters_parse_and_match():
    filters = event_filters_parse({"session": "s1", "platform": "claude_code", "limit": "10"})
    assert filters.limit == 10 and not filters.unfiltered
    event = change_entry_events(b"1-0", cdc_fields(record("s1", "a")))[0]
    assert event_matches(event, filters, None)
    assert not event_matches({**event, "session_id": "s2"}, filters, None)
    assert not event_matches(event, filters, frozenset(["k"]))  # not derived yet: no project
    assert event_matches({**event, "project": "k"}, filters, frozenset(["k"]))
    assert event_filters_parse({}).unfiltered and event_filters_parse({}).limit == 50


@pytest.mark.parametrize(
    "params, named",
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "1e3"}, "limit"),
        ({"limit": "9" * 5000}, "limit"),  # past int()'s digit limit and 64 bits
        ({"platform": "vscode"}, "platform"),
        ({"session": "s" * 1_000_000}, "session"),  # a megabyte string
        ({"project": "p" * 201}, "project"),
    ],
)
def test_bad_event_filters_name_the_parameter(params, named):
    with pytest.raises(FilterError, match=named):
        event_filters_parse(params)


def test_a_huge_query_is_refused_before_it_is_parsed():
    with pytest.raises(FilterError, match="query"):
        query_params(b"session=" + b"x" * MAX_QUERY_CHARS)
    assert query_params(b"a=1&a=2&b=") == {"a": "2", "b": ""}


def test_metrics_requests_parse_the_dashboards_filters():
    request = metrics_request_parse({"page": "overview", "period": "30d", "tz": "Europe/Paris"})
    assert request.filters.period == "30d" and request.filters.tz == "Europe/Paris"
    same = metrics_request_parse({"tz": "Europe/Paris", "period": "30d", "page": "overview", "x": "y"})
    assert request.key == same.key  # one computation for both
    assert metrics_request_parse({"page": "overview", "period": "7d"}).key != request.key
    session = metrics_request_parse({"page": "session", "session": "s1"})
    assert session.kwargs() == {"session_id": "s1"}
    assert change_concerns(session, {"sessions": [["claude_code", "s1"]]})
    assert not change_concerns(session, {"sessions": [["claude_code", "s2"]]})
    assert change_concerns(request, {"sessions": []})


@pytest.mark.parametrize(
    "params, named",
    [
        ({"page": "nope"}, "page"),
        ({}, "page"),
        ({"page": "session"}, "session"),
        ({"page": "overview", "since": "0001-01-01", "until": "9999-12-31", "tz": "Mars/Base"}, "tz"),
        ({"page": "overview", "since": "10000-01-01", "until": "10000-01-02"}, "since"),
        ({"page": "overview", "since": "2026-02-30", "until": "2026-03-01"}, "since"),
        ({"page": "overview", "since": "9999-12-31", "until": "0001-01-01"}, "after"),
    ],
)
def test_bad_metrics_requests_name_the_parameter(params, named):
    with pytest.raises(FilterError, match=named):
        metrics_request_parse(params)


def test_years_1_and_9999_are_a_span_like_any_other():
    request = metrics_request_parse({"page": "overview", "since": "0001-01-01", "until": "9999-12-31"})
    assert request.filters.since == date(1, 1, 1) and request.filters.until == date(9999, 12, 31)


def test_an_outbox_that_overflows_drops_its_backlog_for_a_snapshot():
    async def scenario() -> list:
        box = Outbox(size=3)
        assert all(box.put(f"m{i}") for i in range(3))
        assert not box.put("m3")  # the fourth: overflow
        assert len(box) == 0 and box.dropped == 4
        assert not box.put("m4")  # still behind until the writer takes the snapshot cue
        first = await box.take()
        box.put("m5")
        return [first, await box.take()]

    assert asyncio.run(scenario()) == [BEHIND, "m5"]


def test_an_outbox_hands_messages_out_in_order_and_waits_when_empty():
    async def scenario() -> list:
        box = Outbox(size=10)
        box.put("a")
        box.put("b")
        got = [await box.take(), await box.take()]
        waiting = asyncio.ensure_future(box.take())
        await asyncio.sleep(0)
        assert not waiting.done()
        box.put("c")
        got.append(await waiting)
        return got

    assert asyncio.run(scenario()) == ["a", "b", "c"]


def test_an_outbox_is_bounded_in_characters_too():
    async def scenario() -> list:
        box = Outbox(size=100, max_chars=10)
        assert box.put("12345") and box.put("12345")
        assert not box.put("1")  # eleven characters: overflow
        assert await box.take() is BEHIND
        assert box.put("1234567890")  # the count starts again from nothing
        return [await box.take()]

    assert asyncio.run(scenario()) == ["1234567890"]
