"""Operating the system: `up`, `down`, `status`, and `manage` (any Django management command)."""

import argparse
import os

from django.conf import LazySettings

from .options import PROG, django_setup


def cmd_up(args: argparse.Namespace) -> int:
    django_setup()
    from django.conf import settings

    from .. import supervisor

    if not args.detach:
        return supervisor.Supervisor.from_settings().run()
    home = settings.BLUEPLANE_HOME
    pid = supervisor.up_detached(home=home)
    print(f"Blueplane is running in the background (pid {pid}).")
    print(supervisor.banner(port=settings.BLUEPLANE_PORT, home=home))
    print(f"  logs   {supervisor.log_path(home)}")
    print("Stop it with: blueplane down")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    django_setup()
    from django.conf import settings

    from .. import supervisor

    pid = supervisor.down(home=settings.BLUEPLANE_HOME)
    if pid is None:
        print("Blueplane is not running.")
    else:
        print(f"Blueplane stopped (pid {pid}).")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    django_setup()
    from django.conf import settings

    from .. import supervisor

    home = settings.BLUEPLANE_HOME
    print(f"home        {home}")
    pid = supervisor.supervisor_pid(home)
    state = supervisor.state_read(home) if pid else None
    if pid is None:
        print("supervisor  not running (start it with: blueplane up)")
    else:
        print(f"supervisor  running (pid {pid}){'' if state and state.get('ready') else ', starting'}")
        for name, proc in (state or {}).get("processes", {}).items():
            child_pid = proc.get("pid")
            alive = child_pid is not None and supervisor.pid_alive(child_pid, marker=None)
            what = f"pid {child_pid}" if alive else "restarting"
            restarts = f", restarted {proc['restarts']}x" if proc.get("restarts") else ""
            print(f"  {name:<9} {what}{restarts}")
        port = (state or {}).get("port", settings.BLUEPLANE_PORT)
        print(f"  admin     http://127.0.0.1:{port}/admin/")
    _status_redis(settings)
    _status_database()
    return 0


def _status_redis(settings: LazySettings) -> None:
    from telemetry.selectors.system import redis_ok, stream_state

    where = (
        "BLUEPLANE_REDIS_URL" if settings.BLUEPLANE_REDIS_URL else f"embedded, {settings.REDIS_SOCKET_PATH}"
    )
    if not redis_ok():
        print(f"redis       not answering ({where})")
        return
    print(f"redis       up ({where})")
    state = stream_state()
    print(
        f"stream      telemetry:events: {state['events']} entries, {state['pending']} pending; "
        f"telemetry:dlq: {state['dead_letters']} entries"
    )


def _status_database() -> None:
    from django.db import DatabaseError

    from telemetry.models import RAW_TRACE_MODELS
    from telemetry.selectors.traces import trace_list

    try:
        counts = {platform: trace_list(platform=platform).count() for platform in RAW_TRACE_MODELS}
    except DatabaseError:
        print("raw traces  database not migrated yet (blueplane up migrates it)")
        return
    print("raw traces  " + ", ".join(f"{platform} {n}" for platform, n in counts.items()))


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
    up.set_defaults(handler=cmd_up)
    sub.add_parser("down", help="stop what `blueplane up --detach` started").set_defaults(handler=cmd_down)
    sub.add_parser(
        "status", help="show the processes, Redis, the event stream and stored trace counts"
    ).set_defaults(handler=cmd_status)
    manage = sub.add_parser(
        "manage", help="run a Django management command, e.g. `blueplane manage createsuperuser`"
    )
    manage.add_argument(
        "rest", nargs=argparse.REMAINDER, metavar="ARGS", help="the command and its arguments"
    )
    manage.set_defaults(handler=cmd_manage)
