"""The report endpoints over the real Claude Code corpus (tests/fixtures/claude-real): usage equal to the
CLI's and to ccusage's, tools, errors, acceptance, activity, data issues, dead letters, the pipeline, and
every bad parameter answered with a JSON 400."""

import json
from datetime import datetime
from pathlib import Path

import pytest
import redis as redis_py
from django.core.management import call_command
from redis.backoff import NoBackoff
from redis.retry import Retry

from blueplane import cli
from telemetry import tasks
from telemetry.processing.facts import IssueKind
from telemetry.selectors import activity, deadletters, system
from telemetry.selectors.spans import LocalDays
from telemetry.wire import EVENTS_STREAM
from tests.factories import entry, envelope
from tests.support.ccusage import assert_ccusage_equal
from tests.telemetry.test_consumer import drain, make_consumer

pytestmark = pytest.mark.django_db

CCUSAGE = Path(__file__).resolve().parents[1] / "fixtures" / "claude-real" / "ccusage"
SPAN = {"since": "2026-11-01", "until": "2026-11-30", "tz": "UTC"}
CLI_SPAN = ["--since", "2026-11-01", "--until", "2026-11-30", "--tz", "UTC"]
# The fork pair (tests/fixtures/claude-real/README.md): ccusage counts the origin's copied messages for
# the fork, we count them for the origin (telemetry/selectors/ccusage.py says why).
FORK = "1866ec00-1844-42fe-b156-a87aa606088c"
ORIGIN = "2910f535-51be-4d56-b921-f3cc433ece4e"
REPORTS = ["usage/", "tools/", "errors/", "acceptance/", "activity/", "productivity/", "export/"]


def get(client, path: str, **params) -> dict:
    response = client.get(f"/api/v1/{path}", {**SPAN, **params})
    assert response.status_code == 200, response.content[:500]
    return response.json()


def cli_json(capsys, *argv: str) -> list:
    assert cli.main([*argv, "--json", *CLI_SPAN]) == 0
    return json.loads(capsys.readouterr().out)


def same_rows(api_rows: list[dict], cli_rows: list[dict]) -> None:
    """Equal key for key; times compared as instants (the CLI writes +00:00, the API Z)."""
    assert len(api_rows) == len(cli_rows)
    for ours, theirs in zip(api_rows, cli_rows, strict=True):
        for key in ("started_at",):
            if theirs.get(key):
                assert datetime.fromisoformat(ours.pop(key)) == datetime.fromisoformat(theirs.pop(key))
        assert ours == theirs


@pytest.mark.parametrize("group", ["model", "project", "day", "session"])
def test_usage_equals_the_clis(corpus, client, capsys, group):
    report = get(client, "usage/", group=group)
    same_rows(report["rows"], cli_json(capsys, "usage", "--by", group))
    assert report["totals"]["output_tokens"] == 1758
    assert report["totals"]["cost_usd"] == pytest.approx(3.22896975, abs=1e-8)
    assert report["span"] == SPAN and report["group"] == group


def test_weeks_and_months_sum_the_days_and_start_where_asked(corpus, client):
    (day,) = get(client, "usage/", group="day")["rows"]
    (monday,) = get(client, "usage/", group="week")["rows"]
    (sunday,) = get(client, "usage/", group="week", start_of_week="sunday")["rows"]
    (month,) = get(client, "usage/", group="month")["rows"]
    assert (day["day"], monday["week"], sunday["week"], month["month"]) == (
        "2026-11-25", "2026-11-23", "2026-11-22", "2026-11",
    )  # fmt: skip
    for row in (monday, sunday, month):
        assert {k: v for k, v in row.items() if k not in ("week", "month")} == {
            k: v for k, v in day.items() if k != "day"
        }


def test_usage_filters_by_platform_and_project(corpus, client):
    by_project = get(client, "usage/", group="project")["rows"]
    fork = next(r for r in by_project if r["project"] == "19-fork-session")
    (only,) = get(client, "usage/", group="project", project=fork["project_key"])["rows"]
    assert only == fork
    assert get(client, "usage/", group="model", platform="cursor")["rows"] == []
    sessions = get(client, "usage/", group="session", project=fork["project_key"])["rows"]
    assert {s["session_id"] for s in sessions} == {FORK, ORIGIN}
    assert len(get(client, "usage/", group="session", limit=3)["rows"]) == 3


def test_ccusage_daily_is_ccusages_own_output(corpus, client):
    ours = get(client, "usage/", format="ccusage", group="day")
    assert_ccusage_equal(ours, json.loads((CCUSAGE / "daily.json").read_text()))


def test_ccusage_sessions_are_ccusages_but_for_the_fork(corpus, client):
    ours = get(client, "usage/", format="ccusage", group="session", limit=1000)
    theirs = json.loads((CCUSAGE / "session.json").read_text())
    assert_ccusage_equal(ours["totals"], theirs["totals"], "totals")
    mine = {row["period"]: row for row in ours["session"]}
    reference = {row["period"]: row for row in theirs["session"]}
    assert set(mine) == set(reference) | {ORIGIN}  # the API-error session has no usage in either
    for session_id, row in reference.items():
        if session_id != FORK:
            assert_ccusage_equal(mine[session_id], row, session_id)
    fork, origin = mine[FORK], mine[ORIGIN]
    for key in ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens", "totalTokens"):
        assert fork[key] + origin[key] == reference[FORK][key]
    assert fork["totalCost"] + origin["totalCost"] == pytest.approx(reference[FORK]["totalCost"], abs=1e-8)
    costs = [row["totalCost"] for row in ours["session"]]
    assert costs == sorted(costs, reverse=True)  # most expensive first, as ccusage


@pytest.mark.parametrize(("group", "name"), [("week", "weekly"), ("month", "monthly")])
def test_ccusage_weeks_and_months_are_ccusages_own_output(corpus, client, group, name):
    ours = get(client, "usage/", format="ccusage", group=group)
    assert_ccusage_equal(
        ours, json.loads((CCUSAGE / f"{name}.json").read_text())
    )  # weeks start on Monday, as ccusage 20's


def test_ccusage_order_and_week_start_are_asked_for(corpus, client):
    (sunday,) = get(client, "usage/", format="ccusage", group="week", start_of_week="sunday")["weekly"]
    assert sunday["period"] == "2026-11-22"
    cheapest = get(client, "usage/", format="ccusage", group="session", order="asc", limit=1000)["session"]
    dearest = get(client, "usage/", format="ccusage", group="session", order="desc", limit=1000)["session"]
    assert cheapest == dearest[::-1] and dearest[0]["totalCost"] > dearest[-1]["totalCost"]
    days = {"since": "2026-11-24", "until": "2026-11-26", "tz": "Pacific/Chatham"}  # 10:30 UTC: 00:15 there
    newest = get(client, "usage/", format="ccusage", group="day", order="desc", **days)["daily"]
    oldest = get(client, "usage/", format="ccusage", group="day", **days)["daily"]
    assert [r["period"] for r in oldest] == [r["period"] for r in newest[::-1]]


def test_tools_equal_the_clis(corpus, client, capsys):
    report = get(client, "tools/")
    assert report["tools"] == cli_json(capsys, "tools")
    bash = next(t for t in report["tools"] if t["tool_name"] == "Bash")
    assert bash["rejection_rate"] == bash["rejections"] / bash["calls"]
    assert bash["p50_ms"] is not None and bash["p95_ms"] >= bash["p50_ms"]


def test_errors_group_by_tool_type_and_message_without_the_text(corpus, client):
    report = get(client, "errors/")
    groups = report["groups"]
    assert [(g["tool_name"], g["error_type"]) for g in groups] == [
        ("Bash", "error"), ("Bash", "error"), ("Bash", "permission_denied"), ("Bash", "user_rejected"),
        ("Edit", "tool_use_error"), ("Read", "error"),
    ]  # fmt: skip
    # The two failed Bash calls said different things ("Exit code 2 ...", "Exit code 3"): two groups.
    assert len({g["error_hash"] for g in groups}) == 6 and all(len(g["error_hash"]) == 16 for g in groups)
    assert all(g["error_text"] == "" for g in groups)  # content is not kept by default
    assert all(g["count"] == 1 and g["sessions"] == 1 and g["first_seen"] for g in groups)
    assert not report["more"]
    assert len(get(client, "errors/", tool="Bash")["groups"]) == 4
    assert [g["tool_name"] for g in get(client, "errors/", error_type="tool_use_error")["groups"]] == ["Edit"]
    assert get(client, "errors/", min_count=2)["groups"] == []
    limited = get(client, "errors/", limit=2)
    assert len(limited["groups"]) == 2 and limited["more"]
    call_command("rebuild", verbosity=0)  # the hash is derived data: a rebuild makes it again
    assert get(client, "errors/")["groups"] == groups


def test_acceptance_by_extension_agrees_with_the_activity_summary(corpus, client):
    report = get(client, "acceptance/")
    assert [(e["file_extension"], e["changes"]) for e in report["extensions"]] == [
        ("md", 5), ("txt", 5), ("py", 2), ("json", 1),
    ]  # fmt: skip
    total = report["total"]
    assert (total["changes"], total["accepted"], total["rejected"], total["reverted"]) == (13, 13, 0, 0)
    summary = get(client, "activity/")["activity"]
    assert total["acceptance_rate"] == summary["acceptance_rate"] == 1.0
    assert (total["lines_added"], total["lines_removed"]) == (
        summary["lines_added"],
        summary["lines_removed"],
    )


def test_activity_and_productivity_are_the_selectors(corpus, client):
    days = LocalDays(datetime(2026, 11, 1).date(), datetime(2026, 11, 30).date(), "UTC")
    assert get(client, "activity/")["activity"] == activity.activity_summary(start=days.start, end=days.end)
    score = get(client, "productivity/")
    expected = activity.productivity_score(start=days.start, end=days.end)
    assert (score["score"], score["parts"], score["inputs"]) == (
        expected["score"], expected["parts"], expected["inputs"],
    )  # fmt: skip
    assert score["score"] == pytest.approx(sum(score["parts"].values()), abs=0.05)
    assert get(client, "activity/", platform="cursor")["activity"]["prompts"] == 0


def _issue_events(redis, n: int) -> None:
    """n transcript records of a kind this version does not know: one data issue each, through the real
    fast path and slow path."""
    for i in range(n):
        event = envelope(source="transcript", event_type="mystery", session_id="odd-session",
                         payload={"type": f"mystery-{i}", "uuid": f"u{i}"})  # fmt: skip
        redis.xadd(EVENTS_STREAM, entry(event))
    drain(make_consumer(redis))
    tasks.sessions_catch_up()


def test_data_issues_page_by_cursor_and_count_by_kind(corpus, client, redis, django_assert_max_num_queries):
    _issue_events(redis, 5)
    counts = {k["kind"]: k for k in get(client, "data-issues/counts/")["kinds"]}
    assert counts["unknown_record"] == {"kind": "unknown_record", "count": 5, "exact": True}
    assert get(client, "data-issues/counts/", session="no-such-session")["kinds"][3]["count"] == 0
    seen, page = [], get(client, "data-issues/", page_size=2)
    while True:
        assert len(page["results"]) <= 2
        seen += page["results"]
        if not page["next"]:
            break
        page = client.get(page["next"]).json()
    assert len(seen) == 5 and [i["id"] for i in seen] == sorted((i["id"] for i in seen), reverse=True)
    assert {i["kind"] for i in seen} == {"unknown_record"} and {i["session_id"] for i in seen} == {
        "odd-session"
    }
    assert all(i["detail"].startswith("mystery-") and i["platform"] == "claude_code" for i in seen)
    assert len(get(client, "data-issues/", kind="unknown_record", session="odd-session")["results"]) == 5
    assert get(client, "data-issues/", kind="bad_envelope")["results"] == []
    for size in (1, 500):  # the same queries whatever the page size
        with django_assert_max_num_queries(1):
            assert client.get("/api/v1/data-issues/", {"page_size": size}).status_code == 200


def test_dead_letters_list_count_and_show(client, redis):
    bad = [b"not json", b'{"event_id": 1}', b"{also not json", entry(envelope(platform="vim"))["event"]]
    for raw in bad:
        redis.xadd(EVENTS_STREAM, {"event": raw})
    redis.xadd(EVENTS_STREAM, {"no_event_field": b"x"})
    drain(make_consumer(redis))
    counts = get(client, "dead-letters/counts/")
    assert (counts["total"], counts["counted"], counts["exact"]) == (5, 5, True)
    by_reason = {r["reason"]: r["count"] for r in counts["reasons"]}
    assert by_reason["not valid JSON"] == 2, by_reason
    assert sum(by_reason.values()) == 5
    page = get(client, "dead-letters/", limit=2)
    seen = page["results"]
    while page["next"]:
        page = client.get(page["next"]).json()
        seen += page["results"]
    assert len(seen) == 5 and [d["id"] for d in seen] == sorted((d["id"] for d in seen), reverse=True)
    one = get(client, f"dead-letters/{seen[-1]['id']}/")
    assert (
        one["event"] == "not json" and one["event_is_json"] is False and one["reason"].startswith("not valid")
    )
    for first in ("0-0", "0000000000000000000-00000000000000000000"):  # nothing is older than it
        assert get(client, "dead-letters/", before=first) == {"next": None, "results": []}
    assert len(get(client, "dead-letters/", before=f"{2**64 - 1}-{2**64 - 1}")["results"]) == 5
    gone = client.get("/api/v1/dead-letters/1-1/")
    assert gone.status_code == 404 and gone.json()["error"] == "not_found"


@pytest.mark.parametrize("path", ["dead-letters/", "dead-letters/counts/", "dead-letters/1-0/"])
def test_dead_letters_are_a_json_503_while_redis_is_down(client, monkeypatch, tmp_path, path):
    # A real client of a Redis that is not there (a socket nobody listens on), not an emulation.
    down = redis_py.Redis(unix_socket_path=str(tmp_path / "gone.sock"), retry=Retry(NoBackoff(), 0))
    monkeypatch.setattr(deadletters, "redis_client", lambda: down)
    response = client.get(f"/api/v1/{path}")
    assert response.status_code == 503 and response.json()["error"] == "redis_unavailable"
    assert "Redis cannot be reached" in response.json()["message"]


def test_pipeline_is_what_status_reports(corpus, client):
    state = get(client, "pipeline/")
    expected = system.pipeline_state()
    assert state["database"] == expected["database"] and state["stream"] == expected["stream"]
    assert state["redis"]["ok"] is True and state["warnings"] == expected["warnings"]
    assert state["failing"] == {"sessions": 0, "newest": []}


def test_the_whole_calendar_is_a_span_like_any_other(corpus, client):
    for tz in ("UTC", "Pacific/Kiritimati", "America/Adak"):
        whole = {"since": "0001-01-01", "until": "9999-12-31", "tz": tz}
        for group in ("day", "week", "month", "session"):
            for fmt in ("json", "ccusage"):
                report = get(client, "usage/", group=group, format=fmt, start_of_week="sunday", **whole)
                total = report["totals"]
                assert total.get("output_tokens", total.get("outputTokens")) == 1758, (tz, group, fmt)
        assert sum(t["failures"] for t in get(client, "tools/", **whole)["tools"]) == 4
        assert len(get(client, "errors/", **whole)["groups"]) == 6
        assert get(client, "acceptance/", **whole)["total"]["changes"] == 13
        assert get(client, "activity/", **whole)["activity"]["prompts"] == 26
        assert get(client, "productivity/", **whole)["score"] > 0
    most = {"days": 4_000_000, "until": "9999-12-31"}
    assert get(client, "usage/", group="model", **most)["totals"]["output_tokens"] == 1758


MEGABYTE = "x" * 2**20
BAD_SPANS = [
    {"since": "2026-13-01"}, {"until": "yesterday"}, {"since": "2026-11-30", "until": "2026-11-01"},
    {"tz": "Mars/Olympus"}, {"tz": MEGABYTE}, {"since": MEGABYTE}, {"days": "0"}, {"days": "-3"},
    {"days": str(2**70)}, {"days": "1e3"}, {"since": "10000-01-01"}, {"until": "0000-12-31"},
    {"platform": "emacs"}, {"project": MEGABYTE},
]  # fmt: skip
BAD_OWN = {
    "usage/": [{"group": "year"}, {"format": "xml"}, {"format": "ccusage", "group": "model"}, {"order": "up"},
               {"start_of_week": "someday"}, {"limit": "0"}, {"limit": str(2**64)}, {"group": MEGABYTE}],
    "errors/": [{"min_count": "0"}, {"min_count": str(2**64)}, {"limit": "1001"}, {"tool": MEGABYTE}],
    "export/": [{"format": "xlsx"}, {"format": "csv", "table": "all"}, {"format": "parquet", "table": "all"},
                {"table": "raw_traces"}],
    "data-issues/": [{"cursor": "not-a-cursor"}, {"cursor": MEGABYTE}, {"kind": "nonsense"},
                     {"kind": MEGABYTE}, {"platform": "emacs"}, {"session": MEGABYTE}],
    "data-issues/counts/": [{"platform": "emacs"}, {"session": MEGABYTE}],
    "dead-letters/": [{"before": "yesterday"}, {"before": f"{2**64}-0"}, {"before": MEGABYTE},
                      {"limit": "0"}, {"limit": "501"}],
}  # fmt: skip
CASES = [(path, params) for path in REPORTS for params in BAD_SPANS] + [
    (path, params) for path, many in BAD_OWN.items() for params in many
]


@pytest.mark.parametrize(("path", "params"), CASES, ids=[f"{p}{i}" for i, (p, _) in enumerate(CASES)])
def test_bad_parameters_are_a_json_400_naming_them(client, redis, path, params):
    response = client.get(f"/api/v1/{path}", params)
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert body["status"] == 400 and body["error"] == "invalid"
    assert len(body["message"]) < 1000 and "Traceback" not in body["message"]
    named = [k for k in params if k != "days" or "since" not in params]
    assert any(name in body["message"] for name in named) or "since" in body["message"], body["message"]


@pytest.mark.parametrize("dead_letter_id", ["yesterday", f"{2**64}-0", "1-" + "9" * 30, "1-2-3", "x" * 5000])
def test_bad_dead_letter_ids_are_a_json_400(client, redis, dead_letter_id):
    response = client.get(f"/api/v1/dead-letters/{dead_letter_id}/")
    assert response.status_code == 400 and "not a dead-letter id" in response.json()["message"]


@pytest.mark.parametrize(
    "path",
    ["usage/", "tools/", "errors/", "acceptance/", "activity/", "productivity/", "data-issues/counts/"],
)
def test_a_report_costs_a_fixed_number_of_queries(corpus, client, path, django_assert_max_num_queries):
    many = [{}, {"group": "session", "limit": 10_000}, {"format": "ccusage", "group": "session"}]
    for params in many if path == "usage/" else [{}]:
        # The counts: one bounded query per issue kind.
        with django_assert_max_num_queries(len(IssueKind.ALL) if "counts" in path else 3):
            assert client.get(f"/api/v1/{path}", {**SPAN, **params}).status_code == 200


def test_reports_are_in_the_schema_with_their_parameters(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    usage = {p["name"] for p in paths["/api/v1/usage/"]["get"]["parameters"]}
    assert usage >= {
        "since",
        "until",
        "days",
        "tz",
        "platform",
        "project",
        "group",
        "format",
        "start_of_week",
    }
    export = {p["name"] for p in paths["/api/v1/export/"]["get"]["parameters"]}
    assert export >= {"since", "until", "days", "tz", "format", "table"}
    for path in (
        "tools",
        "errors",
        "acceptance",
        "activity",
        "productivity",
        "data-issues",
        "dead-letters",
        "pipeline",
        "data-issues/counts",
        "dead-letters/counts",
        "dead-letters/{dead_letter_id}",
    ):
        assert f"/api/v1/{path}/" in paths, path
