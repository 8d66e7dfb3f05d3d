"""The two read paths of ccusage's reports agree: the ORM's (ccusage.py: the API, PostgreSQL stores) and
the standard library's sqlite3 (ccusage_readonly.py: `blueplane report` on a SQLite store), on the real
corpus, whatever the time zone (a :30 and a :45 one among them), platform, project filter, week start
and order."""

from datetime import date

import pytest
from django.db import connection

from telemetry.models import Project
from telemetry.selectors import ccusage, ccusage_readonly, readonly
from telemetry.selectors.spans import LocalDays

pytestmark = pytest.mark.django_db

ZONES = ["UTC", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Chatham", "Pacific/Kiritimati", "Etc/GMT+12"]


@pytest.fixture
def db(corpus):
    connection.ensure_connection()
    return connection.connection  # the test database's own sqlite3 connection


def _filters() -> list[dict]:
    project = Project.objects.filter(sessions__isnull=False).order_by("name").first()
    return [{}, {"platform": "claude_code"}, {"platform": "cursor"}, {"project": project.key},
            {"project": project.name}, {"project": "no-such-project"}]  # fmt: skip


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_periods_are_the_same_either_way(db, tz, period):
    for filters in _filters():
        for week_starts in (0, 2, 6) if period == "week" else (6,):
            for order in ("asc", "desc"):
                args = {"start": date(2026, 11, 1), "end": date(2026, 11, 30), "tz": tz, "period": period,
                        "week_starts": week_starts, "order": order, **filters}  # fmt: skip
                assert ccusage_readonly.ccusage_periods(db, **args) == ccusage.ccusage_periods(**args), args


def test_the_calendars_ends_are_the_same_either_way(db):
    for tz in ZONES:
        args = {"start": date.min, "end": date.max, "tz": tz, "period": "week", "week_starts": 6}
        ours = ccusage_readonly.ccusage_periods(db, **args)
        assert ours == ccusage.ccusage_periods(**args)
        assert ours["totals"]["outputTokens"] == 1758


def test_sessions_are_the_same_either_way(db):
    for tz in ZONES:
        days = LocalDays(date(2026, 11, 25), date(2026, 11, 25), tz)
        for filters in _filters():
            for limit in (1, 5, None):
                for order in ("asc", "desc"):
                    args = {"start": days.start, "end": days.end, "limit": limit, "order": order, **filters}
                    assert ccusage_readonly.ccusage_sessions(db, **args) == ccusage.ccusage_sessions(**args)
    whole = ccusage_readonly.ccusage_sessions(db, start=LocalDays(date.min, date.max).start,
                                              end=LocalDays(date.min, date.max).end, limit=None)  # fmt: skip
    assert whole["totals"]["outputTokens"] == 1758 and len(whole["session"]) == 20


def test_projects_are_known_by_key_or_name(db):
    project = Project.objects.filter(sessions__isnull=False).first()
    assert readonly.project_known(db, project.key)
    assert readonly.project_known(db, project.name)
    assert not readonly.project_known(db, "no-such-project")
