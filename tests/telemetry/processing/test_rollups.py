"""Hourly rollups recomputed from hand-made derived rows: sums, histograms, active time, idempotence."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from telemetry.models import (
    ActivityHour,
    ChangeStatus,
    CodeChange,
    Conversation,
    Project,
    Session,
    ToolCall,
    ToolHour,
    ToolStatus,
    Turn,
    TurnKind,
    UsageHour,
)
from telemetry.processing import histograms, rollups

pytestmark = pytest.mark.django_db

H = datetime(2025, 10, 20, 8, tzinfo=UTC)


class World:
    """Builds derived rows the way the catch-up would, with hour buckets filled in."""

    def __init__(self) -> None:
        self.n = 0

    def session(
        self, sid: str = "s1", project: Project | None = None, platform: str = "claude_code"
    ) -> Session:
        s = Session.objects.create(platform=platform, session_id=sid, project=project)
        Conversation.objects.create(session=s, conversation_id=sid)
        return s

    def turn(self, s: Session, at: datetime, kind: str = TurnKind.ASSISTANT_RESPONSE, **kw) -> Turn:
        self.n += 1
        return Turn.objects.create(
            session=s,
            conversation=s.conversations.get(),
            project=s.project,
            key=f"t{self.n}",
            kind=kind,
            timestamp=at,
            hour=rollups.hour_floor(at),
            **kw,
        )

    def tool(self, s: Session, at: datetime, name: str = "Bash", ms: int | None = 100, **kw) -> ToolCall:
        self.n += 1
        return ToolCall.objects.create(
            session=s,
            conversation=s.conversations.get(),
            project=s.project,
            tool_use_id=f"u{self.n}",
            tool_name=name,
            status=kw.pop("status", ToolStatus.SUCCESS),
            started_at=at,
            finished_at=None if ms is None else at + timedelta(milliseconds=ms),
            hour=rollups.hour_floor(at),
            duration_ms=ms,
            **kw,
        )

    def change(
        self, s: Session, at: datetime, added: int, removed: int, status=ChangeStatus.ACCEPTED
    ) -> CodeChange:
        self.n += 1
        return CodeChange.objects.create(
            session=s,
            project=s.project,
            key=f"c{self.n}",
            lines_added=added,
            lines_removed=removed,
            status=status,
            timestamp=at,
            hour=rollups.hour_floor(at),
        )


def refresh_all() -> None:
    for platform, (hours, pids) in rollups.rollup_buckets_all().items():
        rollups.rollups_refresh(hours=hours, project_ids=pids, platform=platform)


def dump() -> dict[str, list]:
    return {
        "usage": list(
            UsageHour.objects.order_by("hour", "platform", "project__key", "model").values_list(
                "hour",
                "platform",
                "project__key",
                "model",
                "messages",
                "input_tokens",
                "output_tokens",
                "cache_write_tokens",
                "cache_read_tokens",
                "cost_usd",
            )
        ),
        "tools": list(
            ToolHour.objects.order_by("hour", "platform", "project__key", "tool_name").values_list(
                "hour",
                "platform",
                "project__key",
                "tool_name",
                "calls",
                "failures",
                "rejections",
                "interruptions",
                "duration_ms_sum",
                "duration_histogram",
            )
        ),
        "activity": list(
            ActivityHour.objects.order_by("hour", "platform", "project__key").values_list(
                "hour",
                "platform",
                "project__key",
                "sessions",
                "prompts",
                "api_errors",
                "lines_added",
                "lines_removed",
                "edits_accepted",
                "edits_rejected",
                "active_seconds",
            )
        ),
    }


def test_usage_sums_tokens_and_cost_per_model_and_hour():
    w = World()
    proj = Project.objects.create(key="p1", name="one")
    s = w.session(project=proj)
    w.turn(
        s,
        H + timedelta(minutes=1),
        model="opus",
        input_tokens=10,
        output_tokens=5,
        cost_usd=Decimal("0.10000001"),
    )
    w.turn(
        s, H + timedelta(minutes=2), model="opus", input_tokens=1, output_tokens=2, cost_usd=Decimal("0.2")
    )
    w.turn(s, H + timedelta(minutes=3), model="haiku", input_tokens=7, cache_read_tokens=70)
    w.turn(s, H + timedelta(hours=1), model="opus", input_tokens=100)
    w.turn(s, H + timedelta(minutes=4), kind=TurnKind.USER_PROMPT, chars=12)  # not a message

    rollups.rollups_refresh(hours={H, H + timedelta(hours=1)}, project_ids={proj.id}, platform="claude_code")

    rows = {(r.hour, r.model): r for r in UsageHour.objects.all()}
    assert rows[(H, "opus")].messages == 2
    assert rows[(H, "opus")].input_tokens == 11
    assert rows[(H, "opus")].cost_usd == Decimal("0.30000001")
    assert rows[(H, "haiku")].cache_read_tokens == 70
    assert rows[(H + timedelta(hours=1), "opus")].input_tokens == 100
    assert all(r.project_id == proj.id and r.platform == "claude_code" for r in rows.values())


def test_rows_without_project_count_under_the_unknown_project():
    w = World()
    s = w.session(project=None)
    w.turn(s, H, model="opus", input_tokens=3)
    rollups.rollups_refresh(hours={H}, project_ids={None}, platform="claude_code")
    row = UsageHour.objects.get()
    assert row.project.key == Project.UNKNOWN_KEY
    assert row.input_tokens == 3


def test_refresh_twice_or_in_any_order_gives_the_same_rows():
    w = World()
    s = w.session()
    for i in range(5):
        w.turn(s, H + timedelta(minutes=10 * i), model="opus", input_tokens=i)
        w.tool(s, H + timedelta(minutes=10 * i, seconds=5), ms=10 * (i + 1))
    w.change(s, H + timedelta(minutes=7), 5, 1)
    refresh_all()
    first = dump()
    refresh_all()
    rollups.rollups_refresh(hours={H}, project_ids={None}, platform="claude_code")
    assert dump() == first


def test_refresh_replaces_a_bucket_after_rows_change():
    w = World()
    s = w.session()
    t = w.turn(s, H, model="opus", input_tokens=3)
    refresh_all()
    t.delete()
    rollups.rollups_refresh(hours={H}, project_ids={None}, platform="claude_code")
    assert not UsageHour.objects.exists()


def test_tool_hours_count_outcomes_and_keep_a_latency_histogram():
    w = World()
    s = w.session()
    for ms in (5, 50, 500, 5000):
        w.tool(s, H + timedelta(minutes=1), "Read", ms=ms)
    w.tool(s, H + timedelta(minutes=2), "Read", ms=None, status=ToolStatus.INTERRUPTED)
    w.tool(s, H + timedelta(minutes=2), "Read", ms=20, status=ToolStatus.FAILURE)
    w.tool(s, H + timedelta(minutes=3), "Bash", ms=1, status=ToolStatus.REJECTED)
    refresh_all()
    read = ToolHour.objects.get(tool_name="Read")
    assert (read.calls, read.failures, read.interruptions, read.rejections) == (6, 1, 1, 0)
    assert read.duration_ms_sum == 5575
    assert sum(read.duration_histogram) == 5
    assert ToolHour.objects.get(tool_name="Bash").rejections == 1


def test_histogram_percentiles_are_within_a_bucket_of_the_truth():
    durations = list(range(1, 10_001))
    hist = histograms.histogram_of(durations)
    for q, truth in ((0.5, 5000), (0.95, 9500), (0.99, 9900)):
        got = histograms.histogram_percentile(hist, q)
        assert truth / 1.26 <= got <= truth * 1.26
    assert histograms.histogram_percentile([], 0.5) is None
    # summed hours give the percentiles of the whole span
    a, b = histograms.histogram_of([10] * 90), histograms.histogram_of([1000] * 10)
    total = histograms.histogram_add(list(a), b)
    assert (
        histograms.histogram_percentile(total, 0.5) < 15 < 800 < histograms.histogram_percentile(total, 0.95)
    )


def test_latency_buckets_are_log_spaced_and_open_ended():
    assert histograms.latency_bucket(0) == 0
    assert histograms.latency_bucket(1) == 0
    assert histograms.latency_bucket(1.1) == 1
    assert histograms.latency_bucket(10) == 10
    assert histograms.latency_bucket(10**6) == 60
    assert histograms.latency_bucket(10**9) == 61 == histograms.LATENCY_BUCKETS - 1


def test_active_time_caps_each_gap_at_five_minutes():
    times = [H, H + timedelta(minutes=1), H + timedelta(minutes=31), H + timedelta(minutes=32)]
    assert rollups.active_seconds(times) == 60 + 300 + 60
    assert rollups.active_seconds([H]) == 0


def test_activity_splits_active_time_at_hour_edges_and_counts_sessions():
    w = World()
    s1, s2 = w.session("s1"), w.session("s2")
    # s1: 08:58 -> 09:02 is 4 minutes of activity, 2 in each hour
    w.turn(s1, H + timedelta(minutes=58), kind=TurnKind.USER_PROMPT)
    w.turn(s1, H + timedelta(minutes=62), model="opus")
    w.turn(s2, H + timedelta(minutes=10), kind=TurnKind.API_ERROR)
    w.change(s2, H + timedelta(minutes=11), 10, 2)
    w.change(s2, H + timedelta(minutes=12), 3, 3, status=ChangeStatus.REJECTED)
    refresh_all()
    first = ActivityHour.objects.get(hour=H)
    second = ActivityHour.objects.get(hour=H + timedelta(hours=1))
    assert first.active_seconds == 120 + 120  # s1's 2 minutes + s2's 10:10 -> 10:12
    assert second.active_seconds == 120
    assert (first.sessions, second.sessions) == (2, 1)
    assert (first.prompts, first.api_errors) == (1, 1)
    assert (first.lines_added, first.lines_removed, first.edits_accepted, first.edits_rejected) == (
        13,
        5,
        1,
        1,
    )


def test_an_event_refreshes_active_time_of_the_previous_hour_too():
    w = World()
    s = w.session()
    w.turn(s, H + timedelta(minutes=58), kind=TurnKind.USER_PROMPT)
    refresh_all()
    assert ActivityHour.objects.get(hour=H).active_seconds == 0
    w.turn(s, H + timedelta(minutes=61), model="opus")  # the catch-up names only the new hour
    rollups.rollups_refresh(hours={H + timedelta(hours=1)}, project_ids={None}, platform="claude_code")
    assert ActivityHour.objects.get(hour=H).active_seconds == 120


def test_platforms_are_separate_buckets():
    w = World()
    w.turn(w.session("a"), H, model="opus", input_tokens=1)
    w.turn(w.session("b", platform="cursor"), H, model="gpt", input_tokens=2)
    rollups.rollups_refresh(hours={H}, project_ids={None}, platform="cursor")
    assert list(UsageHour.objects.values_list("platform", "input_tokens")) == [("cursor", 2)]
