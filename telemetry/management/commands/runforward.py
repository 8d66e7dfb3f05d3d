"""`python manage.py runforward`: forward this machine's stored events to the team server it is connected
to (`blueplane connect`; telemetry/forward/forwarder.py). Idles while not connected."""

import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from telemetry.forward.forwarder import Forwarder
from telemetry.management.commands.runfastpath import stop_on_signals

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Post the local store's events to the team server of $BLUEPLANE_HOME/team.json, in seq order."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="forward what is stored, then exit")

    def handle(self, *args, once: bool, **options) -> None:
        if once:
            self._once()
            return
        stop = stop_on_signals()
        logger.info("forward: started")
        print("forward: started", flush=True)
        Forwarder(settings.BLUEPLANE_HOME, stop=stop).run()

    def _once(self) -> None:
        from telemetry.forward.client import ForwardError
        from telemetry.forward.team import team_read

        team = team_read(settings.BLUEPLANE_HOME)
        if team is None:
            raise CommandError("not connected to a team server (blueplane connect URL --token TOKEN)")
        forwarder = Forwarder(settings.BLUEPLANE_HOME)
        total = 0
        try:
            while sent := forwarder.pass_once(team):
                total += sent
        except ForwardError as exc:
            raise CommandError(str(exc)) from None
        print(f"forward: {total} events forwarded", flush=True)
