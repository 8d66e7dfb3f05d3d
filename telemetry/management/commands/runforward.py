"""`python manage.py runforward`: forward this machine's stored events to the team server it is connected
to (`blueplane connect`; telemetry/forward/forwarder.py). Idles while not connected."""

import logging

from django.conf import settings
from django.core.management.base import BaseCommand

from telemetry.forward.forwarder import Forwarder
from telemetry.management.commands.runfastpath import stop_on_signals

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Post the local store's events to the team server of $BLUEPLANE_HOME/team.json, in seq order."

    def handle(self, *args, **options) -> None:
        stop = stop_on_signals()
        logger.info("forward: started")
        print("forward: started", flush=True)
        Forwarder(settings.BLUEPLANE_HOME, stop=stop).run()
