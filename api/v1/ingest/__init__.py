"""POST /api/v1/events: envelopes over HTTP onto telemetry:events."""
