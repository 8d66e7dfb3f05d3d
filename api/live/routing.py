"""The WebSocket routes (blueplane/asgi.py sends every "websocket" connection here)."""

from channels.routing import URLRouter
from django.urls import path


def websocket_application():
    from . import consumers

    return URLRouter(
        [
            path("ws/events", consumers.EventsConsumer.as_asgi()),
            path("ws/metrics", consumers.MetricsConsumer.as_asgi()),
        ]
    )
