"""`blueplane connect URL --token T` and `blueplane disconnect`: forward this machine's events to a team
server (docs/team.md). The work is telemetry/forward/connect.py's; these print what it did."""

import argparse
import os
import sys

from .options import CommandError, django_setup

LEVELS = ("counts", "metadata", "content")


def cmd_connect(args: argparse.Namespace) -> int:
    django_setup()
    from django.conf import settings

    from telemetry.forward.client import ForwardError
    from telemetry.forward.connect import connect

    token = args.token if args.token is not None else os.environ.get("BLUEPLANE_TEAM_TOKEN", "")
    if not token:
        raise CommandError("give the token: --token TOKEN (or BLUEPLANE_TEAM_TOKEN)", exit_code=2)
    try:
        team = connect(settings.BLUEPLANE_HOME, args.url, token=token, level=args.level, ca_file=args.ca_file)
    except ForwardError as exc:
        raise CommandError(str(exc)) from None
    who = f"as {team.user}" if team.user else "with a token of no user"
    print(
        f"Connected to {team.server or team.url} ({team.url}) {who}, machine {team.machine_id}, level {team.level}."
    )
    print("This machine now hashes with the team salt (its own is kept as salt.local).")
    print(_forwarder_note(settings.BLUEPLANE_HOME))
    return 0


def _forwarder_note(home) -> str:
    from .. import runstate

    state = runstate.state_read(home) or {}
    if runstate.supervisor_pid(home) is None:
        return "`blueplane up` forwards the events stored here, and new ones as they come."
    if "forward" in state.get("processes", {}):
        return "The running forwarder picks the connection up now."
    return "Restart Blueplane (blueplane down; blueplane up) to start forwarding."


def cmd_disconnect(args: argparse.Namespace) -> int:
    django_setup()
    from django.conf import settings

    from telemetry.forward.connect import disconnect

    team = disconnect(settings.BLUEPLANE_HOME)
    if team is None:
        print("Not connected to a team server.", file=sys.stderr)
        return 0
    print(f"Disconnected from {team.url}: nothing more is forwarded.")
    print("The team salt stays this machine's salt, so new hashes match those already stored "
          "(its own salt is kept as salt.local).")  # fmt: skip
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    help = "forward this machine's events to a team server (docs/team.md)"
    p = sub.add_parser("connect", help=help, description=help)
    p.add_argument("url", help="the team server, e.g. https://blueplane.example.com")
    p.add_argument("--token", help="an API token of yours on that server (or BLUEPLANE_TEAM_TOKEN)")
    p.add_argument("--level", choices=LEVELS, default="metadata",
                   help="what leaves this machine: counts, metadata (default) or content")  # fmt: skip
    p.add_argument("--ca-file", metavar="PEM", help="trust this CA for the server's TLS certificate")
    p.set_defaults(handler=cmd_connect)
    p = sub.add_parser("disconnect", help="stop forwarding to the team server")
    p.set_defaults(handler=cmd_disconnect)
