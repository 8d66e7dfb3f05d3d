"""`python manage.py runfastpath`: move events from the Redis stream into the raw trace store."""

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from blueplane.redis_server import RedisStartError, redis_url_ensure
from telemetry.ingest.consumer import StreamConsumer
from telemetry.ingest.faults import Backoff, Fault, Stopping, database_reset, fault_kind
from telemetry.ingest.reader import ReaderDied
from telemetry.selectors import system

logger = logging.getLogger(__name__)


def stop_on_signals() -> threading.Event:
    """SIGINT/SIGTERM set the event; the loop finishes the batch in hand, so nothing is half-done."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


class Command(BaseCommand):
    help = "Run the fast path: read telemetry:events, store raw traces, publish changes, acknowledge."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="drain what is queued, then exit")
        parser.add_argument("--consumer", help="consumer name in group 'fastpath' (default: host-pid)")

    def handle(self, *args, once: bool, consumer: str | None, **options) -> None:
        stop = stop_on_signals()
        # Without its tables the fast path would only wait: refuse to start instead. A database that
        # cannot be read now (locked, unreachable, its disk gone read-only) is waited for, not a failure.
        try:
            ready = database_wait(stop)
        except Stopping:
            return
        if not ready:
            raise CommandError("the database is not set up: run `blueplane up` or `python manage.py migrate`")
        try:
            redis_url_ensure()  # a Redis that does not answer yet is waited for, never started twice
        except RedisStartError as exc:
            raise CommandError(str(exc)) from None
        fastpath = StreamConsumer.from_settings(consumer=consumer)
        logger.info("fast path consumer %s started", fastpath.consumer)
        try:
            total = fastpath.run(stop, once=once)  # --once: drain what is queued, then exit
        except ReaderDied as exc:  # what it had read stays pending; a restart reads it again
            raise CommandError(str(exc)) from None
        logger.info("fast path consumer %s stopped after %d entries", fastpath.consumer, total)


def database_wait(stop: threading.Event) -> bool:
    """Whether the database is migrated, once it can be asked: a fault of the machine is waited out
    with backoff. Raises Stopping if stop is set meanwhile."""
    backoff = Backoff("reading the database at start-up", cap_s=settings.FASTPATH_RETRY_MAX_S)
    while True:
        try:
            ready = system.database_ready()
        except Exception as exc:
            if fault_kind(exc) is not Fault.MACHINE:
                raise
            database_reset()
            backoff.failed(exc, stop=stop)
            continue
        backoff.succeeded()
        return ready
