"""The consumers of /ws/events and /ws/metrics (protocol: api/live/__init__.py)."""

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class EventsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()
        await self.send_json({"type": "snapshot", "events": []})


class MetricsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()
