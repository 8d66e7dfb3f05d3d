"""Time spans over the hourly rollups, shared by the usage, tools and activity selectors.

Rollups are per UTC hour; a day in any time zone is a sum of hours (docs/metrics.md, hour_local_day).
Standard library only (Django's QuerySet is only named in annotations): the light read path of `blueplane
report` (ccusage_readonly.py) counts days and periods with the same functions as the ORM's selectors.
"""

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from django.db.models import QuerySet

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def rollup_filter(
    qs: "QuerySet",
    *,
    platform: str | None,
    project_key: str | None,
    user: str | None = None,
    machine: str | None = None,
) -> "QuerySet":
    """Rollup rows (or any rows with these columns) of one platform, project, user and machine; None is
    any. A user or machine of "" is this install's own capture (docs/team.md), so it filters too."""
    if platform:
        qs = qs.filter(platform=platform)
    if project_key:
        qs = qs.filter(project__key=project_key)
    return people_filter(qs, user=user, machine=machine)


def people_filter(qs: "QuerySet", *, user: str | None, machine: str | None, prefix: str = "") -> "QuerySet":
    """Rows of this user and machine (None: any); `prefix` reaches the columns through a relation
    ("session__" for a session's rows)."""
    if user is not None:
        qs = qs.filter(**{f"{prefix}user": user})
    if machine is not None:
        qs = qs.filter(**{f"{prefix}machine": machine})
    return qs


def hour_local_day(*, hour: datetime, tz: ZoneInfo) -> date:
    """The local day a UTC hour counts toward: the day holding the hour's middle (hour + 30 min). Exact
    for zones on whole hours; for :30 and :45 zones an hour straddling midnight goes whole to the day
    holding most of it (for :30, the later day). See docs/metrics.md."""
    return (hour + timedelta(minutes=30)).astimezone(tz).date()


# The calendar's ends, as UTC moments: spans are held to them instead of overflowing (a user may ask for
# --since 0001-01-01 or --until 9999-12-31).
FIRST = datetime.min.replace(tzinfo=UTC)
LAST = datetime.max.replace(tzinfo=UTC)


def shifted(moment: datetime, delta: timedelta) -> datetime:
    """moment + delta in UTC, held to the calendar's ends."""
    try:
        return moment.astimezone(UTC) + delta
    except OverflowError:
        return FIRST if moment.year < 5000 else LAST


def day_start(day: date, tz: ZoneInfo, *, days_later: int = 0) -> datetime:
    """The first instant (UTC) of the local day `days_later` days after `day` in tz, held to the
    calendar's ends."""
    try:
        return datetime.combine(day + timedelta(days=days_later), time.min, tz).astimezone(UTC)
    except OverflowError:
        return FIRST if day.year < 5000 else LAST


class LocalDays(NamedTuple):
    """The local days since..until (inclusive) in IANA zone tz, as a report (CLI, API, MCP) covers them.
    (A NamedTuple, not a dataclass: dataclasses costs `blueplane report` ~10 ms of imports.)"""

    since: date
    until: date
    tz: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:  # ZoneInfo caches its zones: no need to keep it here
        return ZoneInfo(self.tz)

    @property
    def start(self) -> datetime:
        """The first instant of the first day (UTC; the calendar's first moment at most)."""
        return day_start(self.since, self.zone)

    @property
    def end(self) -> datetime:
        """The first instant after the last day (UTC; the calendar's last moment at most)."""
        return day_start(self.until, self.zone, days_later=1)

    def __str__(self) -> str:
        return f"{self.since} .. {self.until} ({self.tz})"


def zone_named(name: str) -> ZoneInfo | None:
    """The IANA time zone of that name, or None if there is none (the caller says so its own way)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone_unknown(name: str) -> str:
    """The one message for a time zone name that names none (CLI, API, admin)."""
    return f"unknown time zone {name[:80]!r} (use an IANA name such as Europe/Berlin)"


def moment_parse(value: str, zone: ZoneInfo, *, end: bool) -> datetime:
    """The UTC instant an ISO date or date-time names in `zone`: a date's start, or with `end` the start
    of the day after it (so an `until` date includes its day). Held to the calendar's ends. ValueError if
    it is neither."""
    value = value.upper()  # RFC 3339 allows a lower-case t and z
    try:
        day = date.fromisoformat(value)
    except ValueError:
        moment = datetime.fromisoformat(value)
        return shifted(moment if moment.tzinfo else moment.replace(tzinfo=zone), timedelta())
    return day_start(day, zone, days_later=1 if end else 0)


def days_back(until: date, days: int) -> date:
    """The first of `days` days ending with `until`, held to the calendar's first day."""
    try:
        return until - timedelta(days=days - 1)
    except OverflowError:
        return date.min


def days_hours(start: date, end: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC bounds (a little wide) of the hours whose local day is in [start, end]."""
    hour = timedelta(hours=1)
    return shifted(day_start(start, tz), -hour), shifted(day_start(end, tz, days_later=1), hour)


def hour_span(start: datetime, end: datetime) -> dict:
    """Rollup filter for the UTC hours overlapping [start, end): spans are whole hours."""
    # The hour holding start, as processing.rollups.hour_floor buckets it (shifted gives UTC).
    first = shifted(start, timedelta()).replace(minute=0, second=0, microsecond=0)
    return {"hour__gte": first, "hour__lt": end}


def period_start(day: date, *, period: str, week_starts: int = 0) -> date:
    """The first day of the day, week or month holding `day`; weeks start on weekday `week_starts`
    (0 Monday .. 6 Sunday). Held to the calendar's first day (0001-01-01 is a Monday, so a week
    starting on Sunday would begin the day before the calendar)."""
    if period == "month":
        return day.replace(day=1)
    if period == "week":
        back = (day.weekday() - week_starts) % 7
        return day - timedelta(days=back) if day.toordinal() > back else date.min
    return day


def period_name(first_day: date, period: str) -> str:
    """How a period is named in reports: YYYY-MM for a month, its first day YYYY-MM-DD otherwise."""
    return first_day.strftime("%Y-%m") if period == "month" else first_day.isoformat()


def rate(part: int, whole: int) -> float | None:
    """part / whole; None when there is no denominator."""
    return part / whole if whole else None
