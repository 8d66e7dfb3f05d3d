"""Who and where in every interface (docs/team.md): stored sessions of two users on three machines (and
one of this install's own, user and machine ""); each report, list, export, MCP tool and the dashboard
filters by user and machine, and the usage report groups by them. Every number here comes from the
rollups the slow path's recompute wrote (tests/factories.py people_rows)."""

import csv
import io
import json
from datetime import date

import pytest

from api.dashboard.filters import filters_parse
from api.dashboard.pages import overview as overview_page
from api.dashboard.pages import projects as projects_page
from api.dashboard.pages import sessions as sessions_page
from api.live import feed
from api.live.feed import metrics_request_parse
from api.mcp import tools
from blueplane import cli
from telemetry.models import ActivityHour, AiCodeLine, ToolHour, UsageHour
from telemetry.processing import changes
from telemetry.processing.catchup import CatchUpRun
from telemetry.selectors import ai_code, blocks, derived, provenance, sessions, usage
from telemetry.selectors.changes import derived_changes_merge, derived_entry_decode
from telemetry.selectors.spans import LocalDays
from telemetry.wire import DERIVED_STREAM
from tests.api.resources_support import error, ok
from tests.factories import PEOPLE_DAY, PEOPLE_PROJECT, people_rows

pytestmark = pytest.mark.django_db

SPAN = {"since": "2026-11-01", "until": "2026-11-30", "tz": "UTC"}
CLI_SPAN = ["--since", "2026-11-01", "--until", "2026-11-30", "--tz", "UTC"]
BY_USER = {"alice": 5, "bob": 1, "": 4}  # responses
PEOPLE_AT = PEOPLE_DAY.replace(hour=12)
BY_MACHINE = {"alice-laptop": 3, "alice-desk": 2, "bob-laptop": 1, "": 4}


@pytest.fixture
def team() -> None:
    people_rows()


def test_rollups_are_split_by_user_and_machine(team):
    rows = UsageHour.objects.values_list("user", "machine", "messages")
    assert sorted(rows) == [("", "", 4), ("alice", "alice-desk", 2), ("alice", "alice-laptop", 3),
                            ("bob", "bob-laptop", 1)]  # fmt: skip
    assert ToolHour.objects.get(user="bob").failures == 1
    assert ActivityHour.objects.get(machine="alice-desk").sessions == 1


def test_usage_groups_and_filters_by_user_and_machine(team):
    days = {"start": date(2026, 11, 1), "end": date(2026, 11, 30)}
    by_user = usage.usage_report(**days, by="user")
    assert {r["user"]: r["messages"] for r in by_user} == BY_USER
    by_machine = usage.usage_report(**days, by="machine", user="alice")
    assert {r["machine"]: r["messages"] for r in by_machine} == {"alice-laptop": 3, "alice-desk": 2}
    own = usage.usage_report(**days, by="model", user="", machine="")  # "" is this install's own
    assert [r["messages"] for r in own] == [4]
    assert sessions.session_list(user="alice").count() == 2
    assert list(sessions.session_list(machine="bob-laptop").values_list("session_id", flat=True)) == [
        "people-bob"
    ]


def test_api_filters_and_groups(team, client):
    answer = ok(client, "usage/", group_by="user", **SPAN)
    assert answer["group"] == "user"
    assert {r["user"]: r["messages"] for r in answer["rows"]} == BY_USER
    answer = ok(client, "usage/", group="machine", **SPAN)
    assert {r["machine"]: r["messages"] for r in answer["rows"]} == BY_MACHINE
    assert ok(client, "usage/", group="day", user="alice", **SPAN)["totals"]["messages"] == 5
    assert ok(client, "usage/", group="day", machine="alice-desk", **SPAN)["totals"]["messages"] == 2
    assert (
        ok(client, "usage/", group="day", format="ccusage", user="bob", **SPAN)["totals"]["inputTokens"]
        == 1000
    )
    listed = ok(client, "sessions/", user="alice", **SPAN)["results"]
    assert {(s["session_id"], s["user"], s["machine"]) for s in listed} == {
        ("people-alice-laptop", "alice", "alice-laptop"), ("people-alice-desk", "alice", "alice-desk")}  # fmt: skip
    assert [s["session_id"] for s in ok(client, "sessions/", machine="bob-laptop")["results"]] == [
        "people-bob"
    ]
    tools_report = ok(client, "tools/", user="bob", **SPAN)["tools"]
    assert [(t["tool_name"], t["calls"], t["failures"]) for t in tools_report] == [("Bash", 1, 1)]
    assert ok(client, "activity/", machine="alice-laptop", **SPAN)["activity"]["assistant_messages"] == 3
    calls = ok(client, "tool-calls/", user="bob")["results"]
    assert [c["session_id"] for c in calls] == ["people-bob"]
    assert "is not one of" in error(client, "usage/", group_by="person", **SPAN)["message"]
    error(client, "usage/", user="u" * 151, **SPAN)


def test_export_has_user_and_machine_columns_and_filters(team, client):
    response = client.get("/api/v1/export/", {**SPAN, "format": "csv", "table": "sessions", "user": "alice"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {(r["session_id"], r["user"], r["machine"]) for r in rows} == {
        ("people-alice-laptop", "alice", "alice-laptop"), ("people-alice-desk", "alice", "alice-desk")}  # fmt: skip


def test_cli_filters_and_groups(team, capsys):
    assert cli.main(["usage", "--by", "user", "--json", *CLI_SPAN]) == 0
    assert {r["user"]: r["messages"] for r in json.loads(capsys.readouterr().out)} == BY_USER
    assert cli.main(["usage", "--by", "machine", "--user", "alice", *CLI_SPAN]) == 0
    shown = capsys.readouterr().out
    assert "alice-laptop" in shown and "alice-desk" in shown and "bob-laptop" not in shown
    assert cli.main(["usage", "--by", "user", *CLI_SPAN]) == 0
    assert "(this install)" in capsys.readouterr().out
    assert cli.main(["sessions", "--machine", "alice-desk", "--json", "--since", "2026-11-01"]) == 0
    assert [s["session_id"] for s in json.loads(capsys.readouterr().out)] == ["people-alice-desk"]
    assert cli.main(["sessions", "--since", "2026-11-01", "--tz", "UTC"]) == 0
    table = capsys.readouterr().out
    assert "user" in table and "bob-laptop" in table  # the columns appear: more than one user stored
    assert cli.main(["tools", "--user", "bob", "--json", *CLI_SPAN]) == 0
    assert [(t["tool_name"], t["failures"]) for t in json.loads(capsys.readouterr().out)] == [("Bash", 1)]


def test_mcp_tools_take_user_and_machine(team, client):
    answer = tools.usage_report(group="user", **SPAN)
    assert answer == client.get("/api/v1/usage/", {"group": "user", **SPAN}).json()
    assert {r["user"]: r["messages"] for r in answer["rows"]} == BY_USER
    assert tools.usage_report(group="day", machine="alice-laptop", **SPAN)["totals"]["messages"] == 3
    found = tools.sessions_search(user="bob", since="2026-11-01")["results"]
    assert [s["session_id"] for s in found] == ["people-bob"]
    assert tools.errors_report(user="alice", **SPAN)["groups"] == []
    assert len(tools.errors_report(user="bob", **SPAN)["groups"]) == 1


def test_dashboard_offers_users_and_machines_and_filters_the_list(team):
    choices = sessions_page.choices()
    assert choices["users"] == ["", "alice", "bob"]
    assert choices["machines"] == ["", "alice-desk", "alice-laptop", "bob-laptop"]
    figures = sessions_page.figures(
        filters_parse({"period": "all", "user": "alice", "machine": "alice-desk"})
    )
    assert [(s["session_id"], s["user"], s["machine"]) for s in figures["sessions"]] == [
        ("people-alice-desk", "alice", "alice-desk")
    ]


def test_dashboard_offers_no_user_choice_on_a_one_person_install():
    assert sessions_page.choices()["users"] == [] and sessions_page.choices()["machines"] == []


def test_ledger_filters_by_user_and_machine(team, client, capsys):
    days = LocalDays(date(2026, 11, 1), date(2026, 11, 30), "UTC")
    found = provenance.ledger(start=days.start, end=days.end, user="alice")
    assert sum(r["messages"] for r in found["usage"]) == 5
    assert found["joins"]["requests"]["transcript"] == 5
    assert found["joins"]["tool_calls"]["total"] == 2 and found["joins"]["prompts"]["total"] == 2
    assert found["activity"]["lines_added"] == 4  # alice's two edits
    own = provenance.ledger(start=days.start, end=days.end, user="", machine="")
    assert own["joins"]["requests"]["transcript"] == 4 and own["joins"]["tool_calls"]["total"] == 1
    answer = ok(client, "ledger/", machine="alice-desk", **SPAN)
    assert [(r["model"], r["messages"]) for r in answer["usage"]] == [("claude-sonnet-4-5", 2)]
    assert answer["joins"]["requests"]["transcript"] == 2
    assert ok(client, "ledger/", user="nobody", **SPAN)["usage"] == []
    error(client, "ledger/", machine="m" * 65, **SPAN)
    assert tools.ledger(user="bob", **SPAN) == ok(client, "ledger/", user="bob", **SPAN)
    assert cli.main(["report", "ledger", "--user", "bob", "--json", *CLI_SPAN]) == 0
    assert json.loads(capsys.readouterr().out)["joins"]["requests"]["transcript"] == 1
    assert cli.main(["report", "ledger", "--user", "", "--machine", "", *CLI_SPAN]) == 0
    assert "user (this install), machine (this install)" in capsys.readouterr().out


def test_blocks_filter_by_user_and_machine(team, client):
    def entries(**params: str) -> int:
        return sum(b["entries"] for b in ok(client, "blocks/", **params)["blocks"])

    assert entries() == 10
    assert entries(user="alice") == 5 and entries(machine="bob-laptop") == 1
    assert entries(user="alice", machine="bob-laptop") == 0
    error(client, "blocks/", user="u" * 151)
    assert len(blocks.entries_orm(user="", machine="")) == 4
    from django.db import connection

    if connection.vendor == "sqlite":  # the CLI's and the statusline's own read, on the same rows
        connection.ensure_connection()
        raw = connection.connection
        assert len(blocks.entries_sqlite(raw, user="alice")) == 5
        assert len(blocks.entries_sqlite(raw, user="", machine="", platform="claude_code")) == 4
        assert len(blocks.entries_sqlite(raw, machine="alice-desk", project="team-app")) == 2


def test_ai_lines_and_projects_filter_by_user_and_machine(team, client, capsys):
    people = {s.session_id: s for s in sessions.session_list()}
    at = PEOPLE_AT
    for n, (session_id, count) in enumerate(
        [("people-alice-laptop", 3), ("people-bob", 1), ("people-local", 2)]
    ):
        for i in range(count):
            AiCodeLine.objects.create(hash=f"h{n}-{i}", session=people[session_id], source="composer",
                                      created_at=at, hour=at)  # fmt: skip
    lines = {"start": date(2026, 11, 1), "end": date(2026, 11, 30)}
    assert ai_code.ai_lines_by(**lines, user="alice")[1] == 3
    assert ai_code.ai_lines_by(**lines, user="", machine="")[1] == 2
    answer = ok(client, "ai-code/", machine="bob-laptop", **SPAN)
    assert answer["lines"]["total"] == 1
    assert tools.ai_code(user="alice", **SPAN)["lines"]["total"] == 3
    assert cli.main(["report", "ai", "--user", "", "--json", "--since", "20261101", "-z", "UTC"]) == 0
    assert json.loads(capsys.readouterr().out)["lines"]["total"] == 2

    (alice,) = ok(client, "projects/", user="alice")["results"]
    assert (alice["sessions"], alice["messages"]) == (2, 5)
    assert ok(client, "projects/", machine="nowhere")["results"] == []
    every = {p["key"]: p["messages"] for p in ok(client, "projects/")["results"]}
    assert every[PEOPLE_PROJECT[0]] == 10
    error(client, "projects/", user="u" * 151)
    assert [p["messages"] for p in tools.projects(machine="bob-laptop")["results"]] == [1]
    assert derived.project_list_with_totals(user="", machine="").get().messages == 4
    assert cli.main(["projects", "--user", "bob", "--json"]) == 0
    assert [p["messages"] for p in json.loads(capsys.readouterr().out)] == [1]


def test_dashboard_overview_and_projects_offer_and_honour_users_and_machines(team, client):
    for path in ("/", "/projects/"):
        page = client.get(path, {"period": "all"}).content.decode()
        assert '<select name="user" data-picker>' in page and '<option value="bob-laptop"' in page
        chosen = client.get(path, {"period": "all", "user": "alice"}).content.decode()
        assert '<option value="alice" selected>' in chosen
    figures = overview_page.figures(filters_parse({"period": "all", "user": "alice"}))
    assert figures["period"]["messages"] == 5 and figures["period"]["sessions"] == 2
    assert {s["session_id"] for s in figures["sessions"]} == {"people-alice-laptop", "people-alice-desk"}
    figures = projects_page.figures(filters_parse({"period": "all", "machine": "bob-laptop"}))
    assert [(p["messages"], p["sessions"]) for p in figures["projects"]] == [(1, 1)]


def test_dashboard_overview_offers_no_user_choice_on_a_one_person_install(client):
    assert 'name="user"' not in client.get("/").content.decode()


def test_live_pages_of_a_user_or_machine_move_only_with_their_changes(team, redis):
    changes.derived_publish(
        client=redis, run=CatchUpRun(changed={("claude_code", "people-bob"), ("claude_code", "people-local")})
    )
    ((_, fields),) = redis.xrange(DERIVED_STREAM)
    change = derived_entry_decode(fields)
    assert change["people"] == [["", ""], ["bob", "bob-laptop"]]
    alice = metrics_request_parse({"page": "overview", "user": "alice"})
    assert not feed.change_concerns(alice, change)
    assert feed.change_concerns(metrics_request_parse({"page": "projects", "machine": "bob-laptop"}), change)
    assert not feed.change_concerns(
        metrics_request_parse({"page": "projects", "user": "bob", "machine": "alice-desk"}), change
    )
    assert feed.change_concerns(metrics_request_parse({"page": "overview"}), change)
    unknown = {k: v for k, v in change.items() if k != "people"}  # a record from before: anyone's
    assert feed.change_concerns(alice, unknown)
    assert "people" not in derived_changes_merge([change, unknown])
    assert derived_changes_merge([change, change])["people"] == change["people"]
