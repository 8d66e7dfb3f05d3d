"""`python manage.py rebuild [--session ID]`: derive everything again from the raw traces (and archive)."""

from django.core.management.base import BaseCommand, CommandError

from blueplane.redis_server import RedisStartError, redis_url_ensure
from telemetry.models import RAW_TRACE_MODELS
from telemetry.processing import rebuild
from telemetry.selectors import system


class Command(BaseCommand):
    help = (
        "Recompute derived rows (sessions, turns, tool calls, code changes, rollups) and the live metrics "
        "from the raw traces, exactly as the live path would."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--session", help="rebuild only this session id (default: everything)")
        parser.add_argument("--platform", choices=sorted(RAW_TRACE_MODELS), help="the session's platform")

    def handle(self, *args, session: str | None, platform: str | None, **options) -> None:
        if not system.database_ready():
            raise CommandError("the database is not set up: run `blueplane up` or `python manage.py migrate`")
        try:
            redis_url_ensure()  # the live metrics are rewritten at the end
        except RedisStartError as exc:
            raise CommandError(str(exc)) from None
        if session:
            result = rebuild.derived_rebuild_session(session_id=session, platform=platform)
            if not result.sessions:
                raise CommandError(f"no session {session!r} in the raw traces or the archive")
        else:
            result = rebuild.derived_rebuild_all()
        self.stdout.write(
            f"rebuilt {result.sessions} sessions from {result.events} events "
            f"({result.archived_events} read back from the archive)"
        )
