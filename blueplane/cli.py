"""The `blueplane` command: start and stop the system, show its state, install capture, import history.

Errors the user can fix (a bad environment variable, a Redis that will not start, a second `up`) are
one line on stderr and exit code 1; a bad argument is argparse's usage and one line, exit code 2.
"""

import argparse
import contextlib
import os
import sys
from collections.abc import Callable
from types import ModuleType

from django.conf import LazySettings
from django.core.exceptions import ImproperlyConfigured

from .redis_server import RedisStartError
from .supervisor import SupervisorError

PROG = "blueplane"


def django_setup() -> None:
    """Load settings (raising ImproperlyConfigured on a bad variable) and the apps."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blueplane.settings")
    import django

    django.setup()


# --- start and stop ------------------------------------------------------------------------------


def cmd_up(args: argparse.Namespace) -> int:
    django_setup()
    from django.conf import settings

    from . import supervisor

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

    from . import supervisor

    pid = supervisor.down(home=settings.BLUEPLANE_HOME)
    if pid is None:
        print("Blueplane is not running.")
    else:
        print(f"Blueplane stopped (pid {pid}).")
    return 0


# --- status --------------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    django_setup()
    from django.conf import settings

    from . import supervisor

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
    import redis

    from telemetry.connections import redis_client
    from telemetry.ingest.streams import DLQ_STREAM, EVENTS_STREAM, GROUP
    from telemetry.selectors import redis_ok

    where = (
        "BLUEPLANE_REDIS_URL" if settings.BLUEPLANE_REDIS_URL else f"embedded, {settings.REDIS_SOCKET_PATH}"
    )
    if not redis_ok():
        print(f"redis       not answering ({where})")
        return
    print(f"redis       up ({where})")
    # TODO: move these reads into telemetry.selectors (owned by the ingest side) once it has a stream reader.
    client = redis_client()
    pending = 0
    with contextlib.suppress(redis.ResponseError):  # no stream yet: nothing was ever sent
        pending = next(
            (
                g["pending"]
                for g in client.xinfo_groups(EVENTS_STREAM)
                if g["name"] in (GROUP, GROUP.encode())
            ),
            0,
        )
    print(
        f"stream      {EVENTS_STREAM}: {client.xlen(EVENTS_STREAM)} entries, {pending} pending; "
        f"{DLQ_STREAM}: {client.xlen(DLQ_STREAM)} entries"
    )


def _status_database() -> None:
    from django.db import DatabaseError

    from telemetry.models import RAW_TRACE_MODELS
    from telemetry.selectors import trace_list

    try:
        counts = {platform: trace_list(platform=platform).count() for platform in RAW_TRACE_MODELS}
    except DatabaseError:
        print("raw traces  database not migrated yet (blueplane up migrates it)")
        return
    print("raw traces  " + ", ".join(f"{platform} {n}" for platform, n in counts.items()))


# --- Django passthrough --------------------------------------------------------------------------


def cmd_manage(args: argparse.Namespace) -> int:
    """`blueplane manage <command> ...` is `python manage.py <command> ...`."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blueplane.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line([f"{PROG} manage", *args.rest])
    return 0


# --- capture: install, uninstall, import ---------------------------------------------------------


class CommandUnavailable(RuntimeError):
    """A subcommand whose implementation is not in this checkout yet."""


def _capture_commands() -> ModuleType:
    """telemetry.capture.commands; CommandUnavailable while that module is not written yet."""
    try:
        from telemetry.capture import commands
    except ModuleNotFoundError as exc:
        if exc.name != "telemetry.capture.commands":
            raise
        raise CommandUnavailable(
            "capture commands are not available yet (telemetry.capture.commands)"
        ) from None
    return commands


def cmd_install(args: argparse.Namespace) -> int:
    django_setup()
    return _capture_commands().install(args.target, dry_run=args.dry_run)


def cmd_uninstall(args: argparse.Namespace) -> int:
    django_setup()
    return _capture_commands().uninstall(args.target, dry_run=args.dry_run)


def cmd_import(args: argparse.Namespace) -> int:
    django_setup()
    return _capture_commands().import_history(args.target, args.path)


# --- parsing -------------------------------------------------------------------------------------


def parser_build() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Local, privacy-first telemetry for AI coding assistants."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, handler: Callable[[argparse.Namespace], int], help: str, **kw
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, **kw)
        p.set_defaults(handler=handler)
        return p

    up = add(
        "up", cmd_up, "start Redis, migrations, the fast path, workers and the web server (Ctrl-C stops)"
    )
    up.add_argument("--detach", action="store_true", help="run in the background; `blueplane down` stops it")
    add("down", cmd_down, "stop what `blueplane up --detach` started")
    add("status", cmd_status, "show the processes, Redis, the event stream and stored trace counts")
    manage = add(
        "manage", cmd_manage, "run a Django management command, e.g. `blueplane manage createsuperuser`"
    )
    manage.add_argument(
        "rest", nargs=argparse.REMAINDER, metavar="ARGS", help="the command and its arguments"
    )
    for name, handler, help in (
        ("install", cmd_install, "install the capture hooks of an assistant"),
        ("uninstall", cmd_uninstall, "remove the capture hooks of an assistant"),
    ):
        p = add(name, handler, help)
        p.add_argument("target", metavar="TARGET", help="the assistant, e.g. claude-code")
        p.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
    imp = add("import", cmd_import, "import an assistant's existing history")
    imp.add_argument("target", metavar="TARGET", help="the assistant, e.g. claude-code")
    imp.add_argument(
        "path", metavar="PATH", nargs="?", help="where its history is (default: its usual place)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """The console script. Returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["manage"]:
        # Everything after `manage` belongs to Django, including options argparse would claim (--help).
        args = argparse.Namespace(handler=cmd_manage, rest=argv[1:])
    else:
        args = parser_build().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Our reader went away (`blueplane status | head`): stop quietly, and keep the interpreter's
        # final flush from complaining about the same pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (ImproperlyConfigured, RedisStartError, SupervisorError, CommandUnavailable) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
