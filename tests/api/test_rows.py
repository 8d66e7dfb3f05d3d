"""/api/v1/ conversations, turns, tool calls, code changes, projects and models over the repository's Claude
Code corpus (the real pipeline), and what every resource list shares: pages, a fixed number of queries,
and a 400 or an honest empty answer for every bad value, never a 500."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from telemetry.models import CodeChange, Conversation, Project, Session, ToolCall, Turn

from .resources_support import FAILURES, FORK_CHILD, FORK_PARENT, error, last_page, ok, url, walk, walk_back

pytestmark = pytest.mark.django_db

# tests/fixtures/claude-real/README.md: what ccusage reports for the corpus (input, output, cache write,
# cache read, cost).
CCUSAGE = {
    "claude-sonnet-4-5-20250929": (301, 1254, 446193, 569663, "1.8843"),
    "claude-opus-4-5-20251101": (61, 367, 111371, 132455, "0.7843"),
    "claude-opus-4-1-20250805": (4, 28, 21942, 0, "0.4136"),
    "claude-haiku-4-5-20251001": (48, 109, 112669, 47201, "0.1468"),
}

ROWS = {"conversations/": Conversation, "turns/": Turn, "tool-calls/": ToolCall, "code-changes/": CodeChange}
SESSION = f"sessions/{FAILURES}/"
# Every list, and how many queries a page of it takes, whatever its size.
LISTS = {
    "sessions/": 1,
    "conversations/": 1,
    "turns/": 3,  # the rows, their sessions, their conversations
    "tool-calls/": 3,
    "code-changes/": 2,  # the rows, their sessions
    "projects/": 1,
    "models/": 1,
    f"{SESSION}conversations/": 2,  # the session, then as above
    f"{SESSION}turns/": 4,
    f"{SESSION}tool-calls/": 4,
    f"{SESSION}code-changes/": 3,
    f"{SESSION}timeline/": 4,  # the session, then turns, tool calls and code changes
    f"{SESSION}events/": 4,  # the session (derived, then stored), the raw rows, their units
}
SPANNED = [
    path for path in LISTS if not path.startswith(("projects/", f"{SESSION}timeline", f"{SESSION}events"))
]
# Free-text filters of each list (a value longer than any stored one matches nothing).
TEXT_FILTERS = {
    "sessions/": ["search", "project", "branch", "model", "tool"],
    "conversations/": ["session", "project"],
    "turns/": ["session", "project", "model"],
    "tool-calls/": ["session", "project", "tool_name", "error_type", "mcp_server"],
    "code-changes/": ["session", "project", "tool_name", "file_extension"],
    "projects/": ["search"],
    "models/": ["project"],
}


@pytest.fixture
def client() -> APIClient:
    return APIClient()


# --- the rows ----------------------------------------------------------------------------------------


def test_each_list_walks_every_row_once_newest_first(corpus, client):
    for path, model in ROWS.items():
        rows = walk(client, path, page_size=3)
        assert sorted(r["id"] for r in rows) == sorted(model.objects.values_list("pk", flat=True)), path
        back = walk_back(client, last_page(client, path, page_size=3))
        assert back == rows, path
    times = [r["timestamp"] for r in walk(client, "turns/", page_size=7)]
    assert times == sorted(times, reverse=True)
    oldest = [r["timestamp"] for r in walk(client, "code-changes/", page_size=2, ordering="timestamp")]
    assert oldest == sorted(oldest)
    calls = walk(client, "tool-calls/", page_size=5)
    assert [c["started_at"] for c in calls] == sorted((c["started_at"] for c in calls), reverse=True)


def test_rows_carry_their_session_project_and_no_documents(corpus, client):
    turn = ok(client, "turns/", session=FAILURES, kind="assistant_response")["results"][0]
    assert (turn["session_id"], turn["platform"], turn["project"]) == (FAILURES, "claude_code", "03-failures")
    assert turn["conversation_id"] == FAILURES and turn["model"] == "claude-sonnet-4-5-20250929"
    assert isinstance(turn["cost_usd"], float) and turn["timestamp"].endswith("Z")
    assert "detail" not in turn
    prompt = ok(client, "turns/", session=FAILURES, kind="user_prompt")["results"][0]
    assert prompt["cost_usd"] is None and prompt["chars"] > 0


def test_row_filters(corpus, client):
    def count(path: str, **params: object) -> int:
        return len(ok(client, path, page_size=1000, **params)["results"])

    assert (
        count("turns/", kind="assistant_response") == Turn.objects.filter(kind="assistant_response").count()
    )
    assert count("turns/", model="claude-haiku-4-5-20251001") == 8  # the model's messages, as ccusage counts
    assert count("turns/", session=FAILURES) == Turn.objects.filter(session__session_id=FAILURES).count()
    assert (
        count("turns/", project="19-fork-session")
        == Turn.objects.filter(project__name="19-fork-session").count()
    )
    assert count("turns/", platform="cursor") == 0
    assert count("turns/", platform="claude_code") == Turn.objects.count()
    assert count("tool-calls/", tool_name="Bash") == 14
    assert count("tool-calls/", status="failure") == 4 and count("tool-calls/", status="rejected") == 2
    assert count("tool-calls/", error_type="permission_denied") == 1
    assert count("tool-calls/", tool_name="Bash", status="failure", session=FAILURES) == 2
    assert count("code-changes/", file_extension="py") == 2
    assert count("code-changes/", status="accepted") == 13 and count("code-changes/", status="reverted") == 0
    assert count("code-changes/", tool_name="Write", project="03-failures") == 1
    assert count("conversations/", session=FAILURES) == 1
    assert count("conversations/", project="19-fork-session") == 2
    for path in ROWS:
        total = count(path)
        assert count(path, since="2026-11-25", until="2026-11-25") == total
        assert count(path, since="2026-11-26", until="2026-11-26", tz="Pacific/Kiritimati") == total
        assert count(path, since="2026-11-26") == 0
        assert count(path, since="0001-01-01", until="9999-12-31", tz="America/Adak") == total
    late = count("turns/", since="2026-11-25T10:25:00Z")
    assert late == Turn.objects.filter(timestamp__gte="2026-11-25T10:25:00Z").count() and late > 0


# --- projects and models -----------------------------------------------------------------------------


def test_models_have_the_usage_ccusage_reports(corpus, client):
    rows = ok(client, "models/")["results"]
    assert [r["model"] for r in rows] == list(CCUSAGE)  # most costly first
    for row in rows:
        inp, out, write, read, cost = CCUSAGE[row["model"]]
        got = (row["input_tokens"], row["output_tokens"], row["cache_write_tokens"], row["cache_read_tokens"])
        assert got == (inp, out, write, read), row["model"]
        assert round(Decimal(str(row["cost_usd"])), 4) == Decimal(cost)
        assert row["first_seen"] == row["last_seen"] == "2026-11-25T10:00:00Z"
    assert sum(r["messages"] for r in rows) == Turn.objects.filter(kind="assistant_response").count()
    for ordering in ("model", "-model", "-cost_usd", "-messages", "-last_seen"):
        assert (
            walk(client, "models/", page_size=1, ordering=ordering)
            == ok(client, "models/", ordering=ordering)["results"]
        ), ordering
    assert ok(client, "models/", platform="cursor")["results"] == []
    assert ok(client, "models/", since="2026-11-26")["results"] == []
    fork = ok(client, "models/", project="19-fork-session")["results"]
    assert [r["model"] for r in fork] == ["claude-opus-4-5-20251101"]


def test_projects_have_session_counts_and_usage_from_the_rollups(corpus, client):
    rows = walk(client, "projects/", page_size=3)
    assert [r["name"] for r in rows] == sorted(r["name"] for r in rows)
    assert len(rows) == Project.objects.count()
    assert sum(r["sessions"] for r in rows) == Session.objects.count()
    assert sum(r["output_tokens"] for r in rows) == 1758
    assert round(sum(Decimal(str(r["cost_usd"])) for r in rows), 4) == Decimal("3.2290")
    fork = next(r for r in rows if r["name"] == "19-fork-session")
    assert fork["sessions"] == 2 and fork["messages"] == 5
    assert (
        fork["first_seen"] == "2026-11-25T10:25:08.336000Z"
        and fork["last_seen"] == "2026-11-25T10:25:09.319000Z"
    )
    for ordering in ("-name", "-cost_usd", "-session_count", "-last_seen"):
        walked = walk(client, "projects/", page_size=2, ordering=ordering)
        assert walked == ok(client, "projects/", ordering=ordering)["results"], ordering
        assert len({r["key"] for r in walked}) == len(rows)
    costs = [r["cost_usd"] for r in walk(client, "projects/", page_size=2, ordering="-cost_usd")]
    assert costs == sorted(costs, reverse=True)
    assert [r["name"] for r in ok(client, "projects/", search="FORK")["results"]] == ["19-fork-session"]
    assert ok(client, "projects/", search=fork["key"])["results"][0]["name"] == "19-fork-session"
    on_claude = ok(client, "projects/", platform="claude_code", page_size=1000)["results"]
    assert sum(r["sessions"] for r in on_claude) == 21 and all(r["sessions"] for r in on_claude)
    assert ok(client, "projects/", platform="cursor")["results"] == []
    assert {FORK_CHILD, FORK_PARENT} == set(
        Session.objects.filter(project__name="19-fork-session").values_list("session_id", flat=True)
    )


# --- what every list shares --------------------------------------------------------------------------


def test_a_page_takes_the_same_few_queries_whatever_its_size(corpus, client, django_assert_max_num_queries):
    for path, bound in LISTS.items():
        ok(client, path)  # warm: the codec of the raw store is read once per process
        counts = []
        for size in (1, 500):
            with CaptureQueriesContext(connection) as queries, django_assert_max_num_queries(bound):
                ok(client, path, page_size=size)
            counts.append(len(queries))
        assert counts[0] == counts[1], (path, counts)
        with CaptureQueriesContext(connection) as queries:
            ok(client, path, page_size=500)
        sqls = [query["sql"].upper() for query in queries.captured_queries]
        assert not [sql for sql in sqls if "COUNT(*)" in sql], path
        # Compressed events are read by the raw events endpoint only.
        assert any('"RAW_CHUNKS"' in sql for sql in sqls) == path.endswith("events/"), path


def test_bad_pages_orderings_and_cursors_are_400s(corpus, client):
    other = ok(client, "turns/", page_size=1)["next"].split("cursor=")[1].split("&")[0]
    for path in LISTS:
        for size in (0, -1, 10**30, "abc", "1.5", 1001, "", " 5"):
            if size != "":
                assert "page_size" in error(client, path, page_size=size)["message"], (path, size)
        body = error(client, path, ordering="no_such_field")
        assert "ordering" in body["message"] and "choose from" in body["message"]
        for cursor in ("abc", "x" * 100_000, other, "e30:" + "A" * 43, "%00"):
            assert "cursor" in error(client, path, cursor=cursor)["message"], (path, cursor[:20])
        page = ok(client, path, page_size=1)
        if page["next"]:
            token = page["next"].split("cursor=")[1].split("&")[0]
            tampered = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
            error(client, path, cursor=tampered)
            # A cursor belongs to the ordering it was made in.
            if path != f"{SESSION}events/":
                other_order = next(o for o in ok_orderings(client, path) if o != page_ordering(path))
                error(client, path, cursor=token, ordering=other_order)


def ok_orderings(client: APIClient, path: str) -> list[str]:
    body = error(client, path, ordering="?")
    return [o.strip() for o in body["message"].split("choose from")[1].split(",")]


def page_ordering(path: str) -> str:
    defaults = {"sessions/": "-last_event_at", "conversations/": "-started_at", "projects/": "name",
                "models/": "-cost_usd", f"{SESSION}conversations/": "started_at", f"{SESSION}timeline/": "timestamp"}  # fmt: skip
    return defaults.get(path, "timestamp" if path.startswith(SESSION) else "-timestamp")


def test_bad_filter_values_are_400s_naming_the_parameter(corpus, client):
    for path in SPANNED:
        for params in ({"since": "2026-13-01"}, {"until": "yesterday"}, {"since": "0000-01-01"},
                       {"since": "10000-01-01"}, {"tz": "Mars/Olympus"}, {"tz": "x" * 1_000_000},
                       {"tz": "../../etc/passwd"}, {"until": "2026-11-25", "since": "2026-11-26"},
                       {"until": "2026-11-25T10:00:00", "since": "2026-11-25T10:00:00"},
                       {"since": "x" * 1_000_000}, {"since": "100%"}, {"tz": "%s%(x)s%"},
                       {"since": "soon", "until": "2026-11-25"}, {"until": "later", "since": "2026-11-25"}):  # fmt: skip
            name = next(iter(params))
            assert error(client, path, **params)["message"].startswith(f"{name}:"), (path, params)
    for path in ("sessions/", "turns/", "tool-calls/", "code-changes/", "conversations/", "models/"):
        assert "platform" in error(client, path, platform="mars")["message"]
    assert "status" in error(client, "sessions/", status="sleeping")["message"]
    assert "kind" in error(client, "turns/", kind="monologue")["message"]
    assert "status" in error(client, "tool-calls/", status="maybe")["message"]
    for value in ("abc", "NaN", "Infinity", "1e", "0x10"):
        assert error(client, "sessions/", min_cost=value)["message"].startswith("min_cost:"), value
    for value in ("abc", "1.5", "1e3", "NaN"):
        assert error(client, "sessions/", min_tokens=value)["message"].startswith("min_tokens:"), value
    assert "platform" in error(client, "projects/", platform="mars")["message"]
    assert "NUL" in error(client, "sessions/", search="a\x00b")["message"]
    assert "NUL" in error(client, f"sessions/{FAILURES}%00/", 400)["message"]


def test_values_past_any_stored_one_give_an_honest_answer(corpus, client):
    def count(path: str, **params: object) -> int:
        return len(ok(client, path, page_size=1000, **params)["results"])

    for path, names in TEXT_FILTERS.items():
        for name in names:
            assert count(path, **{name: "y" * 1_000_000}) == 0, (path, name)
            assert count(path, **{name: "ünïcödé ☃ 'quoted' \"; DROP TABLE sessions; --"}) == 0, (path, name)
    assert count("sessions/", min_cost="1e40") == 0 and count("sessions/", min_cost="100000000") == 0
    assert count("sessions/", min_cost="-1e40") == 21 and count("sessions/", min_cost="-5") == 21
    assert "min_cost" in error(client, "sessions/", min_cost="1e400")["message"]  # django-filter's bound
    assert count("sessions/", min_cost="0.18141300000000000001") == len(
        Session.objects.filter(cost_usd__gt=Decimal("0.181413"))
    )
    assert count("sessions/", min_cost="0.181413") == len(
        Session.objects.filter(cost_usd__gte=Decimal("0.181413"))
    )
    assert count("sessions/", min_tokens=10**30) == 0 and count("sessions/", min_tokens=2**63) == 0
    assert count("sessions/", min_tokens=2**63 - 1) == 0
    assert count("sessions/", min_tokens=-(10**30)) == 21
    for path in SPANNED:
        assert count(path, since="9999-12-31", tz="Pacific/Kiritimati") == 0, path
        assert count(path, until="0001-01-01", tz="Pacific/Kiritimati") == 0, path
        assert count(path, since="0001-01-01T00:00:00", tz="Asia/Tokyo") == count(path), path
        assert count(path, until="9999-12-31T23:59:59", tz="America/Adak") == count(path), path


def test_the_schema_documents_every_resource_and_parameter():
    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    assert not GENERATOR_STATS._warn_cache, list(GENERATOR_STATS._warn_cache)
    paths = schema["paths"]
    for path in [*LISTS, SESSION]:
        templated = "/api/v1/" + path.replace(FAILURES, "{session_id}")
        operation = paths[templated]["get"]
        for parameter in operation["parameters"]:
            assert parameter.get("description"), (templated, parameter["name"])
    sessions = {p["name"] for p in paths["/api/v1/sessions/"]["get"]["parameters"]}
    assert {"platform", "project", "branch", "model", "tool", "status", "since", "until", "tz", "min_cost",
            "min_tokens", "search", "ordering", "cursor", "page_size"} <= sessions  # fmt: skip
    timeline = paths["/api/v1/sessions/{session_id}/timeline/"]["get"]["responses"]["200"]
    assert timeline["content"]["application/json"]["schema"]["$ref"].endswith("PaginatedTimelineItemList")


def test_requests_outside_the_api_shape_are_json_errors(corpus, client):
    assert client.get(url("sessions/"), HTTP_ACCEPT="text/html").status_code == 406
    response = client.post(url("sessions/"), {}, format="json")
    assert response.status_code == 405 and response.json()["status"] == 405
