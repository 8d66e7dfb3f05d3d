"""`blueplane report daily|weekly|monthly|session` as scripts written for ccusage run it: in another process,
on stores the real pipeline filled, its --json equal to what the real ccusage 20.0.24 writes for the same
transcripts (tests/fixtures/claude-real/ccusage/, and ccusage run here on shifted copies), to the API's
format=ccusage, and every bad input one line and a non-zero exit."""

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.support.ccusage import assert_ccusage_equal
from tests.support.postgres import database, needs_postgres
from tests.support.shifted import corpus_copies
from tests.support.stores import CLAUDE_PROJECTS, ROOT, store_build, store_env

BLUEPLANE = Path(sys.executable).parent / "blueplane"
CCUSAGE_BIN = ROOT / "tests" / "support" / "claude-real" / "node_modules" / ".bin" / "ccusage"
CCUSAGE = ROOT / "tests" / "fixtures" / "claude-real" / "ccusage"
# The fork pair (tests/fixtures/claude-real/README.md): ccusage counts the origin's copied messages for
# the fork, we count them for the origin (telemetry/selectors/ccusage.py says why).
FORK = "1866ec00-1844-42fe-b156-a87aa606088c"
ORIGIN = "2910f535-51be-4d56-b921-f3cc433ece4e"
TOKENS = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens", "totalTokens")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
COPIES = 10  # days 2026-11-25 .. 2026-12-04: two months, three weeks whatever day they start on


def report(home: Path, redis_url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BLUEPLANE), "report", *args], env={**store_env(home, redis_url), **env}, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip


def report_json(home: Path, redis_url: str, *args: str) -> dict:
    result = report(home, redis_url, *args, "--json", "-z", "UTC")
    assert result.returncode == 0 and not result.stderr, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", ["daily", "weekly", "monthly"])
def test_periods_are_ccusages_own_output(corpus_home, redis_server, name):
    assert_ccusage_equal(
        report_json(corpus_home, redis_server, name), json.loads((CCUSAGE / f"{name}.json").read_text())
    )


def test_sessions_are_ccusages_but_for_the_fork(corpus_home, redis_server):
    ours = report_json(corpus_home, redis_server, "session")
    theirs = json.loads((CCUSAGE / "session.json").read_text())
    assert_ccusage_equal(ours["totals"], theirs["totals"], "totals")
    mine = {row["period"]: row for row in ours["session"]}
    reference = {row["period"]: row for row in theirs["session"]}
    assert set(mine) == set(reference) | {ORIGIN}
    for session_id, row in reference.items():
        if session_id != FORK:
            assert_ccusage_equal(mine[session_id], row, session_id)
    for key in TOKENS:
        assert mine[FORK][key] + mine[ORIGIN][key] == reference[FORK][key]
    assert mine[FORK]["totalCost"] + mine[ORIGIN]["totalCost"] == pytest.approx(reference[FORK]["totalCost"])
    costs = [row["totalCost"] for row in ours["session"]]
    assert costs == sorted(costs, reverse=True)
    assert (
        report_json(corpus_home, redis_server, "session", "--order", "asc")["session"]
        == ours["session"][::-1]
    )


# --- Several days: shifted copies of the corpus, for Blueplane's store and for ccusage alike --------


@pytest.fixture(scope="module")
def copies(redis_server, tmp_path_factory) -> tuple[Path, Path]:
    """(a home whose store holds COPIES shifted copies of the corpus, CLAUDE_CONFIG_DIR for ccusage)."""
    claude = tmp_path_factory.mktemp("claude")
    corpus_copies(CLAUDE_PROJECTS, claude / "projects", COPIES)
    return store_build(tmp_path_factory.mktemp("copies-home"), redis_server, claude / "projects"), claude


def ccusage(claude: Path, *args: str) -> dict:
    env = {**os.environ, "TZ": "UTC", "CLAUDE_CONFIG_DIR": str(claude)}
    result = subprocess.run([str(CCUSAGE_BIN), *args, "--json", "--offline"], env=env, capture_output=True,
                            text=True, timeout=120, check=True)  # fmt: skip
    return json.loads(result.stdout)


def test_days_of_shifted_copies_are_ccusages_both_ways_round(copies, redis_server):
    home, claude = copies
    for args in ([], ["--order", "desc"], ["--since", "20261127", "--until", "2026-11-30"]):
        theirs = ccusage(claude, "daily", *args)
        assert len(theirs["daily"]) > 1
        assert_ccusage_equal(report_json(home, redis_server, "daily", *args), theirs, " ".join(args))
    assert_ccusage_equal(report_json(home, redis_server, "monthly"), ccusage(claude, "monthly"))


@pytest.mark.parametrize("weekday", WEEKDAYS)
def test_weeks_are_ccusages_days_summed_by_week(copies, redis_server, weekday):
    home, _ = copies
    daily = report_json(home, redis_server, "daily")["daily"]
    start = WEEKDAYS.index(weekday)
    expected: dict[str, dict] = {}
    for day in daily:
        moment = date.fromisoformat(day["period"])
        first = (moment - timedelta(days=(moment.weekday() - start) % 7)).isoformat()
        week = expected.setdefault(first, dict.fromkeys((*TOKENS, "totalCost"), 0))
        for key in week:
            week[key] += day[key]
    weekly = report_json(home, redis_server, "weekly", "--start-of-week", weekday)["weekly"]
    assert [w["period"] for w in weekly] == sorted(expected)
    assert len(weekly) >= 2
    for row in weekly:
        assert {k: row[k] for k in TOKENS} == {k: expected[row["period"]][k] for k in TOKENS}
        assert row["totalCost"] == pytest.approx(expected[row["period"]]["totalCost"], abs=1e-7)


# --- The same answer as the API's -----------------------------------------------------------------

_API = """
import json, sys
import django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="localhost")
for query in json.loads(sys.argv[1]):
    response = client.get("/api/v1/usage/", {**query, "format": "ccusage", "limit": 10000})
    assert response.status_code == 200, response.content
    print(json.dumps(response.json()))
"""


def api(home: Path, redis_url: str, queries: list[dict]) -> list[dict]:
    result = subprocess.run([sys.executable, "-c", _API, json.dumps(queries)], env=store_env(home, redis_url),
                            cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_json_is_the_apis_for_the_same_question(copies, redis_server):
    home, _ = copies
    asked = [
        (["daily", "-z", "Asia/Kolkata"], {"group": "day", "tz": "Asia/Kolkata"}),
        (["daily", "-z", "Pacific/Chatham", "-o", "desc"], {"group": "day", "tz": "Pacific/Chatham", "order": "desc"}),
        (["weekly", "-z", "America/New_York", "-w", "wednesday"],
         {"group": "week", "tz": "America/New_York", "start_of_week": "wednesday"}),
        (["monthly", "-z", "UTC", "--project", "19-fork-session"], {"group": "month", "project": "19-fork-session"}),
        (["session", "-z", "UTC", "--since", "2026-11-26", "--until", "2026-11-28"],
         {"group": "session", "since": "2026-11-26", "until": "2026-11-28"}),
        (["session", "-z", "UTC", "--project", "19-fork-session", "--order", "asc"],
         {"group": "session", "project": "19-fork-session", "order": "asc"}),
    ]  # fmt: skip
    span = {"since": "0001-01-01", "until": "9999-12-31", "tz": "UTC"}
    answers = api(home, redis_server, [{**span, **query} for _, query in asked])
    for (args, _), answer in zip(asked, answers, strict=True):
        result = report(home, redis_server, *args, "--json")
        assert result.returncode == 0, result.stderr
        ours = json.loads(result.stdout)
        assert ours == answer, args
        assert ours["totals"]["totalTokens"] > 0, args


@needs_postgres
def test_a_postgresql_store_is_read_through_django_with_the_same_answer(redis_server, tmp_path):
    with database(migrated=True) as (url, _):  # store_build's migrate finds nothing to do
        home = store_build(tmp_path, redis_server, database_url=url)
        for name in ("daily", "weekly", "monthly", "session"):
            result = report(home, redis_server, name, "--json", "-z", "UTC", BLUEPLANE_DATABASE_URL=url)
            assert result.returncode == 0, result.stderr
            if name != "session":
                assert_ccusage_equal(
                    json.loads(result.stdout), json.loads((CCUSAGE / f"{name}.json").read_text())
                )
            else:
                assert json.loads(result.stdout)["totals"]["outputTokens"] == 1758
        unknown = report(home, redis_server, "daily", "--project", "nope", BLUEPLANE_DATABASE_URL=url)
        assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1, unknown.stderr


# --- The light read path, the table, bad input --------------------------------------------------------


def test_a_sqlite_store_is_read_without_django_or_celery(corpus_home, redis_server):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "blueplane.cli", "report", "daily", "--json"],
        env=store_env(corpus_home, redis_server), cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "telemetry.selectors.ccusage_readonly" in imported
    heavy = {
        name for name in imported if name.split(".")[0] in ("django", "celery", "rich", "redis", "kombu")
    }
    assert not heavy


def test_tables_have_totals_and_no_escape_codes_off_a_terminal(corpus_home, redis_server):
    for env in ({}, {"NO_COLOR": "1"}):
        result = report(corpus_home, redis_server, "daily", "-b", "-z", "UTC", **env)
        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout
        lines = result.stdout.splitlines()
        assert lines[0] == "Daily usage, everything (UTC)"
        assert any(line.startswith("2026-11-25") and "3.2290" in line and "█" in line for line in lines)
        assert any("└ sonnet-4-5" in line for line in lines)
        assert lines[-1].split()[:3] == ["Total", "414", "1,758"]
    for name in ("weekly", "monthly", "session"):
        result = report(corpus_home, redis_server, name, "--no-color", "--offline", "-z", "UTC")
        assert result.returncode == 0 and "\x1b" not in result.stdout, result.stderr
        assert result.stdout.splitlines()[-1].startswith("Total")
    empty = report(corpus_home, redis_server, "daily", "--since", "20300101")
    assert empty.returncode == 0 and "no usage recorded in this period" in empty.stdout


def test_the_calendars_ends_and_ccusages_flags_are_fine(corpus_home, redis_server):
    args = ["--since", "00010101", "--until", "9999-12-31", "-O", "--mode", "calculate", "--compact"]
    for name in ("daily", "weekly", "monthly", "session"):
        for zone in ("Pacific/Kiritimati", "Etc/GMT+12"):
            result = report(corpus_home, redis_server, name, *args, "-z", zone, "--json")
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout)["totals"]["outputTokens"] == 1758


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["daily", "--since", "2026-13-01"], "not a date"),
        (["daily", "--until", "yesterday"], "not a date"),
        (["daily", "--since", "2026-11-25", "--until", "20261101"], "is after"),
        (["daily", "-z", "Mars/Olympus"], "unknown time zone"),
        (["monthly", "--frobnicate"], "unrecognized arguments"),
        (["session", "--project", "no-such-project"], "no project 'no-such-project'"),
        (["daily", "--order", "sideways"], "invalid choice"),
        (["weekly", "--start-of-week", "someday"], "invalid choice"),
        (["daily", "--since", "9" * 400], "not a date"),
        (["yearly"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(corpus_home, redis_server, args, says):
    result = report(corpus_home, redis_server, *args)
    assert result.returncode != 0 and not result.stdout
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if not line.startswith(("usage:", " "))]
    assert len(errors) == 1 and says in errors[0], result.stderr


def test_before_the_first_up_it_says_so_in_one_line(tmp_path, redis_server):
    result = report(tmp_path, redis_server, "daily", "--json")
    assert result.returncode == 1 and not result.stdout
    assert result.stderr.splitlines() == [
        "blueplane: no data yet: the database is not set up; `blueplane up` sets it up"
    ]
