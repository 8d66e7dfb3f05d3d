"""Shapes of POST /api/v1/events for the OpenAPI schema. Validation itself is batch.py's (the fast
path's rules); these only describe the wire format (docs/wire-format.md) to clients."""

from rest_framework import serializers


class EnvelopeSerializer(serializers.Serializer):
    """One event in the wire format."""

    event_id = serializers.CharField(
        max_length=256, help_text="deterministic and unique per source event: the same event, the same id"
    )
    platform = serializers.ChoiceField(choices=["claude_code", "cursor"])
    source = serializers.ChoiceField(
        choices=["hook", "transcript", "database", "otel", "http"],
        required=False,
        help_text='how it was captured; "http" when left out',
    )
    event_type = serializers.CharField(max_length=128)
    session_id = serializers.CharField(max_length=256)
    timestamp = serializers.DateTimeField(help_text="ISO 8601 with a zone: when the event happened")
    payload = serializers.DictField(help_text="the event itself, already privacy-filtered")
    hook_type = serializers.CharField(required=False, allow_null=True)
    metadata = serializers.DictField(required=False, allow_null=True)


class QueuedSerializer(serializers.Serializer):
    queued = serializers.IntegerField(help_text="envelopes queued on telemetry:events")
