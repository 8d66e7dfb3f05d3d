"""What each resource looks like in JSON: times in ISO 8601 UTC, money as numbers (USD), tokens as
integers. List rows leave out documents (a turn's `detail`); a session's detail adds its counts."""

from datetime import UTC, datetime

from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from telemetry.models import CodeChange, Conversation, Project, Session, ToolCall, Turn
from telemetry.selectors.usage import tokens_missing

# Cursor does not record every response's tokens: sums none of the responses recorded are null, not 0.
MISSING = "null when the assistant recorded no tokens for it (Cursor): missing, not 0"
SESSION_SUMS = (
    "input_tokens",
    "output_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "tokens",
    "cost_usd",
)
TURN_SUMS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_write_1h_tokens", "cache_read_tokens",
             "cost_usd")  # fmt: skip


def session_tokens_missing(session: Session) -> bool:
    return tokens_missing(
        messages=session.assistant_messages, without_tokens=session.responses_without_tokens
    )


class UTCDateTimeField(serializers.DateTimeField):
    """ISO 8601 in UTC (`Z`), whatever the server's time zone."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(default_timezone=UTC, **kwargs)


def money(**kwargs: object) -> serializers.DecimalField:
    # Money columns hold 16 digits, 8 after the point; sums over many rows get 20.
    return serializers.DecimalField(max_digits=20, decimal_places=8, read_only=True, **kwargs)


# What Claude Code's OpenTelemetry export adds (docs/metrics.md, "one ledger with provenance"); the otel_*
# figures are null while the session has no OTel metric point.
SESSION_OTEL_FIELDS = ["api_retries", "otel_gaps", "otel_active_seconds", "otel_lines_added",
                       "otel_lines_removed", "otel_edit_accepts", "otel_edit_rejects"]  # fmt: skip


def otel_reading(value: object) -> object:
    """Turn.otel_usage as the API writes it: its cost (stored as decimal text) a JSON number, as all money."""
    if not isinstance(value, dict):
        return value
    cost = value.get("cost_usd")
    if isinstance(cost, str):
        try:
            return {**value, "cost_usd": float(cost)}
        except ValueError:
            return {**value, "cost_usd": None}
    return value


class OtelUsageField(serializers.JSONField):
    def to_representation(self, value: object) -> object:
        return otel_reading(value)


class SessionRefMixin(serializers.Serializer):
    """The row's session by its public id and platform, and its project (name and key)."""

    session_id = serializers.CharField(source="session.session_id", read_only=True)
    platform = serializers.CharField(source="session.platform", read_only=True)


class ProjectRefMixin(serializers.Serializer):
    project = serializers.CharField(source="project.name", read_only=True, allow_null=True, default=None)
    project_key = serializers.CharField(source="project.key", read_only=True, allow_null=True, default=None)


class SessionSerializer(ProjectRefMixin, serializers.ModelSerializer):
    models = serializers.ListField(child=serializers.CharField(), source="models_used", read_only=True)
    input_tokens = serializers.IntegerField(read_only=True, allow_null=True, help_text=MISSING)
    output_tokens = serializers.IntegerField(read_only=True, allow_null=True, help_text=MISSING)
    cache_write_tokens = serializers.IntegerField(read_only=True, allow_null=True, help_text=MISSING)
    cache_read_tokens = serializers.IntegerField(read_only=True, allow_null=True, help_text=MISSING)
    tokens = serializers.IntegerField(
        read_only=True, allow_null=True, help_text=f"input + output + cache write + cache read; {MISSING}"
    )
    cost_usd = money(allow_null=True, help_text=MISSING)
    responses_without_tokens = serializers.IntegerField(
        read_only=True, help_text="Assistant responses whose tokens the assistant did not record (Cursor)"
    )
    started_at = UTCDateTimeField(read_only=True, allow_null=True)
    last_event_at = UTCDateTimeField(read_only=True, allow_null=True)
    ended_at = UTCDateTimeField(read_only=True, allow_null=True)
    otel_active_seconds = serializers.FloatField(
        read_only=True, allow_null=True, help_text="Claude Code's own active time (OTel); null without OTel"
    )

    class Meta:
        model = Session
        fields = ["session_id", "platform", "project", "project_key", "user", "machine", "git_branch",
                  "parent_session_id",
                  "status", "end_reason", "started_at", "last_event_at", "ended_at", "models",
                  "prompts", "assistant_messages", "tool_calls", "tool_failures", "tool_rejections",
                  "tool_interruptions", "api_errors", "compactions", "subagent_runs", "input_tokens",
                  "output_tokens", "cache_write_tokens", "cache_read_tokens", "tokens", "cost_usd",
                  "lines_added", "lines_removed", "active_seconds", "data_issues",
                  "responses_without_tokens", *SESSION_OTEL_FIELDS]  # fmt: skip

    def to_representation(self, instance: Session) -> dict:
        data = super().to_representation(instance)
        if session_tokens_missing(instance):
            data.update(dict.fromkeys(SESSION_SUMS, None))
        return data


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
                  "started_at", "last_event_at", "archived", "lines_added", "lines_removed"]  # fmt: skip


TURN_FIELDS = ["kind", "timestamp", "model", "stop_reason", "input_tokens", "output_tokens",
               "cache_write_tokens", "cache_write_1h_tokens", "cache_read_tokens", "cost_usd", "price_table",
               "latency_ms", "chars", "lines", "agent_id", "key", "tokens_known", "request_id", "source",
               "otel_usage"]  # fmt: skip
TOOL_CALL_FIELDS = ["tool_use_id", "tool_name", "mcp_server", "status", "error_type", "started_at",
                    "finished_at", "duration_ms", "message_key", "agent_id", "seen_in_hooks",
                    "seen_in_transcript", "seen_in_otel", "decision", "decision_source",
                    "otel_duration_ms"]  # fmt: skip
CODE_CHANGE_FIELDS = ["key", "tool_name", "file_extension", "path_hash", "lines_added", "lines_removed",
                      "status", "timestamp"]  # fmt: skip


class TurnInSessionSerializer(serializers.ModelSerializer):
    conversation_id = serializers.CharField(source="conversation.conversation_id", read_only=True)
    timestamp = UTCDateTimeField(read_only=True)
    input_tokens = serializers.IntegerField(read_only=True, allow_null=True, help_text=MISSING)
    output_tokens = serializers.IntegerField(read_only=True, allow_null=True, help_text=MISSING)
    cache_write_tokens = serializers.IntegerField(read_only=True, allow_null=True, help_text=MISSING)
    cache_write_1h_tokens = serializers.IntegerField(read_only=True, allow_null=True, help_text=MISSING)
    cache_read_tokens = serializers.IntegerField(read_only=True, allow_null=True, help_text=MISSING)
    cost_usd = money(allow_null=True)
    tokens_known = serializers.BooleanField(
        read_only=True, help_text="false: the assistant did not record this response's tokens (Cursor)"
    )
    otel_usage = OtelUsageField(
        read_only=True, allow_null=True,
        help_text="OpenTelemetry's own reading of this API call when OTel saw it: input_tokens, "
        "output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, cost_usd (Claude "
        "Code's figure); compare with the turn's own numbers when source is conflict",
    )  # fmt: skip

    class Meta:
        model = Turn
        fields = ["id", "conversation_id", *TURN_FIELDS]

    def to_representation(self, instance: Turn) -> dict:
        data = super().to_representation(instance)
        if not instance.tokens_known:
            data.update(dict.fromkeys(TURN_SUMS, None))
        return data


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


class UsageSumsMixin(serializers.Serializer):
    """Usage summed from the rollups: sums none of the responses recorded are null (usage.tokens_missing)."""

    messages = serializers.IntegerField(read_only=True, help_text="Assistant responses")
    input_tokens = serializers.IntegerField(read_only=True, allow_null=True, help_text=MISSING)
    output_tokens = serializers.IntegerField(read_only=True, allow_null=True, help_text=MISSING)
    cache_write_tokens = serializers.IntegerField(read_only=True, allow_null=True, help_text=MISSING)
    cache_read_tokens = serializers.IntegerField(read_only=True, allow_null=True, help_text=MISSING)
    cost_usd = money(allow_null=True, help_text=MISSING)
    responses_without_tokens = serializers.IntegerField(
        read_only=True, help_text="Responses whose tokens the assistant did not record (Cursor)"
    )

    def to_representation(self, instance: object) -> dict:
        data = super().to_representation(instance)
        if tokens_missing(
            messages=data["messages"] or 0, without_tokens=data["responses_without_tokens"] or 0
        ):
            data.update(dict.fromkeys(("input_tokens", "output_tokens", "cache_write_tokens",
                                       "cache_read_tokens", "cost_usd"), None))  # fmt: skip
        return data


class ProjectSerializer(UsageSumsMixin, serializers.ModelSerializer):
    sessions = serializers.IntegerField(source="session_count", read_only=True)
    first_seen = UTCDateTimeField(read_only=True, allow_null=True, help_text="Start of its first session")
    last_seen = UTCDateTimeField(read_only=True, allow_null=True, help_text="Last activity of any session")

    class Meta:
        model = Project
        fields = ["key", "name", "sessions", "first_seen", "last_seen", "messages", "input_tokens",
                  "output_tokens", "cache_write_tokens", "cache_read_tokens", "cost_usd",
                  "responses_without_tokens"]  # fmt: skip


class ModelUsageSerializer(UsageSumsMixin):
    model = serializers.CharField()
    first_seen = UTCDateTimeField(help_text="First UTC hour with a response from the model")
    last_seen = UTCDateTimeField(help_text="Last UTC hour with a response from the model")

    class Meta:
        fields = ["model", "first_seen", "last_seen", "messages", "input_tokens", "output_tokens",
                  "cache_write_tokens", "cache_read_tokens", "cost_usd", "responses_without_tokens"]  # fmt: skip


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


# --- plain dicts for the hot lists ---------------------------------------------------------------------
# DRF walks every field of every row through get_attribute and to_representation (~0.2 ms a session):
# the sessions list, a session's detail and the timeline build their rows here instead, with the same
# keys in the same order and the same values (tests/api/test_fast_rows.py compares them with the
# serializers above, which stay the documented schema). Times and money still go through the DRF
# fields themselves, so their formatting cannot drift.

_UTC = UTCDateTimeField(read_only=True, allow_null=True)
_MONEY = money(allow_null=True)


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is UTC:  # what the database hands back: DRF's answer without its checks
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    return _UTC.to_representation(value)


def _money(value: object) -> object:
    return None if value is None else _MONEY.to_representation(value)


def _int(value: object) -> int | None:
    return None if value is None else int(value)


def session_data(session: Session) -> dict:
    """SessionSerializer(session).data, without DRF's per-field walk."""
    project = session.project
    models_used = session.models_used
    row = {
        "session_id": session.session_id,
        "platform": session.platform,
        "project": None if project is None else project.name,
        "project_key": None if project is None else project.key,
        "user": session.user,
        "machine": session.machine,
        "git_branch": session.git_branch,
        "parent_session_id": session.parent_session_id,
        "status": session.status,
        "end_reason": session.end_reason,
        "started_at": _time(session.started_at),
        "last_event_at": _time(session.last_event_at),
        "ended_at": _time(session.ended_at),
        "models": None if models_used is None else [None if m is None else str(m) for m in models_used],
        "prompts": session.prompts,
        "assistant_messages": session.assistant_messages,
        "tool_calls": session.tool_calls,
        "tool_failures": session.tool_failures,
        "tool_rejections": session.tool_rejections,
        "tool_interruptions": session.tool_interruptions,
        "api_errors": session.api_errors,
        "compactions": session.compactions,
        "subagent_runs": session.subagent_runs,
        "input_tokens": session.input_tokens,
        "output_tokens": session.output_tokens,
        "cache_write_tokens": session.cache_write_tokens,
        "cache_read_tokens": session.cache_read_tokens,
        "tokens": _int(session.tokens),
        "cost_usd": _money(session.cost_usd),
        "lines_added": session.lines_added,
        "lines_removed": session.lines_removed,
        "active_seconds": session.active_seconds,
        "data_issues": session.data_issues,
        "responses_without_tokens": session.responses_without_tokens,
        "api_retries": session.api_retries,
        "otel_gaps": session.otel_gaps,
        "otel_active_seconds": None
        if session.otel_active_seconds is None
        else float(session.otel_active_seconds),
        "otel_lines_added": session.otel_lines_added,
        "otel_lines_removed": session.otel_lines_removed,
        "otel_edit_accepts": session.otel_edit_accepts,
        "otel_edit_rejects": session.otel_edit_rejects,
    }
    if session_tokens_missing(session):
        row.update(dict.fromkeys(SESSION_SUMS, None))
    return row


def session_detail_data(session: Session) -> dict:
    """SessionDetailSerializer(session).data."""
    return {**session_data(session), "conversations": _int(getattr(session, "conversation_count", 0))}


def _turn(at: object, turn: Turn) -> dict:
    row = {
        "type": "turn",
        "at": _time(at),
        "id": turn.pk,
        "conversation_id": turn.conversation.conversation_id,
        "kind": turn.kind,
        "timestamp": _time(turn.timestamp),
        "model": turn.model,
        "stop_reason": turn.stop_reason,
        "input_tokens": turn.input_tokens,
        "output_tokens": turn.output_tokens,
        "cache_write_tokens": turn.cache_write_tokens,
        "cache_write_1h_tokens": turn.cache_write_1h_tokens,
        "cache_read_tokens": turn.cache_read_tokens,
        "cost_usd": _money(turn.cost_usd),
        "price_table": turn.price_table,
        "latency_ms": turn.latency_ms,
        "chars": turn.chars,
        "lines": turn.lines,
        "agent_id": turn.agent_id,
        "key": turn.key,
        "tokens_known": turn.tokens_known,
        "request_id": turn.request_id,
        "source": turn.source,
        "otel_usage": otel_reading(turn.otel_usage),
    }
    if not turn.tokens_known:
        row.update(dict.fromkeys(TURN_SUMS, None))
    return row


def _tool_call(at: object, call: ToolCall) -> dict:
    return {
        "type": "tool_call",
        "at": _time(at),
        "id": call.pk,
        "conversation_id": call.conversation.conversation_id,
        "tool_use_id": call.tool_use_id,
        "tool_name": call.tool_name,
        "mcp_server": call.mcp_server,
        "status": call.status,
        "error_type": call.error_type,
        "started_at": _time(call.started_at),
        "finished_at": _time(call.finished_at),
        "duration_ms": call.duration_ms,
        "message_key": call.message_key,
        "agent_id": call.agent_id,
        "seen_in_hooks": call.seen_in_hooks,
        "seen_in_transcript": call.seen_in_transcript,
        "seen_in_otel": call.seen_in_otel,
        "decision": call.decision,
        "decision_source": call.decision_source,
        "otel_duration_ms": call.otel_duration_ms,
    }


def _code_change(at: object, change: CodeChange) -> dict:
    return {
        "type": "code_change",
        "at": _time(at),
        "id": change.pk,
        "key": change.key,
        "tool_name": change.tool_name,
        "file_extension": change.file_extension,
        "path_hash": change.path_hash,
        "lines_added": change.lines_added,
        "lines_removed": change.lines_removed,
        "status": change.status,
        "timestamp": _time(change.timestamp),
    }


_TIMELINE_DATA = {"turn": _turn, "tool_call": _tool_call, "code_change": _code_change}


def timeline_data(items: list) -> list[dict]:
    """The items (telemetry.selectors.timeline.TimelineItem) as JSON, in their order: what
    TIMELINE_SERIALIZERS[item.type](item.row).data gives."""
    return [_TIMELINE_DATA[item.type](item.row.at, item.row) for item in items]
