"""Derived data: written only by the slow path (telemetry.processing), read by every interface through
telemetry.selectors. Every row can be rebuilt from the raw traces (`manage.py rebuild`)."""

from django.db import models

from ..scope import ScopedManager


class Project(models.Model):
    """A project, identified at capture by its git root: a salted hash of the root plus its folder name."""

    SCOPE = "project"  # what a person's token sees of it (telemetry/scope.py)

    key = models.CharField(max_length=64, unique=True, help_text="Salted hash of the git root (or cwd)")
    name = models.CharField(max_length=255)

    UNKNOWN_KEY = "unknown"

    objects = ScopedManager()

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

    SCOPE = "session"  # what a person's token sees of it (telemetry/scope.py)

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
    responses_without_tokens = models.IntegerField(
        default=0, help_text="Assistant responses whose tokens the assistant did not record (Cursor)"
    )
    # From Claude Code's OpenTelemetry export (docs/metrics.md, "one ledger with provenance"); the
    # otel_* figures are null while the session has no OTel metric point.
    api_retries = models.IntegerField(default=0, help_text="API request attempts after the first")
    otel_gaps = models.IntegerField(
        default=0, help_text="OTel log records possibly lost (missing event.sequence numbers)"
    )
    otel_active_seconds = models.DecimalField(
        max_digits=16, decimal_places=3, null=True, blank=True, help_text="Claude Code's own active time"
    )
    otel_lines_added = models.BigIntegerField(null=True, blank=True)
    otel_lines_removed = models.BigIntegerField(null=True, blank=True)
    otel_edit_accepts = models.BigIntegerField(null=True, blank=True)
    otel_edit_rejects = models.BigIntegerField(null=True, blank=True)
    # Who and where (docs/team.md): the envelope's user_id and machine_id, set by the team server's
    # ingest; "" for this install's own capture.
    user = models.CharField(max_length=150, blank=True, default="")
    machine = models.CharField(max_length=64, blank=True, default="")

    objects = ScopedManager()

    class Meta:
        db_table = "sessions"
        constraints = [models.UniqueConstraint(fields=["platform", "session_id"], name="session_key")]
        indexes = [
            models.Index(fields=["status", "last_event_at"], name="session_status_idle"),
            models.Index(fields=["user", "machine"], name="session_user_machine"),
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.session_id}"


class Conversation(models.Model):
    """A conversation: a Claude Code session is one; a Cursor session can hold many (composers)."""

    SCOPE = "session_fk"  # what a person's token sees of it (telemetry/scope.py)

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="conversations")
    conversation_id = models.CharField(max_length=256)
    title = models.CharField(max_length=255, blank=True, default="")
    mode = models.CharField(max_length=32, blank=True, default="")
    started_at = models.DateTimeField(null=True)
    last_event_at = models.DateTimeField(null=True)
    archived = models.BooleanField(default=False)
    # The assistant's own totals for the conversation where it keeps them (Cursor's composer), which
    # can hold edits no single event reported; None: not recorded.
    lines_added = models.IntegerField(null=True, blank=True)
    lines_removed = models.IntegerField(null=True, blank=True)
    # Which revision of the assistant's record the fields above come from (Cursor: the composer's
    # last-updated time, zero-padded, then its revision id), so a catch-up keeps the newest whatever
    # order revisions arrive in. "" while none was seen.
    revision = models.CharField(max_length=64, blank=True, default="")

    objects = ScopedManager()

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
    RATE_LIMITS = "rate_limits"  # the official limits a status line saw (detail holds them)
    # Cursor: the start of a turn (a generation record) whose prompt has not been recorded: it becomes
    # the user_prompt once that is seen, and is never counted as a turn itself.
    GENERATION = "generation"


class Turn(models.Model):
    """One step of a conversation: a prompt (sizes, not text), an assistant response (model, tokens,
    cost, stop reason, latency), a compaction, a sub-agent run, an API error, or the official rate
    limits the status line saw. Tool calls are in
    ToolCall. `key` identifies the source thing (message id, record uuid) so re-derivation upserts."""

    SCOPE = "session_fk"  # what a person's token sees of it (telemetry/scope.py)

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
    tokens_known = models.BooleanField(
        default=True, help_text="False: the assistant did not record this response's tokens (not zero)"
    )
    request_id = models.CharField(max_length=128, blank=True, default="", help_text="The API request id")
    source = models.CharField(
        max_length=16,
        blank=True,
        default="",
        help_text="Where the usage numbers come from: transcript, otel, both (agreeing) or conflict "
        "(both, tokens differ: the transcript's count); empty for turns without usage and for Cursor",
    )
    otel_usage = models.JSONField(
        null=True, blank=True, help_text="OpenTelemetry's own reading of this API call (tokens, cost_usd)"
    )

    objects = ScopedManager()

    class Meta:
        db_table = "turns"
        constraints = [models.UniqueConstraint(fields=["session", "key"], name="turn_key")]
        indexes = [
            models.Index(fields=["hour", "model"], name="turn_hour_model"),
            models.Index(fields=["request_id"], name="turn_request"),
        ]

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

    SCOPE = "session_fk"  # what a person's token sees of it (telemetry/scope.py)

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
    error_hash = models.CharField(
        max_length=16, blank=True, default="", help_text="Hash of the error's text, so equal errors group"
    )
    error_text = models.CharField(
        max_length=200, blank=True, default="", help_text="Start of the error's text, only if content is kept"
    )
    target_hash = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Salted hash of what the call acted on (command, path, MCP input): joins Cursor's hook "
        "reports of a call to its database record",
    )
    seen_in_otel = models.BooleanField(default=False)
    decision = models.CharField(
        max_length=16, blank=True, default="", help_text="accept or reject (Claude Code's tool_decision)"
    )
    decision_source = models.CharField(
        max_length=32, blank=True, default="", help_text="Who decided: config, user_temporary, hook, ..."
    )
    otel_duration_ms = models.BigIntegerField(null=True, blank=True, help_text="Claude Code's own run time")

    objects = ScopedManager()

    class Meta:
        db_table = "tool_calls"
        constraints = [models.UniqueConstraint(fields=["session", "tool_use_id"], name="tool_call_key")]
        indexes = [models.Index(fields=["hour", "tool_name"], name="tool_call_hour_tool")]

    def __str__(self) -> str:
        return f"{self.tool_name} {self.tool_use_id}"


class MetricTemporality(models.TextChoices):
    DELTA = "delta"
    CUMULATIVE = "cumulative"
    GAUGE = "gauge"


class MetricPoint(models.Model):
    """One data point of a Claude Code OpenTelemetry metric, as exported (docs/metrics.md): the series
    behind OTel's active time, lines of code, edit decisions and the cross-check totals of tokens and
    cost. `delta` is what the point adds, whatever the temporality, so totals are sums of it."""

    SCOPE = "session_fk"  # what a person's token sees of it (telemetry/scope.py)

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="metric_points")
    project = models.ForeignKey(Project, null=True, on_delete=models.SET_NULL, related_name="+")
    key = models.CharField(max_length=300, help_text="The point's identity (its event id)")
    name = models.CharField(max_length=128)
    model = models.CharField(max_length=128, blank=True, default="")
    kind = models.CharField(max_length=64, blank=True, default="", help_text="Its type or decision attribute")
    attributes = models.JSONField(default=dict, blank=True, help_text="The other point attributes")
    series = models.CharField(max_length=64, help_text="Digest of name, attributes and start time")
    temporality = models.CharField(max_length=16, choices=MetricTemporality.choices)
    start_time = models.DateTimeField(null=True)
    time = models.DateTimeField()
    hour = models.DateTimeField(help_text="UTC hour of `time` (rollup bucket)")
    value = models.DecimalField(max_digits=30, decimal_places=9)
    delta = models.DecimalField(max_digits=30, decimal_places=9, null=True)

    objects = ScopedManager()

    class Meta:
        db_table = "metric_points"
        constraints = [models.UniqueConstraint(fields=["session", "key"], name="metric_point_key")]
        indexes = [models.Index(fields=["hour", "name"], name="metric_point_hour")]

    def __str__(self) -> str:
        return f"{self.name} {self.kind} {self.value}"


class OtelSequence(models.Model):
    """An OpenTelemetry log record's place in its Claude Code process's numbering (event time and
    `event.sequence`), from which the slow path counts possibly lost records (Session.otel_gaps).
    Keyed by the session's id, not its row: records that make no session (the throwaway id of
    `--continue`) still hold numbers of the process, and a session's row may come later."""

    SCOPE = "session_key"  # what a person's token sees of it (telemetry/scope.py)

    platform = models.CharField(max_length=32)
    session_id = models.CharField(max_length=256)
    time = models.DateTimeField()
    sequence = models.BigIntegerField()

    objects = ScopedManager()

    class Meta:
        db_table = "otel_sequences"
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "session_id", "time", "sequence"], name="otel_sequence_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.session_id} {self.time} #{self.sequence}"


class ChangeStatus(models.TextChoices):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    REVERTED = "reverted"


class CodeChange(models.Model):
    """A change an AI edit made to a file: extension and line counts, never the code."""

    SCOPE = "session_fk"  # what a person's token sees of it (telemetry/scope.py)

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

    objects = ScopedManager()

    class Meta:
        db_table = "code_changes"
        constraints = [models.UniqueConstraint(fields=["session", "key"], name="code_change_key")]
        indexes = [models.Index(fields=["hour"], name="code_change_hour")]

    def __str__(self) -> str:
        return f"{self.file_extension} +{self.lines_added} -{self.lines_removed}"


class DataIssue(models.Model):
    """Bad or surprising input the slow path met (an unknown record kind, a tool result without its
    call, a missing field): recorded and counted, never fatal."""

    SCOPE = "session_fk"  # what a person's token sees of it (telemetry/scope.py)

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

    objects = ScopedManager()

    class Meta:
        db_table = "data_issues"
        constraints = [models.UniqueConstraint(fields=["session", "seq", "kind"], name="data_issue_key")]
        # Counts by kind (the API's summary) read this index, up to a cap per kind, never the table.
        indexes = [models.Index(fields=["kind", "id"], name="data_issue_kind")]

    def __str__(self) -> str:
        return f"{self.kind} at {self.seq}"


class AiCommit(models.Model):
    """A commit Cursor scored (ai-code-tracking.db `scored_commits`): how many of its lines the AI
    (Tab completions, the composer) and the human wrote. The same commit scored on two branches is two
    rows; totals count a commit once."""

    SCOPE = "nobody"  # what a person's token sees of it (telemetry/scope.py)

    commit_hash = models.CharField(max_length=64)
    branch = models.CharField(max_length=255)
    scored_at = models.DateTimeField()
    hour = models.DateTimeField(help_text="UTC hour of scored_at")
    commit_date = models.DateTimeField(null=True, blank=True)
    lines_added = models.IntegerField(null=True)
    lines_deleted = models.IntegerField(null=True)
    tab_lines_added = models.IntegerField(null=True)
    tab_lines_deleted = models.IntegerField(null=True)
    composer_lines_added = models.IntegerField(null=True)
    composer_lines_deleted = models.IntegerField(null=True)
    human_lines_added = models.IntegerField(null=True)
    human_lines_deleted = models.IntegerField(null=True)
    blank_lines_added = models.IntegerField(null=True)
    blank_lines_deleted = models.IntegerField(null=True)
    v1_ai_percentage = models.DecimalField(max_digits=7, decimal_places=2, null=True)
    v2_ai_percentage = models.DecimalField(max_digits=7, decimal_places=2, null=True)

    objects = ScopedManager()

    class Meta:
        db_table = "ai_commits"
        constraints = [models.UniqueConstraint(fields=["commit_hash", "branch"], name="ai_commit_key")]
        indexes = [models.Index(fields=["hour"], name="ai_commit_hour")]

    def __str__(self) -> str:
        return f"{self.commit_hash[:12]} on {self.branch}"


class AiCodeLine(models.Model):
    """A fragment of code Cursor recorded as AI-generated (ai-code-tracking.db `ai_code_hashes`), by
    its own hash: where it came from (composer, tab, ...), the model, the file's extension (never its
    name or content) and the conversation, when Cursor recorded one."""

    SCOPE = "session_fk"  # what a person's token sees of it (telemetry/scope.py)

    hash = models.CharField(max_length=128, unique=True)
    session = models.ForeignKey(Session, null=True, on_delete=models.SET_NULL, related_name="ai_code_lines")
    source = models.CharField(max_length=32, blank=True, default="")
    model = models.CharField(max_length=128, blank=True, default="")
    file_extension = models.CharField(max_length=32, blank=True, default="")
    request_id = models.CharField(max_length=128, blank=True, default="")
    created_at = models.DateTimeField()
    hour = models.DateTimeField()

    objects = ScopedManager()

    class Meta:
        db_table = "ai_code_lines"
        indexes = [models.Index(fields=["hour", "source"], name="ai_code_line_hour")]

    def __str__(self) -> str:
        return f"{self.source} {self.file_extension}"
