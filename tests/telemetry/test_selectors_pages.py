"""Selectors the dashboard's sessions, session and tools pages added (telemetry/selectors: sessions.py,
traces.py, tools.py), over the real corpus stored and derived by the real pipeline."""

from datetime import date

import pytest

from telemetry.selectors import sessions, traces
from telemetry.selectors.spans import LocalDays
from telemetry.selectors.tools import tool_failures_by_day, tool_stats
from tests.api.resources_support import FAILURES, SUBAGENT

pytestmark = pytest.mark.django_db
CLAUDE = "claude_code"


def test_session_trace_is_only_the_sessions_own(corpus) -> None:
    seq = traces.trace_list(platform=CLAUDE, session_id=FAILURES).values_list("seq", flat=True).first()
    assert traces.session_trace(platform=CLAUDE, session_id=FAILURES, seq=seq).seq == seq
    assert traces.session_trace(platform=CLAUDE, session_id=SUBAGENT, seq=seq) is None
    assert traces.session_trace(platform=CLAUDE, session_id=FAILURES, seq=2**64) is None
    assert traces.session_trace(platform=CLAUDE, session_id=FAILURES, seq=-(2**70)) is None


def test_traces_between_are_the_sessions_in_time_order(corpus) -> None:
    rows = list(traces.trace_list(platform=CLAUDE, session_id=FAILURES))
    lo, hi = min(r.ts_ms for r in rows), max(r.ts_ms for r in rows)
    found = traces.session_traces_between(
        platform=CLAUDE, session_id=FAILURES, start_ms=lo, end_ms=hi + 1, limit=10_000
    )
    assert sorted(t.seq for t in found) == sorted(r.seq for r in rows)
    assert [t.ts_ms for t in found] == sorted(t.ts_ms for t in found)
    assert len(traces.session_traces_between(platform=CLAUDE, session_id=FAILURES, start_ms=lo, end_ms=hi + 1,
                                             limit=3)) == 3  # fmt: skip
    after = traces.session_traces_between(
        platform=CLAUDE, session_id=FAILURES, start_ms=hi + 1, end_ms=hi + 9, limit=5
    )
    assert after == []
    body = traces.trace_bytes(trace=found[0])
    assert body.startswith(b"{") and FAILURES.encode() in body


def test_sessions_filtered_combines_the_filters(corpus) -> None:
    every = sessions.sessions_filtered()
    failures = every.get(session_id=FAILURES)
    model = failures.models_used[0]
    hits = sessions.sessions_filtered(
        platform=CLAUDE, project=failures.project.name, branch=failures.git_branch, model=model,
        status=failures.status, start=failures.started_at, end=failures.last_event_at,
    )  # fmt: skip
    assert FAILURES in {s.session_id for s in hits}
    assert not sessions.sessions_filtered(branch="no-such-branch").exists()
    assert not sessions.sessions_filtered(platform="cursor").exists()
    assert all(s.tokens is not None for s in every)


def test_tool_failures_by_day_sum_to_the_tool_stats(corpus) -> None:
    days = LocalDays(date(2000, 1, 1), date(2100, 1, 1), "America/Los_Angeles")
    rows = tool_failures_by_day(days=days)
    stats = tool_stats(start=days.start, end=days.end)
    assert sum(r["failures"] for r in rows) == sum(
        t["failures"] + t["rejections"] + t["interruptions"] for t in stats
    )
    assert all(r["failures"] > 0 for r in rows)
    assert tool_failures_by_day(days=days, platform="cursor") == []
    calendar = tool_failures_by_day(days=LocalDays(date(1, 1, 1), date(9999, 12, 31)))  # its two ends
    assert sum(r["failures"] for r in calendar) == sum(r["failures"] for r in rows)
