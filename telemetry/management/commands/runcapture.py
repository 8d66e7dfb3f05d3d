"""`python manage.py runcapture`: tail Claude Code transcripts, replay the hook spool and read Cursor's
databases into Redis."""

import logging

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from blueplane.redis_server import RedisStartError, redis_url_ensure
from telemetry.capture.loop import CaptureLoop
from telemetry.capture.runtime import capture_config_write
from telemetry.management.commands.runfastpath import stop_on_signals

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Run the capture: tail Claude Code transcripts and replay spooled hook events every 0.5 s, and"
        " read Cursor's databases every BLUEPLANE_CURSOR_POLL_S seconds."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="one pass, then exit")

    def handle(self, *args, once: bool, **options) -> None:
        try:
            redis_url_ensure()  # a Redis that does not answer yet is waited for, never started twice
        except RedisStartError as exc:
            raise CommandError(str(exc)) from None
        capture_config_write()  # the hooks read the Redis address and options from here
        try:
            loop = CaptureLoop.from_settings()
        except ImproperlyConfigured as exc:  # an unreadable salt: one line, not a traceback
            raise CommandError(str(exc)) from None
        stop = stop_on_signals()
        logger.info("capture started: transcripts under %s", settings.CLAUDE_PROJECTS_DIR)
        while not stop.is_set():
            try:
                sent = loop.run_once()
                if sent:
                    logger.debug("captured %d events", sent)
            except redis.RedisError as exc:
                # Nothing is marked as sent: transcripts stay at their offsets, the spool stays on disk.
                logger.warning("redis unavailable, retrying: %s", exc)
            if once:
                break
            stop.wait(settings.CAPTURE_POLL_S)
        logger.info("capture stopped")
