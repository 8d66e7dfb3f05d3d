"""Response shapes of the reports, for the schema and for rendering the selectors' records. Money is a
JSON number of USD, as the CLI writes it."""

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.fields import SkipField

from telemetry.models import DataIssue

from .base import SpanSerializer

MISSING = (
    "null when none of the responses has recorded tokens (Cursor does not record them all): missing, not 0"
)


class UsageTotalsSerializer(serializers.Serializer):
    messages = serializers.IntegerField(help_text="assistant messages")
    input_tokens = serializers.IntegerField(allow_null=True, help_text=MISSING)
    output_tokens = serializers.IntegerField(allow_null=True, help_text=MISSING)
    cache_write_tokens = serializers.IntegerField(allow_null=True, help_text=MISSING)
    cache_read_tokens = serializers.IntegerField(allow_null=True, help_text=MISSING)
    cost_usd = serializers.FloatField(allow_null=True, help_text=MISSING)
    responses_without_tokens = serializers.IntegerField(
        help_text="of the messages, those whose tokens the assistant did not record (counted in no sum)"
    )


class Present:
    """A field only some rows have: left out of rows without it (DRF would write null)."""

    def get_attribute(self, instance: Any) -> Any:
        if isinstance(instance, Mapping) and self.field_name not in instance:
            raise SkipField()
        return super().get_attribute(instance)


class LabelDateTime(serializers.DateTimeField):
    """A time only some rows have: left out of rows without it, null in rows where it is unknown (DRF
    would write null in both)."""

    def get_attribute(self, instance: Any) -> Any:
        if isinstance(instance, Mapping) and self.source not in instance:
            raise SkipField()
        return super().get_attribute(instance)


class PlatformsField(Present, serializers.DictField):
    pass


class UsageRowSerializer(UsageTotalsSerializer):
    """One row of a usage report; which labels it has depends on `group`."""

    day = serializers.DateField(required=False, help_text="group=day")
    week = serializers.CharField(required=False, help_text="group=week: the week's first day, YYYY-MM-DD")
    month = serializers.CharField(required=False, help_text="group=month: YYYY-MM")
    model = serializers.CharField(required=False, help_text="group=model")
    project = serializers.CharField(required=False, help_text="group=project or session: its folder name")
    project_key = serializers.CharField(required=False, help_text="group=project")
    session_id = serializers.CharField(required=False, help_text="group=session")
    platform = serializers.CharField(required=False, help_text="group=session or platform")
    user = serializers.CharField(required=False, help_text='group=user or session ("": this install\'s own)')
    machine = serializers.CharField(
        required=False, help_text='group=machine or session ("": this install\'s own)'
    )
    source = serializers.CharField(
        required=False, help_text="group=source: transcript, otel, both, conflict (or cursor)"
    )
    started_at = LabelDateTime(required=False, allow_null=True, help_text="group=session")
    status = serializers.CharField(required=False, help_text="group=session")
    models = serializers.ListField(child=serializers.CharField(), required=False, help_text="group=session")
    prompts = serializers.IntegerField(required=False, help_text="group=session")
    tool_calls = serializers.IntegerField(required=False, help_text="group=session")
    platforms = PlatformsField(
        child=UsageTotalsSerializer(), required=False,
        help_text="group=day, week or month, when the report holds more than one platform: the period's "
        "usage per platform (claude_code, cursor)",
    )  # fmt: skip


SOURCES_HELP = (
    "only when the span holds an API call that is not a transcript's alone (Claude Code's OpenTelemetry "
    "export): the totals per source, both (transcript and OTel agree), transcript, otel (only OTel saw "
    "it) and conflict (their tokens differ: the transcript's count; GET /api/v1/ledger/ shows both)"
)


class SourceTotalsSerializer(serializers.Serializer):
    messages = serializers.IntegerField(help_text="API calls")
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cache_write_tokens = serializers.IntegerField()
    cache_read_tokens = serializers.IntegerField()
    cost_usd = serializers.FloatField()


class SourcesField(Present, serializers.DictField):
    pass


class UsageReportSerializer(serializers.Serializer):
    group = serializers.CharField()
    span = SpanSerializer()
    rows = UsageRowSerializer(many=True)
    totals = UsageTotalsSerializer()
    sources = SourcesField(child=SourceTotalsSerializer(), required=False, help_text=SOURCES_HELP)


CCUSAGE_MISSING = "null with Cursor's usage where none of the responses recorded tokens"
CURSOR_ONLY = "only when the report holds Cursor's usage (ccusage reads Claude Code alone)"


class CcusageCountField(Present, serializers.IntegerField):
    pass


class CcusageSumsSerializer(serializers.Serializer):
    """ccusage's names, camelCase as it writes them."""

    inputTokens = serializers.IntegerField(allow_null=True, help_text=CCUSAGE_MISSING)
    outputTokens = serializers.IntegerField(allow_null=True, help_text=CCUSAGE_MISSING)
    cacheCreationTokens = serializers.IntegerField(allow_null=True, help_text=CCUSAGE_MISSING)
    cacheReadTokens = serializers.IntegerField(allow_null=True, help_text=CCUSAGE_MISSING)
    totalTokens = serializers.IntegerField(allow_null=True, help_text=CCUSAGE_MISSING)
    totalCost = serializers.FloatField(allow_null=True, help_text=CCUSAGE_MISSING)
    responsesWithoutTokens = CcusageCountField(
        required=False, help_text=f"responses whose tokens Cursor did not record; {CURSOR_ONLY}"
    )


class CcusageTotalsSerializer(CcusageSumsSerializer):
    platforms = PlatformsField(
        child=CcusageSumsSerializer(), required=False,
        help_text="the same sums per platform (claude_code, cursor), when the report holds more than one",
    )  # fmt: skip


class CcusageModelSerializer(serializers.Serializer):
    modelName = serializers.CharField()
    inputTokens = serializers.IntegerField(allow_null=True, help_text=CCUSAGE_MISSING)
    outputTokens = serializers.IntegerField(allow_null=True, help_text=CCUSAGE_MISSING)
    cacheCreationTokens = serializers.IntegerField(allow_null=True, help_text=CCUSAGE_MISSING)
    cacheReadTokens = serializers.IntegerField(allow_null=True, help_text=CCUSAGE_MISSING)
    cost = serializers.FloatField(allow_null=True, help_text=CCUSAGE_MISSING)
    responsesWithoutTokens = CcusageCountField(required=False, help_text=CURSOR_ONLY)


class CcusageAgentsSerializer(serializers.Serializer):
    agents = serializers.ListField(child=serializers.CharField())


class CcusageActivitySerializer(serializers.Serializer):
    lastActivity = serializers.CharField(allow_null=True)


class CcusagePeriodSerializer(CcusageTotalsSerializer):
    agent = serializers.CharField(help_text='"all"')
    period = serializers.CharField(help_text="YYYY-MM-DD (a week: its first day) or YYYY-MM")
    metadata = CcusageAgentsSerializer()
    modelsUsed = serializers.ListField(child=serializers.CharField())
    modelBreakdowns = CcusageModelSerializer(many=True)


class CcusageSessionSerializer(CcusageSumsSerializer):
    agent = serializers.CharField(help_text="claude or cursor")
    period = serializers.CharField(help_text="the session id")
    metadata = CcusageActivitySerializer()
    modelsUsed = serializers.ListField(child=serializers.CharField())
    modelBreakdowns = CcusageModelSerializer(many=True)


class CcusageSourceSerializer(CcusageSumsSerializer):
    messages = serializers.IntegerField(help_text="API calls")


class CcusageSourcesMixin(serializers.Serializer):
    """Blueplane's addition, absent from a report of transcripts alone (which is ccusage's exactly)."""

    sources = SourcesField(child=CcusageSourceSerializer(), required=False, help_text=SOURCES_HELP)


class CcusageDailySerializer(CcusageSourcesMixin):
    daily = CcusagePeriodSerializer(many=True)
    totals = CcusageTotalsSerializer()


class CcusageWeeklySerializer(CcusageSourcesMixin):
    weekly = CcusagePeriodSerializer(many=True)
    totals = CcusageTotalsSerializer()


class CcusageMonthlySerializer(CcusageSourcesMixin):
    monthly = CcusagePeriodSerializer(many=True)
    totals = CcusageTotalsSerializer()


class CcusageSessionsSerializer(CcusageSourcesMixin):
    session = CcusageSessionSerializer(many=True)
    totals = CcusageTotalsSerializer()


CCUSAGE_SERIALIZERS = {
    "day": CcusageDailySerializer,
    "week": CcusageWeeklySerializer,
    "month": CcusageMonthlySerializer,
    "session": CcusageSessionsSerializer,
}


class ToolStatsSerializer(serializers.Serializer):
    tool_name = serializers.CharField()
    calls = serializers.IntegerField()
    failures = serializers.IntegerField()
    rejections = serializers.IntegerField()
    interruptions = serializers.IntegerField()
    failure_rate = serializers.FloatField(allow_null=True)
    rejection_rate = serializers.FloatField(allow_null=True)
    interruption_rate = serializers.FloatField(allow_null=True)
    duration_ms_sum = serializers.IntegerField()
    mean_ms = serializers.FloatField(allow_null=True)
    p50_ms = serializers.FloatField(allow_null=True)
    p95_ms = serializers.FloatField(allow_null=True)
    p99_ms = serializers.FloatField(allow_null=True)
    histogram = serializers.ListField(
        child=serializers.IntegerField(), help_text="calls per latency bucket (docs/metrics.md)"
    )


class ToolDecisionSerializer(serializers.Serializer):
    tool_name = serializers.CharField()
    decision = serializers.CharField(help_text="accept or reject")
    decision_source = serializers.CharField(
        help_text="who decided: config, user_temporary, user_permanent, user_reject, hook ..."
    )
    calls = serializers.IntegerField()


class ToolReportSerializer(serializers.Serializer):
    span = SpanSerializer()
    tools = ToolStatsSerializer(many=True)
    decisions = ToolDecisionSerializer(
        many=True, required=False,
        help_text="Claude Code's tool decisions (its OpenTelemetry export), by tool, decision and who "
        "decided; empty without OTel",
    )  # fmt: skip


class ErrorGroupSerializer(serializers.Serializer):
    tool_name = serializers.CharField()
    error_type = serializers.CharField()
    error_hash = serializers.CharField(help_text="hash of the error's text; empty if it was not recorded")
    error_text = serializers.CharField(help_text="start of the text, only when content is kept")
    count = serializers.IntegerField()
    sessions = serializers.IntegerField()
    first_seen = serializers.DateTimeField(allow_null=True)
    last_seen = serializers.DateTimeField(allow_null=True)


class ErrorReportSerializer(serializers.Serializer):
    span = SpanSerializer()
    groups = ErrorGroupSerializer(many=True)
    more = serializers.BooleanField(help_text="more groups than `limit` matched")


class AcceptanceSerializer(serializers.Serializer):
    file_extension = serializers.CharField(allow_null=True, help_text='"" for files without one')
    changes = serializers.IntegerField()
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    reverted = serializers.IntegerField()
    acceptance_rate = serializers.FloatField(allow_null=True)
    rejection_rate = serializers.FloatField(allow_null=True)
    reversion_rate = serializers.FloatField(allow_null=True)
    lines_added = serializers.IntegerField()
    lines_removed = serializers.IntegerField()


class AcceptanceReportSerializer(serializers.Serializer):
    span = SpanSerializer()
    extensions = AcceptanceSerializer(many=True)
    total = AcceptanceSerializer()


class ActivitySerializer(serializers.Serializer):
    prompts = serializers.IntegerField()
    api_errors = serializers.IntegerField()
    lines_added = serializers.IntegerField()
    lines_removed = serializers.IntegerField()
    edits_accepted = serializers.IntegerField()
    edits_rejected = serializers.IntegerField()
    active_seconds = serializers.IntegerField()
    assistant_messages = serializers.IntegerField()
    tool_calls = serializers.IntegerField()
    tool_failures = serializers.IntegerField()
    tool_interruptions = serializers.IntegerField()
    tool_rejections = serializers.IntegerField()
    tool_error_rate = serializers.FloatField(allow_null=True)
    interruption_rate = serializers.FloatField(allow_null=True)
    api_error_rate = serializers.FloatField(allow_null=True)
    acceptance_rate = serializers.FloatField(allow_null=True)
    lines_changed = serializers.IntegerField()


class ActivityReportSerializer(serializers.Serializer):
    span = SpanSerializer()
    activity = ActivitySerializer()


class ScorePartsSerializer(serializers.Serializer):
    base = serializers.FloatField()
    tool_efficiency = serializers.FloatField(help_text="25 x tool success")
    error_penalty = serializers.FloatField(help_text="-15 x error share")
    acceptance = serializers.FloatField(help_text="10 x acceptance of AI edits")
    code_impact = serializers.FloatField(help_text="10 x impact")


class ScoreInputsSerializer(ActivitySerializer):
    tool_success = serializers.FloatField(allow_null=True)
    error_share = serializers.FloatField(allow_null=True)
    acceptance = serializers.FloatField(allow_null=True)
    impact = serializers.FloatField(allow_null=True)


class ProductivitySerializer(serializers.Serializer):
    span = SpanSerializer()
    score = serializers.FloatField(help_text="0-100 (docs/metrics.md)")
    parts = ScorePartsSerializer()
    inputs = ScoreInputsSerializer()


class IssueCountSerializer(serializers.Serializer):
    kind = serializers.CharField()
    count = serializers.IntegerField()
    exact = serializers.BooleanField(help_text="false: at least `count`")


class IssueCountsSerializer(serializers.Serializer):
    kinds = IssueCountSerializer(many=True)


class DataIssueSerializer(serializers.ModelSerializer):
    platform = serializers.CharField(source="session.platform")
    session_id = serializers.CharField(source="session.session_id")

    class Meta:
        model = DataIssue
        fields = ["id", "kind", "detail", "platform", "session_id", "event_seq"]


class DeadLetterSummarySerializer(serializers.Serializer):
    id = serializers.CharField(help_text="its id in telemetry:dlq")
    failed_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()
    stream_id = serializers.CharField(help_text="the entry's id in telemetry:events when it failed")
    consumer = serializers.CharField()
    event_bytes = serializers.IntegerField()
    cut = serializers.BooleanField(help_text="only the event's first bytes were kept")
    deliveries = serializers.IntegerField(allow_null=True)
    replays = serializers.IntegerField()


class DeadLetterPageSerializer(serializers.Serializer):
    next = serializers.CharField(allow_null=True, help_text="the next (older) page")
    results = DeadLetterSummarySerializer(many=True)


class DeadLetterSerializer(DeadLetterSummarySerializer):
    last_delivered_at = serializers.DateTimeField(allow_null=True)
    replay_of = serializers.CharField(allow_null=True)
    event_sha256 = serializers.CharField(allow_null=True)
    event = serializers.JSONField(help_text="the event, decoded when it is JSON, else its text")
    event_is_json = serializers.BooleanField()


class ReasonCountSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="the reason without its particulars")
    count = serializers.IntegerField()
    example = serializers.CharField(help_text="the newest such reason, whole")
    newest_at = serializers.DateTimeField(allow_null=True)


class DeadLetterCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    counted = serializers.IntegerField(help_text="the newest dead letters whose reasons were read")
    exact = serializers.BooleanField()
    reasons = ReasonCountSerializer(many=True)


class DatabaseStateSerializer(serializers.Serializer):
    ready = serializers.BooleanField(help_text="reachable and migrated")
    error = serializers.CharField(allow_null=True)
    raw_traces = serializers.DictField(child=serializers.IntegerField(), help_text="per platform")


class RedisStateSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    error = serializers.CharField(allow_null=True)


class StreamStateSerializer(serializers.Serializer):
    events = serializers.IntegerField(help_text="entries in telemetry:events")
    pending = serializers.IntegerField(help_text="read by the fast path, not yet acknowledged")
    dead_letters = serializers.IntegerField()


class SlowPathStateSerializer(serializers.Serializer):
    dirty_sessions = serializers.IntegerField(allow_null=True)
    sessions_behind = serializers.IntegerField()
    events_behind = serializers.IntegerField()
    exact = serializers.BooleanField(help_text="false: the figures are lower bounds")
    oldest_waiting_s = serializers.FloatField(allow_null=True)


class FailingSessionSerializer(serializers.Serializer):
    platform = serializers.CharField()
    session_id = serializers.CharField()
    failures = serializers.IntegerField()
    last_error = serializers.CharField(allow_blank=True)
    retry_at = serializers.DateTimeField(allow_null=True)


class FailingStateSerializer(serializers.Serializer):
    sessions = serializers.IntegerField()
    newest = FailingSessionSerializer(many=True)


class DiskStateSerializer(serializers.Serializer):
    what = serializers.CharField()
    path = serializers.CharField()
    free_bytes = serializers.IntegerField()
    total_bytes = serializers.IntegerField()
    low = serializers.BooleanField()


class PipelineSerializer(serializers.Serializer):
    """What `blueplane status` reports about the pipeline."""

    database = DatabaseStateSerializer()
    redis = RedisStateSerializer()
    stream = StreamStateSerializer(allow_null=True)
    slowpath = SlowPathStateSerializer(allow_null=True)
    failing = FailingStateSerializer(allow_null=True)
    disk = DiskStateSerializer(many=True)
    warnings = serializers.ListField(child=serializers.CharField())
