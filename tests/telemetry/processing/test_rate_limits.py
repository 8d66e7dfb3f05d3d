"""The status line's official rate limits as facts (telemetry.processing.claude._rate_limit_facts): one
`rate_limits` turn keyed by the figures, integers only, and what is not a figure left out."""

import pytest

from telemetry.processing.claude import claude_facts
from telemetry.processing.facts import IssueFact, TurnFact


def event(rate_limits: object) -> dict:
    return {"event_id": "cc:statusline:x", "platform": "claude_code", "source": "hook", "event_type": "StatusLine",
            "session_id": "s1", "timestamp": "2026-12-06T10:00:00.000000Z",
            "payload": {"session_id": "s1", "rate_limits": rate_limits}}  # fmt: skip


def test_the_windows_become_one_turn_keyed_by_its_figures():
    facts = claude_facts(seq=1, event=event({"five_hour": {"used_percentage": 42.5, "resets_at": 1796590800},
                                             "seven_day": {"used_percentage": 13, "resets_at": 1797120000}}))  # fmt: skip
    (turn,) = [f for f in facts if isinstance(f, TurnFact)]
    assert turn.kind == "rate_limits"
    assert turn.detail == {"five_hour_used_bp": 4250, "five_hour_resets_at": 1796590800,
                           "seven_day_used_bp": 1300, "seven_day_resets_at": 1797120000}  # fmt: skip
    again = claude_facts(seq=2, event=event({"seven_day": {"used_percentage": 13, "resets_at": 1797120000},
                                             "five_hour": {"used_percentage": 42.5, "resets_at": 1796590800}}))  # fmt: skip
    assert [f.key for f in again if isinstance(f, TurnFact)] == [turn.key]


@pytest.mark.parametrize(
    "rate_limits",
    [None, [], {"five_hour": "42%"}, {"five_hour": {"used_percentage": True, "resets_at": 1}},
     {"five_hour": {"used_percentage": 1e300, "resets_at": 1}}, {"five_hour": {"used_percentage": 5, "resets_at": 2**64}},
     {"five_hour": {"used_percentage": -1, "resets_at": 1}}, {"spend_limit": {"used_percentage": 5, "resets_at": 1}}],
    ids=["none", "list", "text", "bool", "huge", "past-64-bits", "negative", "spend-limit-only"],
)  # fmt: skip
def test_what_is_not_a_figure_is_a_data_issue(rate_limits):
    facts = claude_facts(seq=1, event=event(rate_limits))
    assert not [f for f in facts if isinstance(f, TurnFact)]
    assert [f for f in facts if isinstance(f, IssueFact)]
