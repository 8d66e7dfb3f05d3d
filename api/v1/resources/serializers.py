"""What each resource looks like in JSON: times in ISO 8601 UTC, money as numbers (USD), tokens as
integers. List rows leave out documents (a turn's `detail`); a session's detail adds its counts."""

from datetime import UTC

from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from telemetry.models import CodeChange, Conversation, Project, Session, ToolCall, Turn


class UTCDateTimeField(serializers.DateTimeField):
    """ISO 8601 in UTC (`Z`), whatever the server's time zone."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(default_timezone=UTC, **kwargs)


def money(**kwargs: object) -> serializers.DecimalField:
    # Money columns hold 16 digits, 8 after the point; sums over many rows get 20.
    return serializers.DecimalField(max_digits=20, decimal_places=8, read_only=True, **kwargs)


class SessionRefMixin(serializers.Serializer):
    """The row's session by its public id and platform, and its project (name and key)."""

    session_id = serializers.CharField(source="session.session_id", read_only=True)
    platform = serializers.CharField(source="session.platform", read_only=True)


class ProjectRefMixin(serializers.Serializer):
    project = serializers.CharField(source="project.name", read_only=True, allow_null=True, default=None)
    project_key = serializers.CharField(source="project.key", read_only=True, allow_null=True, default=None)


class SessionSerializer(ProjectRefMixin, serializers.ModelSerializer):
    models = serializers.ListField(child=serializers.CharField(), source="models_used", read_only=True)
    tokens = serializers.IntegerField(read_only=True, help_text="input + output + cache write + cache read")
    cost_usd = money()
    started_at = UTCDateTimeField(read_only=True, allow_null=True)
    last_event_at = UTCDateTimeField(read_only=True, allow_null=True)
    ended_at = UTCDateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = Session
        fields = ["session_id", "platform", "project", "project_key", "git_branch", "parent_session_id",
                  "status", "end_reason", "started_at", "last_event_at", "ended_at", "models",
                  "prompts", "assistant_messages", "tool_calls", "tool_failures", "tool_rejections",
                  "tool_interruptions", "api_errors", "compactions", "subagent_runs", "input_tokens",
                  "output_tokens", "cache_write_tokens", "cache_read_tokens", "tokens", "cost_usd",
                  "lines_added", "lines_removed", "active_seconds", "data_issues"]  # fmt: skip


class SessionDetailSerializer(SessionSerializer):
    conversations = serializers.IntegerField(
        source="conversation_count", read_only=True, default=0, help_text="Conversations in the session"
    )

    class Meta(SessionSerializer.Meta):
        fields = [*SessionSerializer.Meta.fields, "conversations"]


class ConversationSerializer(SessionRefMixin, serializers.ModelSerializer):
    project = serializers.CharField(
        source="session.project.name", read_only=True, allow_null=True, default=None
    )
    project_key = serializers.CharField(
        source="session.project.key", read_only=True, allow_null=True, default=None
    )
    started_at = UTCDateTimeField(read_only=True, allow_null=True)
    last_event_at = UTCDateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = Conversation
        fields = ["id", "conversation_id", "session_id", "platform", "project", "project_key", "title", "mode",
                  "started_at", "last_event_at"]  # fmt: skip


TURN_FIELDS = ["kind", "timestamp", "model", "stop_reason", "input_tokens", "output_tokens",
               "cache_write_tokens", "cache_write_1h_tokens", "cache_read_tokens", "cost_usd", "price_table",
               "latency_ms", "chars", "lines", "agent_id", "key"]  # fmt: skip
TOOL_CALL_FIELDS = ["tool_use_id", "tool_name", "mcp_server", "status", "error_type", "started_at",
                    "finished_at", "duration_ms", "message_key", "agent_id", "seen_in_hooks",
                    "seen_in_transcript"]  # fmt: skip
CODE_CHANGE_FIELDS = ["key", "tool_name", "file_extension", "path_hash", "lines_added", "lines_removed",
                      "status", "timestamp"]  # fmt: skip


class TurnInSessionSerializer(serializers.ModelSerializer):
    conversation_id = serializers.CharField(source="conversation.conversation_id", read_only=True)
    timestamp = UTCDateTimeField(read_only=True)
    cost_usd = money(allow_null=True)

    class Meta:
        model = Turn
        fields = ["id", "conversation_id", *TURN_FIELDS]


class TurnSerializer(SessionRefMixin, ProjectRefMixin, TurnInSessionSerializer):
    class Meta(TurnInSessionSerializer.Meta):
        fields = ["id", "session_id", "platform", "conversation_id", "project", "project_key", *TURN_FIELDS]


class ToolCallInSessionSerializer(serializers.ModelSerializer):
    conversation_id = serializers.CharField(source="conversation.conversation_id", read_only=True)
    started_at = UTCDateTimeField(read_only=True, allow_null=True)
    finished_at = UTCDateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = ToolCall
        fields = ["id", "conversation_id", *TOOL_CALL_FIELDS]


class ToolCallSerializer(SessionRefMixin, ProjectRefMixin, ToolCallInSessionSerializer):
    class Meta(ToolCallInSessionSerializer.Meta):
        fields = [
            "id",
            "session_id",
            "platform",
            "conversation_id",
            "project",
            "project_key",
            *TOOL_CALL_FIELDS,
        ]


class CodeChangeInSessionSerializer(serializers.ModelSerializer):
    timestamp = UTCDateTimeField(read_only=True)

    class Meta:
        model = CodeChange
        fields = ["id", *CODE_CHANGE_FIELDS]


class CodeChangeSerializer(SessionRefMixin, ProjectRefMixin, CodeChangeInSessionSerializer):
    class Meta(CodeChangeInSessionSerializer.Meta):
        fields = ["id", "session_id", "platform", "project", "project_key", *CODE_CHANGE_FIELDS]


class ProjectSerializer(serializers.ModelSerializer):
    sessions = serializers.IntegerField(source="session_count", read_only=True)
    messages = serializers.IntegerField(read_only=True, help_text="Assistant responses")
    input_tokens = serializers.IntegerField(read_only=True)
    output_tokens = serializers.IntegerField(read_only=True)
    cache_write_tokens = serializers.IntegerField(read_only=True)
    cache_read_tokens = serializers.IntegerField(read_only=True)
    cost_usd = money()
    first_seen = UTCDateTimeField(read_only=True, allow_null=True, help_text="Start of its first session")
    last_seen = UTCDateTimeField(read_only=True, allow_null=True, help_text="Last activity of any session")

    class Meta:
        model = Project
        fields = ["key", "name", "sessions", "first_seen", "last_seen", "messages", "input_tokens",
                  "output_tokens", "cache_write_tokens", "cache_read_tokens", "cost_usd"]  # fmt: skip


class ModelUsageSerializer(serializers.Serializer):
    model = serializers.CharField()
    first_seen = UTCDateTimeField(help_text="First UTC hour with a response from the model")
    last_seen = UTCDateTimeField(help_text="Last UTC hour with a response from the model")
    messages = serializers.IntegerField(help_text="Assistant responses")
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cache_write_tokens = serializers.IntegerField()
    cache_read_tokens = serializers.IntegerField()
    cost_usd = money()


class RawEventSerializer(serializers.Serializer):
    seq = serializers.IntegerField(help_text="Stored order within the platform's raw table")
    event = serializers.DictField(help_text="The envelope as stored (wire format), decompressed")


# --- the timeline: one item per row, `type` saying which ---------------------------------------------


class Constant(serializers.ChoiceField):
    """The same value for every row (a one-choice enum in the schema)."""

    def __init__(self, value: str) -> None:
        super().__init__(choices=[value], source="*", read_only=True)
        self.value = value

    def to_representation(self, instance: object) -> str:
        return self.value


def _timeline_item(base: type[serializers.ModelSerializer], name: str) -> type[serializers.Serializer]:
    class Item(base):
        type = Constant(name)
        at = UTCDateTimeField(read_only=True, help_text="The row's time (a tool call's start, else its end)")

        class Meta(base.Meta):
            fields = ["type", "at", *base.Meta.fields]

    Item.__name__ = Item.__qualname__ = f"Timeline{name.title().replace('_', '')}"
    return Item


TimelineTurnSerializer = _timeline_item(TurnInSessionSerializer, "turn")
TimelineToolCallSerializer = _timeline_item(ToolCallInSessionSerializer, "tool_call")
TimelineCodeChangeSerializer = _timeline_item(CodeChangeInSessionSerializer, "code_change")
TIMELINE_SERIALIZERS = {
    "turn": TimelineTurnSerializer,
    "tool_call": TimelineToolCallSerializer,
    "code_change": TimelineCodeChangeSerializer,
}

TimelineItemSerializer = PolymorphicProxySerializer(
    component_name="TimelineItem",
    serializers=TIMELINE_SERIALIZERS,
    resource_type_field_name="type",
    many=True,
)


def timeline_data(items: list) -> list[dict]:
    """The items (telemetry.selectors.timeline.TimelineItem) as JSON, in their order. One serializer per
    type for the whole page: making one per item costs more than the page's queries."""
    data: list = [None] * len(items)
    for kind, serializer in TIMELINE_SERIALIZERS.items():
        places = [i for i, item in enumerate(items) if item.type == kind]
        rows = serializer([items[i].row for i in places], many=True).data
        for i, row in zip(places, rows, strict=True):
            data[i] = row
    return data
