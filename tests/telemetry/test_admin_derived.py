"""The read-only admin over derived data, on the real Claude Code corpus fed through the real pipeline
(capture envelopes -> Redis stream -> fast path -> raw store -> the catch-up task, run synchronously)."""

import re
from datetime import UTC, datetime

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.http import urlencode

from telemetry import tasks
from telemetry.capture.privacy import Privacy
from telemetry.models import (
    ClaudeRawTrace,
    CodeChange,
    Conversation,
    DataIssue,
    Project,
    Session,
    SessionProgress,
    ToolCall,
    Turn,
)
from telemetry.store.keys import session_key
from tests.factories import envelope
from tests.telemetry.processing.test_catchup import (
    FAILURES,
    hook_envelopes,
    ingest,
    transcript_envelopes,
)

pytestmark = pytest.mark.django_db

# Session, cookies and auth cost 2; the page window 1, and unfiltered 2 primary-key reads for the
# estimate; the choices of at most two filters (projects, models or tools from the rollups, the
# selected session). A query per row would exceed this on any page of the corpus.
MAX_LIST_QUERIES = 7
DERIVED = {
    "session": Session,
    "conversation": Conversation,
    "turn": Turn,
    "toolcall": ToolCall,
    "codechange": CodeChange,
    "project": Project,
    "dataissue": DataIssue,
}
# Small tables a filter may read its choices from; the listed table itself is never scanned for them.
CHOICE_TABLES = ("rollup_usage_hour", "rollup_tool_hour")


def changelist(name: str) -> str:
    return reverse(f"admin:telemetry_{name}_changelist")


@pytest.fixture
def corpus(redis) -> None:
    """Every transcript and hook call of the corpus, stored and derived, plus hook calls the slow path
    cannot read (hooks of a later Claude Code, a tool hook without its id), which become data issues."""
    privacy = Privacy(b"admin tests")
    odd = [
        orjson.dumps(envelope(session_id=FAILURES, event_type=f"FutureHook{i % 3}", payload={"n": i}))
        for i in range(12)
    ] + [orjson.dumps(envelope(session_id=FAILURES, payload={"tool_name": "Bash"})) for _ in range(3)]
    # A tool's result whose call never arrives.
    odd.append(
        orjson.dumps(
            envelope(session_id=FAILURES, event_type="PostToolUse", hook_type="PostToolUse",
                     payload={"tool_use_id": "toolu_orphan", "tool_response": {}})
        )
    )  # fmt: skip
    ingest(redis, transcript_envelopes(privacy) + hook_envelopes(privacy) + odd)
    tasks.sessions_catch_up()
    # Enough rows that one query per row would exceed MAX_LIST_QUERIES on every list.
    for model in DERIVED.values():
        assert model.objects.count() > MAX_LIST_QUERIES, model


def get(client, name: str, **params):
    return client.get(changelist(name) + ("?" + urlencode(params) if params else ""))


def rows(response) -> list:
    return list(response.context["cl"].result_list)


def hrefs(response) -> list[str]:
    return [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', response.content.decode())]


def test_a_fresh_install_shows_empty_lists(admin_client) -> None:
    for name in DERIVED:
        response = get(admin_client, name)
        assert response.status_code == 200, name
        assert rows(response) == []


LIST_CASES = [
    ("session", {}),
    ("session", {"platform": "claude_code", "status": "ended"}),
    ("session", {"model": "claude-sonnet-4-5-20250929"}),
    ("session", {"q": "corpus"}),
    ("conversation", {}),
    ("turn", {}),
    ("turn", {"kind": "assistant_response"}),
    ("turn", {"model": "claude-sonnet-4-5-20250929"}),
    ("turn", {"q": "claude-sonnet-4-5-20250929"}),
    ("toolcall", {}),
    ("toolcall", {"tool_name": "Bash", "status": "success"}),
    ("toolcall", {"q": "Read"}),
    ("codechange", {}),
    ("project", {}),
    ("dataissue", {}),
    ("dataissue", {"kind": "unknown_hook", "session": "1"}),
]


def test_lists_run_a_bounded_number_of_queries_and_never_count(
    admin_client, corpus, django_assert_max_num_queries
) -> None:
    for name, params in LIST_CASES:
        case = f"{name} {params}"
        with (
            django_assert_max_num_queries(MAX_LIST_QUERIES, info=case),
            CaptureQueriesContext(connection) as ctx,
        ):
            response = get(admin_client, name, **params)
        assert response.status_code == 200, case
        model = DERIVED[name]
        if not params:
            assert len(rows(response)) == min(model.objects.count(), 100), case
        for query in ctx.captured_queries:
            sql = query["sql"].upper()
            assert "COUNT(" not in sql, case
            if "DISTINCT" in sql:
                assert any(table.upper() in sql for table in CHOICE_TABLES), (case, sql)
        # No blob on a list: turns come without their detail document.
        assert not any('"turns"."detail"' in q["sql"] for q in ctx.captured_queries), case


def test_session_page_links_to_its_rows_and_its_raw_events(admin_client, corpus) -> None:
    session = Session.objects.get(session_id=FAILURES)
    page = admin_client.get(reverse("admin:telemetry_session_change", args=[session.pk]))
    assert page.status_code == 200
    links = hrefs(page)
    expected = {
        Conversation: Conversation.objects.filter(session=session),
        Turn: Turn.objects.filter(session=session),
        ToolCall: ToolCall.objects.filter(session=session),
        CodeChange: CodeChange.objects.filter(session=session),
        DataIssue: DataIssue.objects.filter(session=session),
    }
    for model, own in expected.items():
        url = f"{reverse(f'admin:telemetry_{model._meta.model_name}_changelist')}?session={session.pk}"
        assert url in links, model
        listed = admin_client.get(url)
        assert listed.status_code == 200
        shown = rows(listed)
        assert all(r.session_id == session.pk for r in shown)
        assert len(shown) == min(own.count(), 100)
        assert FAILURES in listed.content.decode()  # the session filter names the session
    assert ToolCall.objects.filter(session=session).count() > 0

    raw_url = f"{reverse('admin:telemetry_clauderawtrace_changelist')}?q={FAILURES}"
    assert raw_url in links
    raw = rows(admin_client.get(raw_url))
    own_raw = ClaudeRawTrace.objects.filter(session_key=session_key(FAILURES))
    assert len(raw) == min(own_raw.count(), 100) and raw
    assert {r.chunk.session_id for r in raw} == {FAILURES}


def test_rows_link_back_to_their_session(admin_client, corpus) -> None:
    for name in ("conversation", "turn", "toolcall", "codechange", "dataissue"):
        response = get(admin_client, name)
        links = hrefs(response)
        for row in rows(response)[:20]:
            assert reverse("admin:telemetry_session_change", args=[row.session_id]) in links, name
    turn = Turn.objects.filter(session__session_id=FAILURES).first()
    detail = admin_client.get(reverse("admin:telemetry_turn_change", args=[turn.pk]))
    assert reverse("admin:telemetry_session_change", args=[turn.session_id]) in hrefs(detail)


def test_a_tool_call_and_the_response_that_requested_it_link_to_each_other(admin_client, corpus) -> None:
    call = ToolCall.objects.exclude(message_key="").filter(session__session_id=FAILURES).first()
    turn = Turn.objects.get(session=call.session, key=call.message_key)
    call_page = admin_client.get(reverse("admin:telemetry_toolcall_change", args=[call.pk]))
    [to_turn] = [h for h in hrefs(call_page) if h.startswith(changelist("turn") + "?")]
    assert [t.pk for t in rows(admin_client.get(to_turn))] == [turn.pk]
    turn_page = admin_client.get(reverse("admin:telemetry_turn_change", args=[turn.pk]))
    [to_calls] = [h for h in hrefs(turn_page) if h.startswith(changelist("toolcall") + "?")]
    assert call.pk in {c.pk for c in rows(admin_client.get(to_calls))}


def test_raw_event_links_to_its_derived_session_once_derived(admin_client, redis) -> None:
    privacy = Privacy(b"admin tests")
    ingest(redis, hook_envelopes(privacy)[:5])
    trace = ClaudeRawTrace.objects.order_by("seq").first()
    url = reverse("admin:telemetry_clauderawtrace_change", args=[trace.seq])
    assert "not derived yet" in admin_client.get(url).content.decode()
    tasks.sessions_catch_up()
    session = Session.objects.get(session_id=trace.chunk.session_id)
    assert reverse("admin:telemetry_session_change", args=[session.pk]) in hrefs(admin_client.get(url))


def test_data_issue_links_to_its_raw_event(admin_client, corpus) -> None:
    issue = DataIssue.objects.filter(event_seq__isnull=False).select_related("session").first()
    assert issue is not None
    response = get(admin_client, "dataissue", session=issue.session_id)
    event_url = reverse("admin:telemetry_clauderawtrace_change", args=[issue.event_seq])
    assert event_url in hrefs(response)
    assert admin_client.get(event_url).status_code == 200


def test_an_orphan_tool_result_issue_links_to_its_tool_call(admin_client, corpus) -> None:
    issue = DataIssue.objects.get(kind="tool_result_without_call", detail="toolu_orphan")
    response = get(admin_client, "dataissue", kind="tool_result_without_call")
    [link] = [h for h in hrefs(response) if h.startswith(changelist("toolcall") + "?")]
    assert [c.tool_use_id for c in rows(admin_client.get(link))] == ["toolu_orphan"]
    assert issue.event_seq is None  # no single raw event to link to


def test_filters_select_what_they_say(admin_client, corpus) -> None:
    def ids(name: str, **params) -> set[int]:
        response = get(admin_client, name, **params)
        assert response.status_code == 200
        shown = rows(response)
        assert len(shown) < 100  # the whole answer is on the page
        return {r.pk for r in shown}

    sonnet = "claude-sonnet-4-5-20250929"
    assert ids("session", model=sonnet) == set(
        Session.objects.filter(turns__model=sonnet).values_list("pk", flat=True)
    )
    ended = set(Session.objects.filter(status="ended").values_list("pk", flat=True))
    assert ids("session", status="ended") == ended
    assert ids("session", platform="cursor") == set()
    project = Project.objects.exclude(sessions=None).first()
    assert ids("session", project__id__exact=project.pk) == set(project.sessions.values_list("pk", flat=True))
    failed = ToolCall.objects.filter(status="failure")
    assert failed.exists()
    assert ids("toolcall", status="failure") == set(failed.values_list("pk", flat=True))
    edits = ToolCall.objects.filter(tool_name="Edit")
    assert ids("toolcall", tool_name="Edit") == set(edits.values_list("pk", flat=True))
    errors = Turn.objects.filter(kind="api_error")
    assert ids("turn", kind="api_error") == set(errors.values_list("pk", flat=True))
    issues = DataIssue.objects.filter(kind="unknown_hook")
    assert issues.count() == 12
    assert ids("dataissue", kind="unknown_hook") == set(issues.values_list("pk", flat=True))
    # Dates, as the date filter's links spell them.
    assert ids("session", last_event_at__gte="2000-01-01 00:00:00+00:00") == set(
        Session.objects.values_list("pk", flat=True)
    )
    assert ids("session", last_event_at__gte="2100-01-01 00:00:00+00:00") == set()


def test_model_and_tool_choices_come_from_the_rollups(admin_client, corpus) -> None:
    content = get(admin_client, "turn").content.decode()
    for model in set(Turn.objects.exclude(model="").values_list("model", flat=True)):
        assert f"?model={model}" in content
    content = get(admin_client, "toolcall").content.decode()
    assert "?tool_name=Bash" in content and "?tool_name=Edit" in content


def test_search_by_session_id_tool_model_and_project(admin_client, corpus) -> None:
    def ids(name: str, term: str) -> set[int]:
        return {r.pk for r in rows(get(admin_client, name, q=term))}

    session = Session.objects.get(session_id=FAILURES)
    assert ids("session", FAILURES) == {session.pk}
    assert ids("toolcall", FAILURES) == set(
        ToolCall.objects.filter(session=session).values_list("pk", flat=True)
    )
    assert ids("toolcall", "Bash") == set(
        ToolCall.objects.filter(tool_name="Bash").values_list("pk", flat=True)[:100]
    )
    assert ids("toolcall", "no-such-thing") == set()
    haiku = "claude-haiku-4-5-20251001"
    assert ids("session", haiku) == set(
        Session.objects.filter(turns__model=haiku).values_list("pk", flat=True)
    )
    project = Project.objects.exclude(sessions=None).order_by("name").first()
    part = project.name[-6:].upper()  # any part of the name, in any case
    matching = Project.objects.filter(name__icontains=part)
    assert ids("session", part) == set(
        Session.objects.filter(project__in=matching).values_list("pk", flat=True)
    )
    assert ids("project", part) == set(matching.values_list("pk", flat=True))


def test_every_detail_page_and_the_index_render(admin_client, corpus) -> None:
    assert admin_client.get(reverse("admin:index")).status_code == 200
    for name, model in DERIVED.items():
        row = model.objects.order_by("-pk").first()
        response = admin_client.get(reverse(f"admin:telemetry_{name}_change", args=[row.pk]))
        assert response.status_code == 200, name
        assert 'name="_save"' not in response.content.decode()  # nothing to submit


def test_derived_admin_is_read_only(admin_client, corpus) -> None:
    session = Session.objects.first()
    assert admin_client.get(reverse("admin:telemetry_session_add")).status_code == 403
    assert admin_client.get(reverse("admin:telemetry_session_delete", args=[session.pk])).status_code == 403
    change = reverse("admin:telemetry_session_change", args=[session.pk])
    assert admin_client.post(change, {"status": "ended", "prompts": 999}).status_code == 403
    assert Session.objects.get(pk=session.pk).prompts == session.prompts
    assert 'name="action"' not in get(admin_client, "turn").content.decode()


def test_session_progress_lists_failing_sessions(admin_client) -> None:
    retry = datetime(2030, 1, 1, tzinfo=UTC)
    SessionProgress.objects.create(
        platform="claude_code", session_id="healthy", raw_through_seq=3, processed_seq=3
    )
    SessionProgress.objects.create(
        platform="claude_code", session_id="broken", raw_through_seq=9, processed_seq=2, failures=3,
        last_error="ValueError: bad turn", retry_at=retry,
    )  # fmt: skip
    response = admin_client.get(reverse("admin:telemetry_sessionprogress_changelist") + "?state=failing")
    assert [p.session_id for p in rows(response)] == ["broken"]
    assert "ValueError: bad turn" in response.content.decode()
    waiting = admin_client.get(reverse("admin:telemetry_sessionprogress_changelist") + "?state=waiting")
    assert [p.session_id for p in rows(waiting)] == ["broken"]


HOSTILE_VALUES = ["abc", "-1", "0", str(2**70), "1e308", "0001-01-01", "9999-12-31", "9999-12-31T23:59:59+14:00",
                  "2026-13-45", "\u00e9\u4e2d", "x" * 5000, "' OR 1=1 --", "%00"]  # fmt: skip
PARAMS = ["p", "q", "o", "session", "date", "since", "until", "platform", "kind", "model", "tool_name", "state",
          "event_type", "status", "project__id__exact", "timestamp__gte"]  # fmt: skip


def test_no_query_string_makes_a_changelist_fail(admin_client, corpus) -> None:
    """Whatever a URL carries (bad numbers, dates at or past the calendar's ends, a megabyte), a list
    answers with a page, a redirect or a 4xx: never a server error."""
    from django.contrib import admin

    names = [m._meta.model_name for m in admin.site._registry if m._meta.app_label == "telemetry"]
    assert len(names) >= 10
    for name in names:
        # A megabyte of search: every page repeats its query string in its links, so only once a list.
        cases = [(param, value) for param in PARAMS for value in HOSTILE_VALUES] + [("q", "x" * 1_000_000)]
        for param, value in cases:
            response = admin_client.get(changelist(name), {param: value})
            assert response.status_code < 500, (name, param, value[:40], response.status_code)
