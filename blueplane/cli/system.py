"""Operating the system: `up`, `down`, `status` (status.py), and `manage` (any Django management command)."""

import argparse
import os

from . import status
from .options import PROG, CommandError, django_setup


def cmd_up(args: argparse.Namespace) -> int:
    from ..supervisor import roles_check  # stdlib and Django's settings object only: no set-up yet

    try:
        roles = roles_check(args.role)
    except ValueError as exc:
        raise CommandError(str(exc), exit_code=2) from None
    django_setup()
    from django.conf import settings

    from api.v1.access import bind_refusal

    from .. import control, runstate, supervisor

    # Here as well as in runweb: said once, before anything starts, instead of by a web server that
    # the supervisor would restart again and again.
    if "web" in roles and (refusal := bind_refusal(settings.BLUEPLANE_BIND)):
        raise CommandError(refusal)

    if not args.detach:
        return supervisor.Supervisor.from_settings(roles=roles).run()
    home = settings.BLUEPLANE_HOME
    pid = control.up_detached(home=home, roles=args.role or [])
    print(f"Blueplane is running in the background (pid {pid}): {', '.join(roles)}.")
    if "web" in roles:
        print(supervisor.banner(port=settings.BLUEPLANE_PORT, home=home, bind=settings.BLUEPLANE_BIND))
    if "otlp" in roles:
        print(supervisor.otlp_banner())
    print(f"  {'logs':<10}{runstate.log_path(home)}")  # aligned with the banner's names
    print("Stop it with: blueplane down")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    django_setup()
    from django.conf import settings

    from .. import control

    pid = control.down(home=settings.BLUEPLANE_HOME)
    if pid is None:
        print("Blueplane is not running.")
    else:
        print(f"Blueplane stopped (pid {pid}).")
    return 0


def cmd_manage(args: argparse.Namespace) -> int:
    """`blueplane manage <command> ...` is `python manage.py <command> ...`."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blueplane.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line([f"{PROG} manage", *args.rest])
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    up = sub.add_parser(
        "up", help="start Redis, migrations, the fast path, workers and the web server (Ctrl-C stops)"
    )
    up.add_argument("--detach", action="store_true", help="run in the background; `blueplane down` stops it")
    up.add_argument(
        "--role",
        action="append",
        metavar="ROLE",
        help="run only this role's process (repeatable): web, fastpath, worker, beat, otlp, capture; "
        "default: all of them. Only a set with web migrates the database; the others wait for it",
    )
    up.set_defaults(handler=cmd_up)
    sub.add_parser("down", help="stop what `blueplane up --detach` started").set_defaults(handler=cmd_down)
    status.register(sub)
    manage = sub.add_parser(
        "manage", help="run a Django management command, e.g. `blueplane manage createsuperuser`"
    )
    manage.add_argument(
        "rest", nargs=argparse.REMAINDER, metavar="ARGS", help="the command and its arguments"
    )
    manage.set_defaults(handler=cmd_manage)
