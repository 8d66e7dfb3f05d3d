"""What the command groups share: Django set-up, the report options (--since/--until/--days/--tz/--json,
--limit) defined once, and the error a command raises for a one-line message."""

import argparse
import contextlib
import os
import re
from datetime import date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

PROG = "blueplane"
NOT_SET_UP = "no data yet: the database is not set up; `blueplane up` sets it up and starts capturing"


class VersionAction(argparse.Action):
    """--version, looking the version up only when asked."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit", **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        print(f"{PROG} {version()}")
        parser.exit()


class CommandError(ValueError):
    """What the user asked cannot be done as asked (an unknown time zone, a reversed range, no database
    yet): the message is printed as one line and the command exits with exit_code (2 for an argument
    that names something that is not there, as argparse does)."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def version() -> str:
    from importlib import metadata  # ~20 ms: only when asked

    try:
        return metadata.version("blueplane")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def django_setup() -> None:
    """Load settings (raising ImproperlyConfigured on a bad variable) and the apps."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blueplane.settings")
    import django

    django.setup()


def database_require() -> None:
    """Set Django up and make sure the database is migrated, else a one-line CommandError."""
    django_setup()
    from telemetry.selectors.system import database_ready

    if not database_ready():
        raise CommandError(NOT_SET_UP)


def local_zone() -> str:
    """The machine's IANA time zone (TZ, else /etc/localtime's target), else UTC."""
    if zone := os.environ.get("TZ", "").lstrip(":"):
        return zone
    with contextlib.suppress(OSError):
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            return target.split("zoneinfo/", 1)[1]
    return "UTC"


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1: {text!r}")
    return value


# More rows than any list holds: a larger --limit (even past 64 bits, which neither a database nor Redis
# takes as a count) means "all of them", as `logs -n` does.
ROWS_ALL = 10**9


def rows_wanted(limit: int) -> int:
    """A --limit as a count the database and Redis accept."""
    return min(limit, ROWS_ALL)


# The platforms' names as stored (telemetry.selectors.usage.PLATFORMS, which needs Django to import).
PLATFORMS = ("claude_code", "cursor")


def platform_name(text: str) -> str:
    """A --platform as stored: claude-code (or claude_code) is claude_code; cursor is cursor."""
    name = text.strip().lower().replace("-", "_")
    if name not in PLATFORMS:
        raise argparse.ArgumentTypeError(f"unknown platform {text[:40]!r}; choose claude-code or cursor")
    return name


def platform_option(parser: argparse.ArgumentParser, help: str = "only this platform") -> None:
    """--platform claude-code|cursor, as every report and list takes it."""
    parser.add_argument("--platform", type=platform_name, metavar="claude-code|cursor", help=help)


def people_options(parser: argparse.ArgumentParser) -> None:
    """--user and --machine (docs/team.md), as every report and list on a team server takes them."""
    parser.add_argument("--user", help="only this user's sessions and usage (exact)")
    parser.add_argument("--machine", help="only this machine's sessions and usage (exact)")


def people(args: argparse.Namespace) -> dict:
    """The --user and --machine filters as selectors take them (None: any)."""
    return {"user": getattr(args, "user", None), "machine": getattr(args, "machine", None)}


_CCUSAGE_DAY = re.compile(r"\d{4}-?\d{2}-?\d{2}")


def ccusage_day(text: str) -> date:
    """A day as ccusage takes it: YYYYMMDD, or YYYY-MM-DD."""
    try:
        if _CCUSAGE_DAY.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"not a date (YYYYMMDD or YYYY-MM-DD): {text[:40]!r}")


def zone_checked(name: str) -> "ZoneInfo":
    """The IANA time zone of that name, else a one-line CommandError (exit 2, as for any bad argument):
    every command's --tz/--timezone goes through here."""
    from telemetry.selectors.spans import zone_named, zone_unknown

    zone = zone_named(name)
    if zone is None:
        raise CommandError(zone_unknown(name), exit_code=2)
    return zone


def day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def span_options(parser: argparse.ArgumentParser) -> None:
    """--since, --until, --days, --tz and --json, as every report takes them."""
    parser.add_argument("--since", type=day, help="first day, YYYY-MM-DD (default: --days before --until)")
    parser.add_argument("--until", type=day, help="last day, YYYY-MM-DD (default: today)")
    parser.add_argument("--days", type=positive, default=30, help="days to cover when --since is not given")
    parser.add_argument(
        "--tz", default=local_zone(), help="IANA time zone of the days (default: this machine's)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


class Span:
    """The local days a report covers, resolved from the span options (see spans.LocalDays)."""

    def __init__(self, args: argparse.Namespace) -> None:
        from telemetry.selectors.spans import LocalDays, days_back

        self.zone = zone_checked(args.tz)
        self.tz = args.tz
        self.until = args.until or datetime.now(self.zone).date()
        self.since = args.since or days_back(self.until, args.days)
        if self.since > self.until:
            raise CommandError(f"--since {self.since} is after --until {self.until}")
        self.days = LocalDays(self.since, self.until, self.tz)

    @property
    def start(self) -> datetime:
        return self.days.start

    @property
    def end(self) -> datetime:
        return self.days.end

    def __str__(self) -> str:
        return str(self.days)
