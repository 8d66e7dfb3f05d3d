"""API tokens: `token create NAME` (printed once), `token list`, `token revoke NAME`.

Clients off this machine need one to use the API, /healthz and /metrics (api/v1/access.py); loopback
clients need none by default. Only a hash of each token is stored, so a lost token cannot be shown
again: revoke it and create another.
"""

import argparse

from .options import CommandError, database_require, django_setup
from .output import json_print, table


def _migrated() -> None:
    """The database, migrated if it is not yet: a token is often the first thing made on a server, before
    `blueplane up` (which refuses to listen off loopback without one)."""
    django_setup()
    from django.core.management import call_command

    from telemetry.selectors.system import database_ready

    if not database_ready():
        call_command("migrate", interactive=False, verbosity=0)


def cmd_create(args: argparse.Namespace) -> int:
    _migrated()
    from api.tokens import TokenError, token_create

    try:
        token = token_create(name=args.name, user=args.user or "", admin=args.admin)
    except TokenError as exc:
        raise CommandError(str(exc), exit_code=2) from None
    if args.json:
        json_print({"name": args.name, "user": args.user or "", "admin": args.admin, "token": token})
        return 0
    print(token)
    whose = (
        f"{args.user}'s (sees only {args.user}'s sessions)" if args.user and not args.admin
        else f"a team admin's ({args.user or 'the owner'})" if args.admin
        else "the owner's (sees everything)"
    )  # fmt: skip
    print(
        f"Token {args.name!r} created, {whose}. It is shown only this once: clients send it as "
        "`Authorization: Bearer <token>`.",
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    database_require()
    from api.tokens import token_list

    rows = token_list()
    if args.json:
        json_print(rows)
        return 0
    if not rows:
        print("no API tokens (`blueplane token create NAME` makes one)")
        return 0

    def when(moment: object) -> str | None:
        return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else None

    shown = [
        {
            "name": r["name"],
            "user": r["user"] or "(owner)",
            "admin": "admin" if r["admin"] else "-",
            "created": when(r["created_at"]),
            "last_used": when(r["last_used_at"]) or "never",
            "revoked": when(r["revoked_at"]) or "-",
        }
        for r in rows
    ]
    table(shown, [("name", "name", "text"), ("user", "user", "text"), ("admin", "admin", "text"),
                  ("created", "created", "text"),
                  ("last_used", "last used", "text"), ("revoked", "revoked", "text")])  # fmt: skip
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    database_require()
    from api.tokens import TokenError, token_revoke

    try:
        token_revoke(name=args.name)
    except TokenError as exc:
        raise CommandError(str(exc), exit_code=2) from None
    print(f"Token {args.name!r} revoked: requests with it are refused from now on.")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    help = "API tokens for clients off this machine: create (shown once), list, revoke"
    token = sub.add_parser("token", help=help, description=help)
    commands = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    p = commands.add_parser("create", help="make a token and print it (only this once)")
    p.add_argument("name", help="a name to list and revoke it by, e.g. the client machine's")
    p.add_argument(
        "--user",
        metavar="USER",
        help="whose token it is: its holder sees only USER's sessions (docs/team.md); without it, everything",
    )
    p.add_argument("--admin", action="store_true", help="a team admin's token: sees the whole team")
    p.add_argument("--json", action="store_true", help='print {"name", "user", "admin", "token"}')
    p.set_defaults(handler=cmd_create)
    p = commands.add_parser("list", help="every token: user, admin, created, last used, revoked")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=cmd_list)
    p = commands.add_parser("revoke", help="refuse a token from now on")
    p.add_argument("name", help="the token's name (from `blueplane token list`)")
    p.set_defaults(handler=cmd_revoke)
