"""`report blocks`: the 5-hour usage windows, their burn rate and the active one's projection.

Options as ccusage 20's `blocks` has them (--since/--until as YYYYMMDD or YYYY-MM-DD, --timezone/-z,
--order, --active, --recent, --token-limit, --session-length, --json), plus --project. With a SQLite
store it reads with the standard library alone (no Django start-up); a PostgreSQL store is read through
the ORM. The blocks themselves: telemetry/selectors/blocks.py.
"""

import argparse
import os

from .options import (
    CommandError,
    ccusage_day,
    local_zone,
    people,
    people_options,
    platform_option,
    zone_checked,
)


def token_limit(text: str) -> int | str:
    if text == "max":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 0 < value < 2**63:
        raise argparse.ArgumentTypeError(f"must be a number of tokens or 'max': {text[:40]!r}")
    return value


def session_hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 24:  # longer would run past the calendar's end for the latest times
        raise argparse.ArgumentTypeError(f"must be a number of hours, above 0 and at most 24: {text[:40]!r}")
    return value


def _report(args: argparse.Namespace) -> dict:
    """The blocks the options ask for, in ccusage's JSON shape: {"blocks": [...]}."""
    from datetime import UTC, datetime

    from telemetry.selectors import blocks, readonly

    tz = zone_checked(args.timezone).key
    if args.since and args.until and args.since > args.until:
        raise CommandError(f"--since {args.since} is after --until {args.until}")
    now = datetime.now(UTC)
    url = os.environ.get("BLUEPLANE_DATABASE_URL")
    if url is not None and not url.startswith("sqlite:"):
        entries = _entries_django(args.project, args.platform, **people(args))  # PostgreSQL: the ORM
    else:
        try:
            db = readonly.connect(table="turns")
        except readonly.StoreUnavailable as exc:
            raise CommandError(str(exc)) from None
        try:
            if args.project is not None and not readonly.project_known(db, args.project):
                raise CommandError(f"no project named {args.project[:80]!r}", exit_code=2)
            entries = blocks.entries_sqlite(db, project=args.project, platform=args.platform, **people(args))
        finally:
            db.close()
    return blocks.blocks_report(
        entries,
        now=now,
        tz=tz,
        since=args.since,
        until=args.until,
        active=args.active,
        recent=args.recent,
        descending=args.order == "desc",
        token_limit=args.token_limit,
        hours=args.session_length,
    )


def _entries_django(project: str | None, platform: str | None, **people: str | None) -> list:
    from .options import database_require

    database_require()
    from django.db.models import Q

    from telemetry.selectors import blocks
    from telemetry.selectors.derived import project_list

    if project is not None and not project_list().filter(Q(name=project) | Q(key=project)).exists():
        raise CommandError(f"no project named {project[:80]!r}", exit_code=2)
    return blocks.entries_orm(project=project, platform=platform, **people)


def cmd_blocks(args: argparse.Namespace) -> int:
    report = _report(args)
    if args.json:
        from .output import json_print

        json_print(report)
        return 0
    _table(report["blocks"], args)
    return 0


def _table(shown: list[dict], args: argparse.Namespace) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from .output import table

    zone = ZoneInfo(args.timezone)

    def local(text: str) -> str:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(zone)
        return moment.strftime("%Y-%m-%d %H:%M")

    print(f"Usage in {args.session_length:g}-hour blocks ({zone.key})")
    if not shown:
        print("no usage recorded in these blocks")
        return
    rows = []
    for b in shown:
        burn, projection = b["burnRate"], b["projection"]
        if b["isGap"]:
            state = f"gap until {local(b['endTime'])}"
        elif b["isActive"]:
            state = f"ACTIVE, {projection['remainingMinutes']} min left" if projection else "ACTIVE"
        else:
            state = f"last {local(b['actualEndTime'])[11:]}"
        rows.append(
            {
                "start": local(b["startTime"]),
                "state": state,
                "models": ", ".join(b["models"]),
                "tokens": b["totalTokens"],
                "cost": b["costUSD"],
                "rate": burn["costPerHour"] if burn else None,
                "projected": projection["totalCost"] if projection else None,
                "limit": f"{b['tokenLimitStatus']['percentUsed']:.1f}% {b['tokenLimitStatus']['status']}"
                if "tokenLimitStatus" in b
                else None,
            }
        )
    columns = [("start", "block start", "text"), ("state", "status", "text"), ("models", "models", "text"),
               ("tokens", "tokens", "int"), ("cost", "cost USD", "usd"), ("rate", "USD/hour", "usd"),
               ("projected", "projected USD", "usd")]  # fmt: skip
    if args.token_limit is not None:
        columns.append(("limit", "of token limit", "text"))
    used = [b for b in shown if not b["isGap"]]
    total = {"start": "total", "state": "", "models": "", "tokens": sum(b["totalTokens"] for b in used),
             "cost": sum(b["costUSD"] for b in used)}  # fmt: skip
    table(rows, columns, total=total)


def register(sub: argparse._SubParsersAction) -> None:
    help = "usage in 5-hour blocks, with the active block's burn rate and projection (ccusage's blocks)"
    p = sub.add_parser("blocks", help=help, description=help)
    p.add_argument("-s", "--since", type=ccusage_day, help="first day of a block's start, YYYYMMDD")
    p.add_argument("-u", "--until", type=ccusage_day, help="last day of a block's start, YYYYMMDD")
    p.add_argument(
        "-z", "--timezone", default=local_zone(), help="IANA time zone of the days (default: this machine's)"
    )
    p.add_argument("--project", metavar="NAME", help="only this project's usage (its name or key)")
    platform_option(p, help="only this platform's usage (Claude Code's 5-hour windows: claude-code)")
    people_options(p)
    p.add_argument("-o", "--order", choices=("asc", "desc"), default="asc", help="by start (default: asc)")
    p.add_argument("-a", "--active", action="store_true", help="only the active block, with its projection")
    p.add_argument("-r", "--recent", action="store_true", help="blocks of the last 3 days and the active one")
    p.add_argument("-t", "--token-limit", type=token_limit, metavar="N|max",
                   help="token limit for the active block's projection (max: the most a past block used)")  # fmt: skip
    p.add_argument("-n", "--session-length", type=session_hours, default=5.0, metavar="HOURS",
                   help="block length in hours (default: 5)")  # fmt: skip
    p.add_argument("-j", "--json", action="store_true", help="print ccusage's JSON instead of a table")
    p.set_defaults(handler=cmd_blocks)
