"""`python manage.py runweb`: the web server (API, admin, /healthz, /metrics) on uvicorn, one ASGI process.

It prints one line once it listens, `web: listening on http://HOST:PORT`, with the port the system chose
when given `--port 0`, so a script or test can start it without guessing a free port."""

import json
import signal

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from api.v1 import access
from api.v1.errors import body
from blueplane.runstate import STOP_TIMEOUT_S
from blueplane.supervisor import url_of

# Behind a reverse proxy on this machine, the client is the one the proxy names in X-Forwarded-For, so a
# remote client never passes for loopback (which needs no token). Only a loopback peer may name it: the
# list is fixed here rather than read from uvicorn's FORWARDED_ALLOW_IPS, which, set to "*" in the
# environment, would let any client claim to be 127.0.0.1.
PROXIES_TRUSTED = ["127.0.0.1", "::1"]


UNREADABLE = body(
    400,
    "bad_request",
    "the server could not read this HTTP request: a URL over its 64 KB limit, or not HTTP/1.1",
)


class JsonRefusals(AutoHTTPProtocol):  # httptools where installed (uvicorn[standard]), else h11
    """uvicorn's HTTP protocol, refusing a request it cannot parse (a URL over 64 KB, httptools' limit; a
    malformed request line) in the API's JSON error shape instead of plain text: no Django code sees
    such a request."""

    def send_400_response(self, msg: str) -> None:
        if not hasattr(self, "parser"):  # h11: its connection state writes the answer; keep its own
            super().send_400_response(msg)
            return
        payload = json.dumps(UNREADABLE).encode()
        head = (
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(payload)).encode() + b"\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head + payload)
        self.transport.close()


class Server(uvicorn.Server):
    """uvicorn's server, saying where it listens once it does (its own message is at INFO, which
    runweb keeps quiet)."""

    async def startup(self, sockets: list | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            port = self.servers[0].sockets[0].getsockname()[1]
            print(f"web: listening on {url_of(self.config.host, port)}", flush=True)


class Command(BaseCommand):
    help = "Serve the API, the admin, /healthz and /metrics on BLUEPLANE_BIND:BLUEPLANE_PORT (uvicorn)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--bind", default=settings.BLUEPLANE_BIND, help="address to listen on")
        parser.add_argument("--port", type=int, default=settings.BLUEPLANE_PORT, help="port (0: any free)")

    def handle(self, *args, bind: str, port: int, **options) -> None:
        if not 0 <= port <= 65535:
            raise CommandError(f"--port must be between 0 and 65535, got {port}")
        if refusal := access.bind_refusal(bind):
            raise CommandError(refusal)
        config = uvicorn.Config(
            "blueplane.asgi:application",
            host=bind,
            port=port,
            http=JsonRefusals,
            workers=1,  # one process: the WebSocket feed keeps its subscribers in it
            # No per-message compression: every push would be deflated once per client (200 clients,
            # 200 times), for bytes that mostly cross loopback. It was 7% of the server's time under
            # bench/live.py's load.
            ws_per_message_deflate=False,
            log_level="warning",
            access_log=False,  # request lines would flood the supervisor's log; errors are still logged
            server_header=False,
            lifespan="on",  # the live relay and the MCP session manager start and stop with it (asgi.py)
            proxy_headers=True,
            forwarded_allow_ips=PROXIES_TRUSTED,
            # A streamed export in flight gets this long after SIGTERM; the supervisor kills at STOP_TIMEOUT_S.
            timeout_graceful_shutdown=max(1, int(STOP_TIMEOUT_S) - 2),
        )
        # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again for whatever
        # handler was there before: make that a clean exit (0), not a death by signal or a traceback.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, stopped)
        # An address in use or not on this machine: uvicorn logs why and exits 3.
        Server(config).run()


def stopped(signum: int, frame: object) -> None:
    raise SystemExit(0)
