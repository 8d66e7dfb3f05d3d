"""Rollups per UTC hour: days in any time zone are sums of hours at query time (docs/metrics.md)."""

from django.db import models

from ..scope import ScopedManager
from .derived import Project


class UsageHour(models.Model):
    """Assistant responses, tokens and cost per hour, platform, project and model."""

    SCOPE = "user"  # what a person's token sees of it (telemetry/scope.py)

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
    responses_without_tokens = models.IntegerField(
        default=0, help_text="Of `messages`, those whose tokens the assistant did not record (Cursor)"
    )
    # Turn.source: transcript, otel, both, conflict ("" for Cursor). Part of the key, so totals split by
    # provenance and sums over every source count each call once.
    source = models.CharField(max_length=16, blank=True, default="")

    # Who and where (docs/team.md): the user and machine of the bucket's sessions, "" for this install's
    # own capture. Part of the key, so a team server's totals split by person and machine.
    user = models.CharField(max_length=150, blank=True, default="")
    machine = models.CharField(max_length=64, blank=True, default="")

    objects = ScopedManager()

    class Meta:
        db_table = "rollup_usage_hour"
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "platform", "project", "model", "source", "user", "machine"],
                name="usage_hour_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.model}"


class ToolHour(models.Model):
    """Tool calls per hour, platform, project and tool: outcomes and a latency histogram (fixed
    log-spaced buckets, see processing.rollups), so percentiles of any span come from summed hours."""

    SCOPE = "user"  # what a person's token sees of it (telemetry/scope.py)

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

    # Who and where (docs/team.md): the user and machine of the bucket's sessions, "" for this install's
    # own capture. Part of the key, so a team server's totals split by person and machine.
    user = models.CharField(max_length=150, blank=True, default="")
    machine = models.CharField(max_length=64, blank=True, default="")

    objects = ScopedManager()

    class Meta:
        db_table = "rollup_tool_hour"
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "platform", "project", "tool_name", "user", "machine"], name="tool_hour_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.tool_name}"


class ActivityHour(models.Model):
    """Prompts, sessions, code changes and active time per hour, platform and project."""

    SCOPE = "user"  # what a person's token sees of it (telemetry/scope.py)

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
    # From Claude Code's OpenTelemetry export (MetricPoint deltas and llm_request spans).
    api_retries = models.IntegerField(default=0)
    otel_active_seconds = models.DecimalField(max_digits=16, decimal_places=3, default=0)
    otel_lines_added = models.BigIntegerField(default=0)
    otel_lines_removed = models.BigIntegerField(default=0)
    otel_edit_accepts = models.BigIntegerField(default=0)
    otel_edit_rejects = models.BigIntegerField(default=0)

    # Who and where (docs/team.md): the user and machine of the bucket's sessions, "" for this install's
    # own capture. Part of the key, so a team server's totals split by person and machine.
    user = models.CharField(max_length=150, blank=True, default="")
    machine = models.CharField(max_length=64, blank=True, default="")

    objects = ScopedManager()

    class Meta:
        db_table = "rollup_activity_hour"
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "platform", "project", "user", "machine"], name="activity_hour_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h"
