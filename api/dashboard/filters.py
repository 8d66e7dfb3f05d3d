"""The filters of a dashboard page, as its URL's query holds them (deep links) and as a /ws/metrics
connection sends them: one parser for both, so a page and its live updates always mean the same span.

A bad value is a FilterError whose message names the parameter: a page answers it with a 400, a
WebSocket with a close and the message."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from telemetry.selectors.sessions import SESSION_STATUSES
from telemetry.selectors.spans import LocalDays, days_back, zone_named, zone_unknown

# Period name -> days back from today (inclusive); "all" has no start.
PERIODS = {"today": 1, "7d": 7, "30d": 30, "90d": 90, "all": None}
PERIOD_LABELS = {"today": "Today", "7d": "7 days", "30d": "30 days", "90d": "90 days", "all": "All time"}
DEFAULT_PERIOD = "7d"
TEXT_FILTERS = ("platform", "project", "user", "machine", "branch", "model", "status", "tool")
PLATFORMS = ("claude_code", "cursor")
MAX_TEXT = 200
FIRST_DAY = date(1, 1, 1)


class FilterError(ValueError):
    """A filter value the dashboard cannot use; the message says which and why."""


@dataclass(frozen=True)
class PageFilters:
    tz: str = "UTC"
    period: str = DEFAULT_PERIOD
    since: date | None = None  # both set: a custom span, which overrides period
    until: date | None = None
    platform: str = ""
    project: str = ""
    user: str = ""  # docs/team.md; "" is any (this install's own capture cannot be picked out here)
    machine: str = ""
    branch: str = ""
    model: str = ""
    status: str = ""
    tool: str = ""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def today(self) -> date:
        return datetime.now(self.zone).date()

    def days(self) -> LocalDays:
        """The local days the page covers."""
        if self.since is not None and self.until is not None:
            return LocalDays(self.since, self.until, self.tz)
        today = self.today()
        back = PERIODS[self.period]
        return LocalDays(FIRST_DAY if back is None else days_back(today, back), today, self.tz)

    def today_days(self) -> LocalDays:
        today = self.today()
        return LocalDays(today, today, self.tz)

    def query(self) -> dict[str, str]:
        """The filters as a URL query, without defaults (what a deep link holds)."""
        out = {}
        for name, value in asdict(self).items():
            if value in (None, "") or getattr(PageFilters, name, None) == value:
                continue
            out[name] = value.isoformat() if isinstance(value, date) else str(value)
        return out

    def with_zone(self, tz: str) -> "PageFilters":
        return replace(self, tz=tz)


def _day(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FilterError(f"{name}: {value[:40]!r} is not a day (YYYY-MM-DD)") from None


def filters_parse(params: Mapping[str, str], *, tz_default: str = "UTC") -> PageFilters:
    """PageFilters from a query (unknown parameters are ignored: a page may add its own, e.g. a sort)."""
    tz = params.get("tz") or tz_default
    if len(tz) > 64 or zone_named(tz) is None:
        raise FilterError(f"tz: {zone_unknown(tz[:64])}")
    period = params.get("period") or DEFAULT_PERIOD
    if period not in PERIODS:
        raise FilterError(f"period: {period[:40]!r} is not one of {', '.join(PERIODS)}")
    since = _day("since", params["since"]) if params.get("since") else None
    until = _day("until", params["until"]) if params.get("until") else None
    if (since is None) != (until is None):
        today = datetime.now(ZoneInfo(tz)).date()
        since, until = since or FIRST_DAY, until or today
    if since is not None and until is not None and since > until:
        raise FilterError(f"since {since} is after until {until}")
    text = {}
    for name in TEXT_FILTERS:
        value = params.get(name) or ""
        if len(value) > MAX_TEXT:
            raise FilterError(f"{name}: longer than {MAX_TEXT} characters")
        text[name] = value
    if text["platform"] and text["platform"] not in PLATFORMS:
        raise FilterError(f"platform: {text['platform'][:40]!r} is not one of {', '.join(PLATFORMS)}")
    if text["status"] and text["status"] not in SESSION_STATUSES:
        raise FilterError(f"status: {text['status'][:40]!r} is not one of {', '.join(SESSION_STATUSES)}")
    return PageFilters(tz=tz, period=period, since=since, until=until, **text)
