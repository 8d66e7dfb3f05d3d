"""`python manage.py runotlp`: receive Claude Code's OpenTelemetry export (OTLP/HTTP) into Redis."""

import errno
import logging
import sys
import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from blueplane.supervisor import EXIT_NO_RESTART
from telemetry.capture.otlp_receiver import Receiver, redis_client_otlp, server_make
from telemetry.capture.runtime import home, privacy_get
from telemetry.management.commands.runfastpath import stop_on_signals

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Serve OTLP/HTTP (POST /v1/logs, /v1/metrics, /v1/traces; JSON or protobuf, plain or gzip) on"
        " BLUEPLANE_OTLP_BIND:BLUEPLANE_OTLP_PORT and put each record on the event stream."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--bind", default=None, help="address to listen on (default BLUEPLANE_OTLP_BIND)")
        parser.add_argument("--port", type=int, default=None, help="port (default BLUEPLANE_OTLP_PORT, 4318)")

    def handle(self, *args, bind: str | None, port: int | None, **options) -> None:
        bind = bind or settings.OTLP_BIND
        port = settings.OTLP_PORT if port is None else port
        try:
            privacy = privacy_get()
        except ImproperlyConfigured as exc:  # an unreadable salt: one line, not a traceback
            raise CommandError(str(exc)) from None
        # Redis is not waited for: while it is away, exports go to the spool (runcapture replays it).
        receiver = Receiver(
            client=redis_client_otlp(settings.REDIS_URL),
            home=str(home()),
            privacy=privacy,
            max_bytes=settings.OTLP_MAX_BYTES,
        )
        try:
            server = server_make(bind=bind, port=port, receiver=receiver)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise CommandError(f"cannot listen on {bind}:{port}: {exc.strerror}") from None
            # Another collector owns the port: restarting would only fail again, so the supervisor
            # is told not to (EXIT_NO_RESTART), and everything else keeps running.
            print(
                f"otlp: {bind}:{port} is taken (another OpenTelemetry collector?); Claude Code's OpenTelemetry"
                " export is not received. Set BLUEPLANE_OTLP_PORT to a free port and point"
                " OTEL_EXPORTER_OTLP_ENDPOINT at it (blueplane install claude-code --otel).",
                file=sys.stderr,
                flush=True,
            )
            sys.exit(EXIT_NO_RESTART)
        stop = stop_on_signals()
        thread = threading.Thread(target=server.serve_forever, name="otlp", daemon=True)
        thread.start()
        logger.info("otlp: receiving on http://%s:%d/v1/{logs,metrics,traces}", bind, port)
        stop.wait()
        server.shutdown()
        server.server_close()
        logger.info("otlp: stopped")
