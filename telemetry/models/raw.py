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

from ..scope import ScopedManager


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

    SCOPE = "session_key"  # what a person's token sees of it (telemetry/scope.py)

    id = models.BigAutoField(primary_key=True)
    platform = models.CharField(max_length=16)
    session_id = models.CharField(max_length=256)
    codec = models.ForeignKey(RawCodec, on_delete=models.PROTECT, db_constraint=False, related_name="+")
    n_events = models.IntegerField()
    raw_bytes = models.BigIntegerField(help_text="Size of the events before compression")
    created_ms = models.BigIntegerField(help_text="When the unit was written (epoch ms)")
    sealed = models.BooleanField(default=False, help_text="Re-packed; the re-packer leaves it alone")
    body = models.BinaryField()

    objects = ScopedManager()

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

    SCOPE = "raw_trace"  # what a person's token sees of it (telemetry/scope.py)

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

    objects = ScopedManager()

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

    SCOPE = "session_key"  # what a person's token sees of it (telemetry/scope.py)

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

    objects = ScopedManager()

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
