"""The read-only admin over raw traces, on events stored through the real fast path (real Redis)."""

import html
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.http import urlencode

from telemetry.ingest.consumer import StreamConsumer
from telemetry.models import ClaudeRawTrace, RawChunk, SessionProgress
from telemetry.wire import EVENTS_STREAM
from tests.factories import entry, envelope

pytestmark = pytest.mark.django_db

CLAUDE_LIST = reverse("admin:telemetry_clauderawtrace_changelist")
CURSOR_LIST = reverse("admin:telemetry_cursorrawtrace_changelist")
SESSIONS = ("sess-alpha", "sess-beta", "sess-gamma")
TYPES = ("PreToolUse", "PostToolUse", "UserPromptSubmit", "assistant")
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
# Session, cookies and auth cost 2; the list needs its page window and, unfiltered, 2 index reads.
MAX_LIST_QUERIES = 5
# The detail page also reads the event's unit and looks up the derived session it links to.
MAX_DETAIL_QUERIES = 7


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def store(redis, events: list[dict]) -> None:
    """Publish to the real stream and run the real consumer until it is idle."""
    pipe = redis.pipeline(transaction=False)
    for event in events:
        pipe.xadd(EVENTS_STREAM, entry(event))
    pipe.execute()
    consumer = StreamConsumer(client=redis, consumer="admin-test", batch_size=500, flush_ms=20)
    while consumer.run_once():
        pass


def bulk(n: int, *, start: int = 0) -> list[dict]:
    """n events over a few sessions and event types, one minute apart from T0."""
    return [
        envelope(
            event_id=f"bulk:{i}",
            session_id=SESSIONS[i % len(SESSIONS)],
            event_type=TYPES[i % len(TYPES)],
            timestamp=iso(T0 + timedelta(minutes=i)),
            payload={"tool_name": "Bash", "n": i, "usage": {"input_tokens": i, "output_tokens": 2}},
        )
        for i in range(start, start + n)
    ]


def result_rows(response) -> list[ClaudeRawTrace]:
    return list(response.context["cl"].result_list)


def rendered_rows(response) -> int:
    return response.content.decode().count('<td class="field-event_type">')


def list_queries(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if "claude_raw_traces" in q["sql"]]


def get_list(client, url: str = CLAUDE_LIST, **params):
    return client.get(url + ("?" + urlencode(params) if params else ""))


def test_changelist_query_count_does_not_grow_with_the_table(
    admin_client, redis, django_assert_max_num_queries
):
    store(redis, bulk(500))
    with django_assert_max_num_queries(MAX_LIST_QUERIES), CaptureQueriesContext(connection) as small:
        response = admin_client.get(CLAUDE_LIST)
    assert response.status_code == 200
    assert rendered_rows(response) == 100  # a full page, so one query per row would blow the bound

    store(redis, bulk(4500, start=500))
    assert ClaudeRawTrace.objects.count() == 5000
    with django_assert_max_num_queries(MAX_LIST_QUERIES), CaptureQueriesContext(connection) as large:
        response = admin_client.get(CLAUDE_LIST)
    assert response.status_code == 200
    assert rendered_rows(response) == 100
    assert len(large.captured_queries) == len(small.captured_queries)
    assert [r.seq for r in result_rows(response)] == list(range(5000, 4900, -1))


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"p": "3"},
        {"event_type": "PreToolUse"},
        {"q": "sess-beta"},
        {"date": "30d"},
        {"since": "2024-03-01", "until": "2024-03-02"},
    ],
)
def test_changelist_never_counts(admin_client, redis, params):
    store(redis, bulk(500))
    with CaptureQueriesContext(connection) as ctx:
        response = get_list(admin_client, **params)
    assert response.status_code == 200
    sql = " ".join(q["sql"] for q in ctx.captured_queries).upper()
    assert "COUNT(" not in sql
    assert "DISTINCT" not in sql


def test_changelist_reads_no_compressed_body_and_gets_session_ids_in_the_same_query(admin_client, redis):
    store(redis, bulk(30))
    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get(CLAUDE_LIST)
    (rows_sql,) = list_queries(ctx)  # one query for rows and their session ids: no N+1
    assert '"raw_chunks"."session_id"' in rows_sql
    assert '"raw_chunks"."body"' not in rows_sql
    content = response.content.decode()
    for session in SESSIONS:
        assert f'<a href="?q={session}">{session}</a>' in content


def test_unfiltered_list_estimates_the_count_and_pages(admin_client, redis):
    store(redis, bulk(500))
    first = admin_client.get(CLAUDE_LIST)
    assert first.context["cl"].result_count == 500
    assert "about 500" in first.content.decode()
    assert 'href="?p=5"' in first.content.decode()  # page links up to the estimated last page

    last = get_list(admin_client, p="5")
    assert last.status_code == 200
    assert [r.seq for r in result_rows(last)] == list(range(100, 0, -1))
    assert "about" not in re.sub(r"\s+", " ", last.content.decode()).split('class="paginator"')[1]

    assert get_list(admin_client, p="99").url.endswith("e=1")  # past the end


def test_filtered_list_offers_one_more_page_without_counting(admin_client, redis):
    store(redis, bulk(500))
    response = get_list(admin_client, event_type="PreToolUse")  # 125 rows
    cl = response.context["cl"]
    assert cl.paginator.count_kind == "at_least"
    assert cl.paginator.num_pages == 2
    assert "at least 101" in response.content.decode()
    second = get_list(admin_client, event_type="PreToolUse", p="2")
    assert len(result_rows(second)) == 25
    assert second.context["cl"].paginator.count_kind == "exact"
    assert second.context["cl"].result_count == 125


def test_filter_by_event_type(admin_client, redis):
    events = bulk(40)
    store(redis, events)
    response = get_list(admin_client, event_type="UserPromptSubmit")
    rows = result_rows(response)
    assert {r.event_type for r in rows} == {"UserPromptSubmit"}
    assert sorted(r.ts_ms for r in rows) == sorted(
        int(datetime.fromisoformat(e["timestamp"]).timestamp() * 1000)
        for e in events
        if e["event_type"] == "UserPromptSubmit"
    )


def test_event_type_choices_are_known_names_plus_the_selected_one(admin_client, redis):
    store(redis, [envelope(event_type="SomethingNew")])
    content = get_list(admin_client).content.decode()
    assert "?event_type=SessionStart" in content
    assert "?event_type=SomethingNew" not in content  # not read from the table

    response = get_list(admin_client, event_type="SomethingNew")
    assert "?event_type=SomethingNew" in response.content.decode()
    assert len(result_rows(response)) == 1

    cursor = get_list(admin_client, CURSOR_LIST).content.decode()
    assert "?event_type=beforeSubmitPrompt" in cursor
    assert "?event_type=PreToolUse" not in cursor


def test_filter_by_session_search(admin_client, redis):
    events = bulk(40)
    store(redis, events)
    response = get_list(admin_client, q="sess-gamma")
    rows = result_rows(response)
    assert len(rows) == sum(e["session_id"] == "sess-gamma" for e in events) == 13
    assert {r.chunk.session_id for r in rows} == {"sess-gamma"}
    assert result_rows(get_list(admin_client, q="no-such-session")) == []


def test_filter_by_date_range(admin_client, redis):
    # bulk(): one event a minute from 2024-03-01 12:00; 3000 minutes reach 2024-03-03 14:00.
    store(redis, bulk(3000))
    day2 = result_rows(get_list(admin_client, since="2024-03-02", until="2024-03-02"))
    assert len(day2) == 100  # a full page of the 1440 events of that day
    day2_all = ClaudeRawTrace.objects.filter(ts_ms__gte=1709337600000, ts_ms__lt=1709424000000).count()
    assert day2_all == 1440
    response = get_list(admin_client, since="2024-03-02T00:00:00Z", until="2024-03-02T00:05:00Z")
    rows = result_rows(response)
    assert sorted(_utc(r.ts_ms).strftime("%H:%M") for r in rows) == [
        "00:00",
        "00:01",
        "00:02",
        "00:03",
        "00:04",
    ]
    assert "2024-03-02T00:00:00Z to 2024-03-02T00:05:00Z" in response.content.decode()

    before = result_rows(get_list(admin_client, until="2024-03-01T12:02:00+00:00"))
    assert sorted(_utc(r.ts_ms) for r in before) == [T0, T0 + timedelta(minutes=1)]
    assert get_list(admin_client, since="not-a-date").url.endswith("e=1")
    assert get_list(admin_client, date="fortnight").url.endswith("e=1")


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def test_relative_date_filters(admin_client, redis):
    now = datetime.now(UTC)
    ages = {
        "now": timedelta(0),
        "3d": timedelta(days=3),
        "20d": timedelta(days=20),
        "400d": timedelta(days=400),
    }
    store(
        redis,
        [
            envelope(event_id=name, timestamp=iso(now - age), payload={"age": name})
            for name, age in ages.items()
        ],
    )

    def ages_shown(date: str) -> set[str]:
        return {_age(r, now) for r in result_rows(get_list(admin_client, date=date))}

    assert ages_shown("today") == {"now"}
    assert ages_shown("7d") == {"now", "3d"}
    assert ages_shown("30d") == {"now", "3d", "20d"}
    assert "400d" not in ages_shown("year")
    assert "now" in ages_shown("year")


def _age(row: ClaudeRawTrace, now: datetime) -> str:
    days = (now - _utc(row.ts_ms)).days
    return {0: "now", 3: "3d", 20: "20d"}.get(days, "400d")


def test_detail_shows_the_event_as_pretty_json(admin_client, redis, django_assert_max_num_queries):
    store(redis, bulk(200))
    original = envelope(
        event_id="detail:1",
        session_id="sess-detail",
        payload={"tool_name": "Edit", "marker": "café <script>x</script>", "nested": {"k": 1}},
        metadata={"lines_added": 7, "lines_removed": 2},
    )
    store(redis, [original])
    row = ClaudeRawTrace.objects.get(seq=201)
    url = reverse("admin:telemetry_clauderawtrace_change", args=[row.seq])
    with django_assert_max_num_queries(MAX_DETAIL_QUERIES):
        response = admin_client.get(url)
    assert response.status_code == 200
    content = response.content.decode()
    pre = content.split("<pre>")[1].split("</pre>")[0]
    assert json.loads(html.unescape(pre)) == original
    assert '  "payload": {\n    "tool_name": "Edit",' in html.unescape(pre)  # indented
    assert "café &lt;script&gt;x&lt;/script&gt;" in pre  # ensure_ascii off, and escaped
    assert "<script>x" not in content
    assert "sess-detail" in content
    assert "+7 -2" in content
    assert f"unit {row.chunk_id}</a>" in content


def test_admin_is_read_only(admin_client, redis):
    store(redis, bulk(3))
    change_url = reverse("admin:telemetry_clauderawtrace_change", args=[1])
    assert admin_client.get(reverse("admin:telemetry_clauderawtrace_add")).status_code == 403
    assert admin_client.get(reverse("admin:telemetry_clauderawtrace_delete", args=[1])).status_code == 403
    assert admin_client.post(change_url, {"event_type": "Changed"}).status_code == 403
    assert ClaudeRawTrace.objects.get(seq=1).event_type == TYPES[0]
    content = admin_client.get(CLAUDE_LIST).content.decode()
    assert reverse("admin:telemetry_clauderawtrace_add") not in content
    assert 'name="action"' not in content
    assert "<h1" in content and "Blueplane" in content


def test_platform_switch_links_to_the_other_table(admin_client, redis):
    store(
        redis,
        [
            envelope(platform="cursor", source="hook", event_type="beforeSubmitPrompt", session_id="c-1"),
            envelope(session_id="c-1"),
        ],
    )
    claude = get_list(admin_client, q="c-1", event_type="PreToolUse").content.decode()
    assert f'href="{CURSOR_LIST}?q=c-1"' in claude
    cursor = admin_client.get(f"{CURSOR_LIST}?q=c-1")
    assert cursor.status_code == 200
    assert [r.event_type for r in result_rows(cursor)] == ["beforeSubmitPrompt"]
    assert re.search(r'<li class="selected">\s*<a href="[^"]*">Cursor</a>', cursor.content.decode())


def test_unit_and_session_progress_admins(admin_client, redis, django_assert_max_num_queries):
    store(redis, bulk(12))
    with CaptureQueriesContext(connection) as ctx, django_assert_max_num_queries(MAX_LIST_QUERIES):
        response = admin_client.get(reverse("admin:telemetry_rawchunk_changelist"))
    assert response.status_code == 200
    chunks_sql = [q["sql"] for q in ctx.captured_queries if "raw_chunks" in q["sql"]]
    assert chunks_sql
    assert not any('"raw_chunks"."body"' in sql or "COUNT(" in sql.upper() for sql in chunks_sql)

    chunk = RawChunk.objects.filter(session_id="sess-alpha").first()
    detail = admin_client.get(reverse("admin:telemetry_rawchunk_change", args=[chunk.id]))
    assert detail.status_code == 200
    assert '"event_id": "bulk:0"' in html.unescape(detail.content.decode())

    SessionProgress.objects.create(platform="claude_code", session_id="sess-alpha", raw_through_seq=12)
    listing = admin_client.get(reverse("admin:telemetry_sessionprogress_changelist"))
    assert listing.status_code == 200
    assert "sess-alpha" in listing.content.decode()
