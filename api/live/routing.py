"""The WebSocket routes (blueplane/asgi.py sends every "websocket" connection here). Any other path is
refused by a consumer of its own (close 4404 with a message): Channels' URLRouter raises on a path it has
no route for, which would be a server error."""

from channels.routing import URLRouter
from django.urls import path, re_path


def websocket_application():
    from . import consumers

    return URLRouter(
        [
            path("ws/events", consumers.redis_guarded(consumers.EventsConsumer.as_asgi())),
            path("ws/metrics", consumers.redis_guarded(consumers.MetricsConsumer.as_asgi())),
            re_path(r"", consumers.RefusedConsumer.as_asgi()),
        ]
    )
