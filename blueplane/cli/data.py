"""Data set aside: `dlq list|show|replay|purge`, the entries the fast path dead-lettered.

A dead letter keeps its whole event (up to the size limit), its reason and its delivery history, so it
can be replayed after a fix: replay queues the event again and deletes the dead letter in one step; the
store keeps each event id once, so replaying twice stores nothing twice. An entry still bad comes back
with its new reason.
"""

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

from .options import CommandError, django_setup, positive, rows_wanted
from .output import json_print, table

_REDIS_DOWN = "Redis is not answering: start Blueplane with `blueplane up`"


@contextlib.contextmanager
def _redis() -> Iterator[object]:
    """The Redis client, with a Redis that is down (or goes down) as one line."""
    django_setup()
    import redis

    from telemetry.connections import redis_client
    from telemetry.selectors.system import redis_ok

    if not redis_ok():
        raise CommandError(_REDIS_DOWN)
    try:
        yield redis_client()
    except (redis.ConnectionError, redis.TimeoutError):
        raise CommandError(_REDIS_DOWN) from None


def _age(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "-"
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def cmd_list(args: argparse.Namespace) -> int:
    with _redis():
        from telemetry.selectors.deadletters import dead_letter_count, dead_letter_list

        rows = dead_letter_list(limit=rows_wanted(args.limit))
        total = dead_letter_count()
    if args.json:
        json_print(rows)
        return 0
    if not rows:
        print("no dead letters")
        return 0
    print(f"{total} dead letters" + (f", the newest {len(rows)}:" if total > len(rows) else ":"))
    now = datetime.now(UTC)
    shown = [
        {
            **r,
            "age": _age(r["failed_at"], now),
            "size": f"{r['event_bytes']:,} B" + (" (cut)" if r["cut"] else ""),
            "reason": r["reason"] if len(r["reason"]) <= 90 else r["reason"][:89] + "…",
        }
        for r in rows
    ]
    table(shown, [("id", "id", "text"), ("age", "failed", "text"), ("size", "size", "text"),
                  ("deliveries", "deliveries", "int"), ("reason", "reason", "text")])  # fmt: skip
    print("`blueplane dlq show ID` shows one; `blueplane dlq replay ID...` queues them again after a fix")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with _redis():
        from telemetry.selectors.deadletters import dead_letter_get

        try:
            dead = dead_letter_get(dead_letter_id=args.id)
        except ValueError as exc:
            raise CommandError(str(exc), exit_code=2) from None
    if dead is None:
        raise CommandError(f"no dead letter {args.id}", exit_code=2)
    if args.json:
        json_print(dead)
        return 0
    now = datetime.now(UTC)
    failed = dead["failed_at"].isoformat() if dead["failed_at"] else "-"
    print(f"dead letter {dead['id']}, failed {failed} ({_age(dead['failed_at'], now)}) in {dead['consumer']}")
    print(f"reason      {dead['reason']}")
    delivered = f", last {dead['last_delivered_at'].isoformat()}" if dead["last_delivered_at"] else ""
    times = "?" if dead["deliveries"] is None else dead["deliveries"]
    print(f"entry       {dead['stream_id']} in telemetry:events, delivered {times} times{delivered}")
    if dead["replays"]:
        print(f"replayed    {dead['replays']} times before, last from dead letter {dead['replay_of']}")
    size = f"{dead['event_bytes']:,} bytes"
    if dead["cut"]:
        size += f", cut: the first bytes are kept, and its sha256 {dead['event_sha256']}"
    print(f"event       {size}")
    if dead["event_is_json"]:
        print(json.dumps(dead["event"], indent=2, ensure_ascii=False))
    else:
        print(dead["event"])
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    if bool(args.ids) == args.all:
        raise CommandError("name the dead letters to replay, or --all", exit_code=2)
    with _redis() as client:
        from telemetry.ingest.deadletters import ReplayError, dead_letter_ids, dead_letter_replay

        ids = dead_letter_ids(client) if args.all else args.ids
        replayed, failed = 0, []
        for dead_letter_id in ids:
            try:
                done = dead_letter_replay(client, dead_letter_id=dead_letter_id)
            except ReplayError as exc:
                failed.append(str(exc))
                continue
            replayed += 1
            print(f"replayed {done.dead_letter_id} as {done.stream_id}")
    print(f"{replayed} replayed: the fast path stores them again (a replay that is still bad comes back)")
    for problem in failed:
        print(f"blueplane: {problem}", file=sys.stderr)
    return 2 if failed and not args.all else (1 if failed else 0)


def cmd_purge(args: argparse.Namespace) -> int:
    if bool(args.ids) == args.all:
        raise CommandError("name the dead letters to purge, or --all", exit_code=2)
    with _redis() as client:
        from telemetry.ingest.deadletters import ReplayError, dead_letters_purge
        from telemetry.selectors.deadletters import dead_letter_count

        what = f"all {dead_letter_count()} dead letters" if args.all else f"{len(args.ids)} dead letter(s)"
        if not args.yes:
            try:
                answer = input(f"Delete {what} for good? [y/N] ")
            except EOFError:
                print()
                answer = ""
            if answer.strip().lower() not in {"y", "yes"}:
                raise CommandError("nothing deleted (--yes skips the question)")
        try:
            deleted = dead_letters_purge(client, ids=None if args.all else args.ids)
        except ReplayError as exc:
            raise CommandError(str(exc), exit_code=2) from None
    print(f"deleted {deleted} dead letters")
    if not args.all and deleted < len(args.ids):
        print(f"blueplane: {len(args.ids) - deleted} of the ids named no dead letter", file=sys.stderr)
        return 2
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    help = "dead letters: entries the fast path could not store, to inspect, replay after a fix, or purge"
    dlq = sub.add_parser("dlq", help=help, description=help)
    commands = dlq.add_subparsers(dest="dlq_command", required=True, metavar="COMMAND")
    p = commands.add_parser("list", help="the newest dead letters, with reason, size and age")
    p.add_argument("--limit", type=positive, default=50, help="how many to list (default: 50)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=cmd_list)
    p = commands.add_parser("show", help="one dead letter: its history and its event, pretty-printed")
    p.add_argument("id", help="the dead letter's id (from `blueplane dlq list`)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_show)
    p = commands.add_parser("replay", help="queue dead letters again (after a fix) and delete them")
    p.add_argument("ids", nargs="*", metavar="ID", help="dead letters to replay")
    p.add_argument("--all", action="store_true", help="replay every dead letter")
    p.set_defaults(handler=cmd_replay)
    p = commands.add_parser("purge", help="delete dead letters for good")
    p.add_argument("ids", nargs="*", metavar="ID", help="dead letters to delete")
    p.add_argument("--all", action="store_true", help="delete every dead letter")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=cmd_purge)
