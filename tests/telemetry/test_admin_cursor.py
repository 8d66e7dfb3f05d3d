"""The admin over a store holding Claude Code and Cursor side by side (tests/dashboard/cursor_store.py):
the platform filter and column on every list of derived rows, Cursor's new fields (tokens not recorded,
target hashes, archived conversations), and the read-only admins of its scored commits and AI code lines."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.http import urlencode

from telemetry.models import AiCodeLine, AiCommit, CodeChange, Conversation, Session, ToolCall, Turn
from tests.dashboard.cursor_store import COMPOSERS, CURSOR, CURSOR_NO_TOKENS, mixed_store_build

pytestmark = pytest.mark.django_db

# As tests/telemetry/test_admin_derived.py counts them: session and auth, the page window and the
# estimate's two reads, the choices of up to two filters.
MAX_LIST_QUERIES = 7
PLATFORM_LISTS = {"conversation": Conversation, "turn": Turn, "toolcall": ToolCall, "codechange": CodeChange}


@pytest.fixture
def store() -> dict:
    return mixed_store_build()


def get(client, name: str, **params):
    url = reverse(f"admin:telemetry_{name}_changelist") + ("?" + urlencode(params) if params else "")
    response = client.get(url)
    assert response.status_code == 200, (name, params)
    return response


def rows(response) -> list:
    return list(response.context["cl"].result_list)


def cells(response) -> list[str]:
    """The text of the list's cells (links and markup stripped)."""
    found = re.findall(r"<t[dh] class=\"field-[^\"]+\"[^>]*>(.*?)</t[dh]>", response.content.decode(), re.S)
    return [re.sub(r"<[^>]+>", "", c).strip() for c in found]


def test_every_list_of_session_rows_filters_and_shows_the_platform(admin_client, store) -> None:
    for name, model in PLATFORM_LISTS.items():
        for platform, label in (("cursor", "Cursor"), ("claude_code", "Claude Code")):
            response = get(admin_client, name, platform=platform)
            expected = set(model.objects.filter(session__platform=platform).values_list("pk", flat=True))
            assert expected and {r.pk for r in rows(response)} == expected, (name, platform)
            assert f'class="field-session_platform">{label}<' in response.content.decode(), (name, platform)
    sessions = get(admin_client, "session", platform="cursor")
    assert {s.session_id for s in rows(sessions)} == {CURSOR, CURSOR_NO_TOKENS}


def test_tokens_cursor_did_not_record_are_shown_as_not_recorded_never_as_zeros(admin_client, store) -> None:
    turns = get(admin_client, "turn", tokens_known="0")
    assert {t.pk for t in rows(turns)} == set(
        Turn.objects.filter(tokens_known=False).values_list("pk", flat=True)
    )
    assert len(rows(turns)) == 3
    shown = cells(turns)
    assert shown.count("not recorded") == 3 and "0/0/0+0" not in shown
    sessions = cells(get(admin_client, "session", platform="cursor"))
    assert "not recorded" in sessions  # every response of CURSOR_NO_TOKENS
    assert "1000/200/0+0 (1 of 2 responses not recorded)" in sessions
    assert "0/0/0+0" not in sessions


def test_conversations_show_archived_and_the_assistants_own_line_totals(admin_client, store) -> None:
    archived = get(admin_client, "conversation", archived__exact="1")
    assert [c.conversation_id for c in rows(archived)] == [COMPOSERS[1]]
    listed = cells(get(admin_client, "conversation", platform="cursor"))
    assert "+12 -3" in listed
    session = Session.objects.get(session_id=CURSOR)
    of_session = rows(get(admin_client, "conversation", session=session.pk))
    assert {c.conversation_id for c in of_session} == set(COMPOSERS)


def test_tool_calls_show_their_target_hash(admin_client, store) -> None:
    call = ToolCall.objects.get(tool_name="run_terminal_cmd")
    assert call.target_hash[:12] in cells(get(admin_client, "toolcall", platform="cursor"))
    page = admin_client.get(reverse("admin:telemetry_toolcall_change", args=[call.pk]))
    assert call.target_hash in page.content.decode()


def test_scored_commits_admin_lists_searches_and_is_read_only(admin_client, store) -> None:
    listed = get(admin_client, "aicommit")
    assert len(rows(listed)) == AiCommit.objects.count() == 3
    shown = cells(listed)
    assert "c1c1c1c1c1c1" in shown and "13" in shown  # tab 4 + composer 9
    by_hash = rows(get(admin_client, "aicommit", q="c1" * 20))
    assert {(c.commit_hash[:2], c.branch) for c in by_hash} == {("c1", "main"), ("c1", "feature")}
    assert [c.branch for c in rows(get(admin_client, "aicommit", q="feature"))] == ["feature"]
    assert rows(get(admin_client, "aicommit", q="x" * 1000)) == []
    commit = AiCommit.objects.first()
    page = admin_client.get(reverse("admin:telemetry_aicommit_change", args=[commit.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert admin_client.get(reverse("admin:telemetry_aicommit_add")).status_code == 403
    assert admin_client.get(reverse("admin:telemetry_aicommit_delete", args=[commit.pk])).status_code == 403


def test_ai_code_lines_admin_filters_by_source_and_session(admin_client, store) -> None:
    assert len(rows(get(admin_client, "aicodeline"))) == 5
    tab = rows(get(admin_client, "aicodeline", source="tab"))
    assert len(tab) == 2 and all(line.session_id is None for line in tab)
    session = Session.objects.get(session_id=CURSOR)
    assert len(rows(get(admin_client, "aicodeline", session=session.pk))) == 3
    page = admin_client.get(reverse("admin:telemetry_session_change", args=[session.pk])).content.decode()
    assert f"{reverse('admin:telemetry_aicodeline_changelist')}?session={session.pk}" in page
    assert len(rows(get(admin_client, "aicodeline", q=CURSOR))) == 3
    assert len(rows(get(admin_client, "aicodeline", q="shop"))) == 3  # the session's project
    line = AiCodeLine.objects.filter(session=None).first()
    page = admin_client.get(reverse("admin:telemetry_aicodeline_change", args=[line.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert (
        admin_client.post(reverse("admin:telemetry_aicodeline_change", args=[line.pk]), {}).status_code == 403
    )


def test_cursor_lists_run_a_bounded_number_of_queries(
    admin_client, store, django_assert_max_num_queries
) -> None:
    # More rows than queries allowed, so a query per row would show.
    for i in range(MAX_LIST_QUERIES + 3):
        line = AiCodeLine.objects.first()
        AiCodeLine.objects.create(hash=f"extra{i}", session=line.session or Session.objects.first(),
                                  source="composer", created_at=line.created_at, hour=line.hour)  # fmt: skip
    cases = [("aicommit", {}), ("aicodeline", {}), ("aicodeline", {"source": "composer"}),
             ("turn", {"platform": "cursor"}), ("conversation", {"platform": "cursor"})]  # fmt: skip
    for name, params in cases:
        with django_assert_max_num_queries(MAX_LIST_QUERIES), CaptureQueriesContext(connection) as ctx:
            get(admin_client, name, **params)
        assert not any("COUNT(" in q["sql"].upper() for q in ctx.captured_queries), (name, params)
        for query in ctx.captured_queries:  # choices come from the small rollups, never the listed table
            sql = query["sql"].upper()
            assert "DISTINCT" not in sql or "ROLLUP_" in sql, (name, params, sql)


def test_hostile_query_strings_never_fail_the_cursor_lists(admin_client, store) -> None:
    for name in ("aicommit", "aicodeline", "conversation", "turn"):
        for param in ("q", "source", "session", "archived__exact", "tokens_known", "scored_at__gte", "p"):
            for value in ("abc", "-1", str(2**70), "x" * 5000, "' OR 1=1 --", "\u00e9"):
                url = reverse(f"admin:telemetry_{name}_changelist")
                assert admin_client.get(url, {param: value}).status_code < 500, (name, param, value[:20])
