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
from api.dashboard.pages import sessions as sessions_page
from api.mcp import tools
from blueplane import cli
from telemetry.models import ActivityHour, ToolHour, UsageHour
from telemetry.selectors import sessions, usage
from tests.api.resources_support import error, ok
from tests.factories import people_rows

pytestmark = pytest.mark.django_db

SPAN = {"since": "2026-11-01", "until": "2026-11-30", "tz": "UTC"}
CLI_SPAN = ["--since", "2026-11-01", "--until", "2026-11-30", "--tz", "UTC"]
BY_USER = {"alice": 5, "bob": 1, "": 4}  # responses
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
