"""ccusage's 5-hour blocks (telemetry/selectors/blocks.py): hand-made entries whose blocks, burn rate and
projection are worked out here by hand, and the two fetchers reading the same entries from the store."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from telemetry.selectors.blocks import (
    Entry,
    blocks_build,
    blocks_select,
    entries_orm,
    entries_sqlite,
    token_limit_apply,
)

T0 = datetime(2026, 3, 1, 8, 40, tzinfo=UTC)
H = timedelta(hours=1)


def entry(at: datetime, *, model: str = "claude-sonnet-4-5", inp: int = 10, out: int = 90,
          write: int = 0, read: int = 0, units: int = 1_000_000) -> Entry:  # fmt: skip
    return Entry(at, model, inp, out, write, read, units)


def test_block_starts_at_the_hour_and_takes_entries_up_to_exactly_five_hours():
    entries = [entry(T0), entry(T0 + H, model="opus"), entry(datetime(2026, 3, 1, 13, tzinfo=UTC))]
    (block,) = blocks_build(entries, now=T0 + 100 * H)
    assert block["id"] == block["startTime"] == "2026-03-01T08:00:00.000Z"
    assert block["endTime"] == "2026-03-01T13:00:00.000Z"
    assert block["actualEndTime"] == "2026-03-01T13:00:00.000Z"
    assert block["entries"] == 3
    assert block["models"] == ["claude-sonnet-4-5", "opus"]  # in order of first use
    assert block["costUSD"] == Decimal("0.03")
    assert block["totalTokens"] == 300
    assert block["isActive"] is False
    assert block["burnRate"] is None and block["projection"] is None


def test_an_entry_a_millisecond_past_the_block_starts_the_next_without_a_gap():
    late = datetime(2026, 3, 1, 13, 0, 0, 1000, tzinfo=UTC)
    blocks = blocks_build([entry(T0), entry(late)], now=T0 + 100 * H)
    assert [b["id"] for b in blocks] == ["2026-03-01T08:00:00.000Z", "2026-03-01T13:00:00.000Z"]
    assert [b["entries"] for b in blocks] == [1, 1]


def test_a_pause_of_more_than_five_hours_makes_a_gap_block():
    later = T0 + 5 * H + timedelta(milliseconds=1)
    blocks = blocks_build([entry(later), entry(T0)], now=T0 + 100 * H)  # any order in
    assert [b["id"] for b in blocks] == [
        "2026-03-01T08:00:00.000Z",
        "2026-03-01T13:00:00.000Z",  # floored start of the next block, before the gap's start
        "gap-2026-03-01T13:40:00.000Z",
    ]
    gap = blocks[2]
    assert gap["isGap"] is True and gap["entries"] == 0 and gap["actualEndTime"] is None
    assert gap["endTime"] == "2026-03-01T13:40:00.001Z"
    # A pause of exactly five hours is no gap.
    assert not any(b["isGap"] for b in blocks_build([entry(T0), entry(T0 + 5 * H)], now=T0))


def test_the_active_block_has_its_burn_rate_and_projection():
    first, last = T0, T0 + timedelta(minutes=40)  # 08:40 and 09:20; block 08:00-13:00
    entries = [entry(first, inp=100, out=500, write=1000, read=2000, units=3_000_000),
               entry(last, inp=20, out=80, write=0, read=300, units=1_000_000)]  # fmt: skip
    now = datetime(2026, 3, 1, 10, 0, 30, tzinfo=UTC)
    (block,) = blocks_build(entries, now=now)
    assert block["isActive"] is True
    total = 100 + 500 + 1000 + 2000 + 20 + 80 + 300
    assert block["totalTokens"] == total
    rate = block["burnRate"]
    assert rate["tokensPerMinute"] == pytest.approx(total / 40)
    assert rate["tokensPerMinuteForIndicator"] == pytest.approx((100 + 500 + 20 + 80) / 40)
    assert rate["costPerHour"] == pytest.approx(0.04 / 40 * 60)
    left = 179.5  # 10:00:30 to 13:00
    assert block["projection"] == {
        "remainingMinutes": 180,  # rounded half up, as Math.round
        "totalCost": round(0.04 + 0.06 / 60 * left, 2),
        "totalTokens": round(total + total / 40 * left),
    }
    token_limit_apply([block], 20_000)
    percent = block["projection"]["totalTokens"] / 20_000 * 100
    assert block["tokenLimitStatus"] == {"limit": 20_000, "percentUsed": percent,
                                         "projectedUsage": block["projection"]["totalTokens"],
                                         "status": "exceeds"}  # fmt: skip


def test_a_block_is_over_when_its_last_entry_is_five_hours_old_or_its_end_has_passed():
    (block,) = blocks_build([entry(T0)], now=T0 + 5 * H)
    assert block["isActive"] is False
    (block,) = blocks_build([entry(T0), entry(T0 + 4 * H)], now=datetime(2026, 3, 1, 13, tzinfo=UTC))
    assert block["isActive"] is False  # ended at 13:00 though the last entry is an hour old
    (block,) = blocks_build([entry(T0)], now=T0 + timedelta(minutes=1))
    assert block["isActive"] is True
    assert block["burnRate"] is None and block["projection"] is None  # one entry: no duration


def test_selection_by_local_start_day_recent_active_and_order():
    entries = [entry(datetime(2026, 3, 1, 23, 30, tzinfo=UTC)), entry(datetime(2026, 3, 5, 1, tzinfo=UTC)),
               entry(datetime(2026, 3, 9, 12, tzinfo=UTC))]  # fmt: skip
    now = datetime(2026, 3, 9, 13, tzinfo=UTC)
    built = blocks_build(entries, now=now)
    ids = [b["id"] for b in built]
    assert len(ids) == 5 and ids[1].startswith("gap-") and ids[3].startswith("gap-")
    # 23:00 UTC on 1 March is 2 March in Tokyo, and so is the gap after it (from 04:30 UTC).
    tokyo = blocks_select(built, now=now, tz="Asia/Tokyo", since=date(2026, 3, 2), until=date(2026, 3, 2))
    assert [b["id"] for b in tokyo] == ["2026-03-01T23:00:00.000Z", "gap-2026-03-02T04:30:00.000Z"]
    utc = blocks_select(built, now=now, since=date(2026, 3, 2), until=date(2026, 3, 2))
    assert [b["id"] for b in utc] == ["gap-2026-03-02T04:30:00.000Z"]
    assert [b["id"] for b in blocks_select(built, now=now, active=True)] == ["2026-03-09T12:00:00.000Z"]
    recent = blocks_select(built, now=now, recent=True)
    # The gap before it starts on 5 March, 3 days and 7 hours before now.
    assert [b["id"] for b in recent] == [ids[4]]
    assert [b["id"] for b in blocks_select(built, now=now - 32 * H, recent=True)] == [ids[3], ids[4]]
    assert blocks_select(built, now=now, descending=True) == built[::-1]


def test_token_limit_max_is_the_largest_finished_block():
    now = T0 + 30 * H
    built = blocks_build([entry(T0, out=5000), entry(T0 + 29 * H), entry(T0 + 29.5 * H)], now=now)
    token_limit_apply(built, "max")
    (active,) = [b for b in built if b["isActive"]]
    assert active["tokenLimitStatus"]["limit"] == 5010
    only = [active | {"tokenLimitStatus": None}]
    only[0].pop("tokenLimitStatus")
    token_limit_apply(only, "max")  # no finished block to measure against
    assert "tokenLimitStatus" not in only[0]


def test_edges_of_the_calendar_and_huge_counts_do_not_crash():
    huge = 10**9
    entries = [
        entry(datetime(1, 1, 2, tzinfo=UTC), inp=huge),
        entry(datetime(9999, 12, 30, tzinfo=UTC), inp=huge),
    ]
    blocks = blocks_build(entries, now=datetime(9999, 12, 30, 1, tzinfo=UTC))
    assert blocks[0]["id"] == "0001-01-02T00:00:00.000Z" and blocks[-1]["isActive"] is True
    assert blocks_select(blocks, now=datetime(9999, 12, 30, tzinfo=UTC), tz="Pacific/Kiritimati", recent=True)


@pytest.mark.django_db
def test_both_fetchers_read_the_same_entries(corpus):
    if connection.vendor != "sqlite":
        pytest.skip("the standard library's fetcher reads SQLite stores only")
    connection.ensure_connection()
    db = connection.connection  # the test's own sqlite3 connection: it sees the test's rows
    raw = entries_sqlite(db)
    alpha = entries_sqlite(db, project="02-parallel-opus")
    orm = entries_orm()
    assert len(raw) == 66  # ccusage's entries for the corpus (tests/fixtures/claude-real/ccusage/blocks.json)
    key = lambda e: (e.timestamp, e.model, e.cost_units, e.output_tokens)  # noqa: E731
    assert sorted(raw, key=key) == sorted(orm, key=key)
    assert alpha and sorted(alpha, key=key) == sorted(entries_orm(project="02-parallel-opus"), key=key)
    assert len(alpha) < len(raw)
