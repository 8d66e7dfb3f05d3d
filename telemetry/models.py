"""Raw trace store and slow-path bookkeeping.

Raw events are stored compressed in units (`raw_chunks`), one unit per session per fast-path batch,
later merged into larger units; each event has one compact index row in `claude_raw_traces` or
`cursor_raw_traces` pointing at its unit and position. Index rows hold digests instead of the long
id strings (see telemetry.store.keys), because on this store the index is as large as the
compressed events unless it is kept small.

The fast path writes these tables with raw SQL (telemetry.store.writer); the models describe them
for migrations, the admin and the selectors.
"""

from django.db import models


class RawCodec(models.Model):
    """A compression codec and its dictionary, referenced by every unit compressed with it."""

    id = models.SmallIntegerField(primary_key=True)
    name = models.CharField(max_length=64, unique=True)
    dictionary = models.BinaryField(null=True)

    class Meta:
        db_table = "raw_codecs"

    def __str__(self) -> str:
        return self.name


class RawChunk(models.Model):
    """A compressed unit: the events of one session, framed and compressed together."""

    id = models.BigAutoField(primary_key=True)
    platform = models.CharField(max_length=16)
    session_id = models.CharField(max_length=256)
    codec = models.ForeignKey(RawCodec, on_delete=models.PROTECT, db_constraint=False, related_name="+")
    n_events = models.IntegerField()
    raw_bytes = models.BigIntegerField(help_text="Size of the events before compression")
    created_ms = models.BigIntegerField(help_text="When the unit was written (epoch ms)")
    sealed = models.BooleanField(default=False, help_text="Re-packed; the re-packer leaves it alone")
    body = models.BinaryField()

    class Meta:
        db_table = "raw_chunks"
        indexes = [
            models.Index(fields=["platform", "session_id"], name="raw_chunks_session"),
            # Only units still waiting to be re-packed, so the index stays small.
            models.Index(fields=["created_ms"], name="raw_chunks_unsealed", condition=models.Q(sealed=False)),
        ]

    def __str__(self) -> str:
        return f"unit {self.id} ({self.n_events} events of {self.session_id})"


class RawTrace(models.Model):
    """One stored event: its index columns and where its bytes are."""

    seq = models.BigAutoField(primary_key=True)
    event_key = models.BinaryField(
        max_length=16, unique=True, help_text="Event time (6 bytes) + BLAKE2b-80 of the event id"
    )
    session_key = models.BigIntegerField(help_text="BLAKE2b-64 of the session id")
    source = models.CharField(max_length=16)
    event_type = models.CharField(max_length=128)
    # Not indexed: event_key starts with the time, so time ranges are key ranges (event_key_bounds).
    ts_ms = models.BigIntegerField(help_text="Event time, epoch milliseconds UTC")
    model = models.CharField(max_length=128, null=True)
    tool_name = models.CharField(max_length=128, null=True)
    input_tokens = models.IntegerField(null=True)
    output_tokens = models.IntegerField(null=True)
    cache_write_tokens = models.IntegerField(null=True)
    cache_read_tokens = models.IntegerField(null=True)
    duration_ms = models.IntegerField(null=True)
    lines_added = models.IntegerField(null=True)
    lines_removed = models.IntegerField(null=True)
    raw_bytes = models.IntegerField()
    chunk = models.ForeignKey(
        RawChunk, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    chunk_pos = models.IntegerField()

    PLATFORM = ""

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.PLATFORM} #{self.seq} {self.event_type}"


class ClaudeRawTrace(RawTrace):
    """A raw Claude Code event (hook call or transcript record)."""

    PLATFORM = "claude_code"

    class Meta:
        db_table = "claude_raw_traces"
        indexes = [
            models.Index(fields=["session_key", "seq"], name="claude_raw_session"),
        ]


class CursorRawTrace(RawTrace):
    """A raw Cursor event (hook call or database record)."""

    PLATFORM = "cursor"

    class Meta:
        db_table = "cursor_raw_traces"
        indexes = [
            models.Index(fields=["session_key", "seq"], name="cursor_raw_session"),
        ]


RAW_TRACE_MODELS: dict[str, type[RawTrace]] = {
    ClaudeRawTrace.PLATFORM: ClaudeRawTrace,
    CursorRawTrace.PLATFORM: CursorRawTrace,
}


class SessionProgress(models.Model):
    """Per session: the newest raw event stored, and how far the slow path has processed."""

    platform = models.CharField(max_length=16)
    session_id = models.CharField(max_length=256)
    raw_through_seq = models.BigIntegerField(default=0, help_text="Highest raw seq stored for the session")
    processed_seq = models.BigIntegerField(
        default=0, help_text="Watermark: raw seq the slow path has applied"
    )
    # A session whose catch-up fails is set aside (the others go on) and retried with backoff.
    failures = models.IntegerField(default=0, help_text="Failed catch-ups in a row (0: healthy)")
    last_error = models.CharField(max_length=500, blank=True, default="")
    retry_at = models.DateTimeField(null=True, blank=True, help_text="Not retried before this time")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "session_progress"
        constraints = [
            models.UniqueConstraint(fields=["platform", "session_id"], name="session_progress_key")
        ]
        verbose_name_plural = "session progress"

    def __str__(self) -> str:
        return f"{self.platform}:{self.session_id}"

    @property
    def waiting(self) -> bool:
        return self.raw_through_seq > self.processed_seq


# --- Derived data: written only by the slow path (telemetry.processing), read by every interface ------


class Project(models.Model):
    """A project, identified at capture by its git root: a salted hash of the root plus its folder name."""

    key = models.CharField(max_length=64, unique=True, help_text="Salted hash of the git root (or cwd)")
    name = models.CharField(max_length=255)

    UNKNOWN_KEY = "unknown"

    class Meta:
        db_table = "projects"

    def __str__(self) -> str:
        return self.name


class SessionStatus(models.TextChoices):
    ACTIVE = "active"
    ENDED = "ended"
    TIMED_OUT = "timed_out"


class Session(models.Model):
    """One assistant session: a Claude Code session, or a Cursor window session.

    The counters are recomputed from the session's turns, tool calls and code changes whenever the
    session changes, so they are never incremented twice."""

    platform = models.CharField(max_length=16)
    session_id = models.CharField(max_length=256)
    project = models.ForeignKey(Project, null=True, on_delete=models.SET_NULL, related_name="sessions")
    parent_session_id = models.CharField(max_length=256, blank=True, default="", help_text="Fork origin")
    git_branch = models.CharField(max_length=255, blank=True, default="")
    models_used = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=SessionStatus.choices, default=SessionStatus.ACTIVE)
    end_reason = models.CharField(max_length=64, blank=True, default="")
    started_at = models.DateTimeField(null=True)
    last_event_at = models.DateTimeField(null=True)
    ended_at = models.DateTimeField(null=True)
    prompts = models.IntegerField(default=0)
    assistant_messages = models.IntegerField(default=0)
    tool_calls = models.IntegerField(default=0)
    tool_failures = models.IntegerField(default=0)
    tool_rejections = models.IntegerField(default=0)
    tool_interruptions = models.IntegerField(default=0)
    api_errors = models.IntegerField(default=0)
    compactions = models.IntegerField(default=0)
    subagent_runs = models.IntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=16, decimal_places=8, default=0)
    lines_added = models.IntegerField(default=0)
    lines_removed = models.IntegerField(default=0)
    active_seconds = models.IntegerField(default=0)
    data_issues = models.IntegerField(default=0, help_text="Events that could not be fully understood")

    class Meta:
        db_table = "sessions"
        constraints = [models.UniqueConstraint(fields=["platform", "session_id"], name="session_key")]
        indexes = [models.Index(fields=["status", "last_event_at"], name="session_status_idle")]

    def __str__(self) -> str:
        return f"{self.platform}:{self.session_id}"


class Conversation(models.Model):
    """A conversation: a Claude Code session is one; a Cursor session can hold many (composers)."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="conversations")
    conversation_id = models.CharField(max_length=256)
    title = models.CharField(max_length=255, blank=True, default="")
    mode = models.CharField(max_length=32, blank=True, default="")
    started_at = models.DateTimeField(null=True)
    last_event_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "conversations"
        constraints = [
            models.UniqueConstraint(fields=["session", "conversation_id"], name="conversation_key")
        ]

    def __str__(self) -> str:
        return self.conversation_id


class TurnKind(models.TextChoices):
    USER_PROMPT = "user_prompt"
    ASSISTANT_RESPONSE = "assistant_response"
    COMPACTION = "compaction"
    SUBAGENT_RUN = "subagent_run"
    API_ERROR = "api_error"


class Turn(models.Model):
    """One step of a conversation: a prompt (sizes, not text), an assistant response (model, tokens,
    cost, stop reason, latency), a compaction, a sub-agent run or an API error. Tool calls are in
    ToolCall. `key` identifies the source thing (message id, record uuid) so re-derivation upserts."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="turns")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="turns")
    project = models.ForeignKey(Project, null=True, on_delete=models.SET_NULL, related_name="+")
    key = models.CharField(max_length=300)
    kind = models.CharField(max_length=32, choices=TurnKind.choices)
    timestamp = models.DateTimeField()
    hour = models.DateTimeField(help_text="UTC hour of the timestamp (rollup bucket)")
    model = models.CharField(max_length=128, blank=True, default="")
    stop_reason = models.CharField(max_length=64, blank=True, default="")
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    cache_write_1h_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=16, decimal_places=8, null=True)
    price_table = models.CharField(max_length=64, blank=True, default="")
    latency_ms = models.IntegerField(null=True, help_text="From the preceding prompt or tool result")
    chars = models.IntegerField(null=True, help_text="Prompt size in characters (text is not stored)")
    lines = models.IntegerField(null=True)
    agent_id = models.CharField(max_length=128, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "turns"
        constraints = [models.UniqueConstraint(fields=["session", "key"], name="turn_key")]
        indexes = [models.Index(fields=["hour", "model"], name="turn_hour_model")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"


class ToolStatus(models.TextChoices):
    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"
    REJECTED = "rejected"  # the user (or a permission rule) said no
    INTERRUPTED = "interrupted"  # the user stopped it while it ran


class ToolCall(models.Model):
    """A tool call, merged from hook events (Pre/PostToolUse, PostToolUseFailure) and transcript
    records (tool_use / tool_result) joined by the tool-use id, so it is counted once."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="tool_call_set")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="tool_calls")
    project = models.ForeignKey(Project, null=True, on_delete=models.SET_NULL, related_name="+")
    tool_use_id = models.CharField(max_length=128)
    tool_name = models.CharField(max_length=128, blank=True, default="")
    mcp_server = models.CharField(max_length=128, blank=True, default="")
    status = models.CharField(max_length=16, choices=ToolStatus.choices, default=ToolStatus.PENDING)
    error_type = models.CharField(max_length=128, blank=True, default="")
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)
    hour = models.DateTimeField(help_text="UTC hour of the call (rollup bucket)")
    duration_ms = models.IntegerField(null=True)
    message_key = models.CharField(
        max_length=300, blank=True, default="", help_text="Turn key of the request"
    )
    agent_id = models.CharField(max_length=128, blank=True, default="")
    seen_in_hooks = models.BooleanField(default=False)
    seen_in_transcript = models.BooleanField(default=False)

    class Meta:
        db_table = "tool_calls"
        constraints = [models.UniqueConstraint(fields=["session", "tool_use_id"], name="tool_call_key")]
        indexes = [models.Index(fields=["hour", "tool_name"], name="tool_call_hour_tool")]

    def __str__(self) -> str:
        return f"{self.tool_name} {self.tool_use_id}"


class ChangeStatus(models.TextChoices):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    REVERTED = "reverted"


class CodeChange(models.Model):
    """A change an AI edit made to a file: extension and line counts, never the code."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="code_changes")
    project = models.ForeignKey(Project, null=True, on_delete=models.SET_NULL, related_name="+")
    key = models.CharField(max_length=300, help_text="Tool-use id (+ file) or Cursor edit id")
    tool_name = models.CharField(max_length=128, blank=True, default="")
    file_extension = models.CharField(max_length=32, blank=True, default="")
    path_hash = models.CharField(max_length=64, blank=True, default="")
    lines_added = models.IntegerField(default=0)
    lines_removed = models.IntegerField(default=0)
    status = models.CharField(max_length=16, choices=ChangeStatus.choices, default=ChangeStatus.ACCEPTED)
    timestamp = models.DateTimeField()
    hour = models.DateTimeField()

    class Meta:
        db_table = "code_changes"
        constraints = [models.UniqueConstraint(fields=["session", "key"], name="code_change_key")]
        indexes = [models.Index(fields=["hour"], name="code_change_hour")]

    def __str__(self) -> str:
        return f"{self.file_extension} +{self.lines_added} -{self.lines_removed}"


class DataIssue(models.Model):
    """Bad or surprising input the slow path met (an unknown record kind, a tool result without its
    call, a missing field): recorded and counted, never fatal."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="issues")
    # The issue's identity within its session: a digest of the event's id, so every stored copy of one
    # event (a re-send with another timestamp is a second raw row) makes one issue, not two; for a tool
    # result whose call never came, a digest of its tool-use id.
    seq = models.BigIntegerField(help_text="Identity of the issue within its session (a digest)")
    event_seq = models.BigIntegerField(
        null=True, blank=True, help_text="Raw trace seq of the event it is about (its first stored copy)"
    )
    kind = models.CharField(max_length=64)
    detail = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        db_table = "data_issues"
        constraints = [models.UniqueConstraint(fields=["session", "seq", "kind"], name="data_issue_key")]

    def __str__(self) -> str:
        return f"{self.kind} at {self.seq}"


# --- Rollups per UTC hour: days in any time zone are sums of hours at query time ---------------------


class UsageHour(models.Model):
    """Assistant responses, tokens and cost per hour, platform, project and model."""

    hour = models.DateTimeField()
    platform = models.CharField(max_length=16)
    # Never null (NULLs would not collide in the unique key): events without a project use Project.UNKNOWN.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    model = models.CharField(max_length=128, blank=True, default="")
    messages = models.IntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=16, decimal_places=8, default=0)

    class Meta:
        db_table = "rollup_usage_hour"
        constraints = [
            models.UniqueConstraint(fields=["hour", "platform", "project", "model"], name="usage_hour_key")
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.model}"


class ToolHour(models.Model):
    """Tool calls per hour, platform, project and tool: outcomes and a latency histogram (fixed
    log-spaced buckets, see processing.rollups), so percentiles of any span come from summed hours."""

    hour = models.DateTimeField()
    platform = models.CharField(max_length=16)
    # Never null (NULLs would not collide in the unique key): events without a project use Project.UNKNOWN.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    tool_name = models.CharField(max_length=128)
    calls = models.IntegerField(default=0)
    failures = models.IntegerField(default=0)
    rejections = models.IntegerField(default=0)
    interruptions = models.IntegerField(default=0)
    duration_ms_sum = models.BigIntegerField(default=0)
    duration_histogram = models.JSONField(default=list)

    class Meta:
        db_table = "rollup_tool_hour"
        constraints = [
            models.UniqueConstraint(fields=["hour", "platform", "project", "tool_name"], name="tool_hour_key")
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.tool_name}"


class ActivityHour(models.Model):
    """Prompts, sessions, code changes and active time per hour, platform and project."""

    hour = models.DateTimeField()
    platform = models.CharField(max_length=16)
    # Never null (NULLs would not collide in the unique key): events without a project use Project.UNKNOWN.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    sessions = models.IntegerField(default=0, help_text="Sessions with any event in the hour")
    prompts = models.IntegerField(default=0)
    api_errors = models.IntegerField(default=0)
    lines_added = models.IntegerField(default=0)
    lines_removed = models.IntegerField(default=0)
    edits_accepted = models.IntegerField(default=0)
    edits_rejected = models.IntegerField(default=0)
    active_seconds = models.IntegerField(default=0)

    class Meta:
        db_table = "rollup_activity_hour"
        constraints = [
            models.UniqueConstraint(fields=["hour", "platform", "project"], name="activity_hour_key")
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h"
