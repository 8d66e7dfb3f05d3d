"""`python manage.py runweb`: the web server (API, admin, /healthz, /metrics) on uvicorn, one ASGI process."""

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from api.v1 import access


class Command(BaseCommand):
    help = "Serve the API, the admin, /healthz and /metrics on BLUEPLANE_BIND:BLUEPLANE_PORT (uvicorn)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--bind", default=settings.BLUEPLANE_BIND, help="address to listen on")
        parser.add_argument("--port", type=int, default=settings.BLUEPLANE_PORT, help="port (0: any free)")

    def handle(self, *args, bind: str, port: int, **options) -> None:
        if refusal := access.bind_refusal(bind):
            raise CommandError(refusal)
        uvicorn.run(
            "blueplane.asgi:application",
            host=bind,
            port=port,
            log_level="warning",
            access_log=False,  # request lines would flood the supervisor's log; errors are still logged
            server_header=False,
            # X-Forwarded-For is believed from a proxy on this machine only, whatever FORWARDED_ALLOW_IPS
            # says: a remote client must not pass for a loopback one (api/v1/access.py).
            proxy_headers=True,
            forwarded_allow_ips="127.0.0.1",
            lifespan="off",  # Django's ASGI handler does not implement lifespan
        )
