"""The official rate limits: what Claude Code reported to the status line for a subscription account
(the 5-hour and 7-day windows' use and reset), the only official limit figures on the machine.

Recorded by blueplane/statusline.py as events, derived by the slow path into `rate_limits` turns
(telemetry.processing.claude._rate_limit_facts). Blueplane's own estimates are the 5-hour blocks
(blocks.py).
"""

from datetime import UTC, datetime
from typing import TypedDict

from ..models import Turn, TurnKind
from ..processing.claude import RATE_LIMIT_WINDOWS


class RateLimitWindow(TypedDict):
    used_percentage: float
    resets_at: datetime


class RateLimits(TypedDict):
    observed_at: datetime
    session_id: str
    five_hour: RateLimitWindow | None
    seven_day: RateLimitWindow | None


def rate_limits_latest() -> RateLimits | None:
    """The latest observation of the official limits, or None when none was ever recorded."""
    turn = (
        Turn.objects.filter(kind=TurnKind.RATE_LIMITS)
        .select_related("session")
        .order_by("-timestamp", "-id")
        .first()
    )
    if turn is None:
        return None
    windows = {}
    for name in RATE_LIMIT_WINDOWS:
        used, resets = turn.detail.get(f"{name}_used_bp"), turn.detail.get(f"{name}_resets_at")
        windows[name] = (
            RateLimitWindow(used_percentage=used / 100, resets_at=datetime.fromtimestamp(resets, UTC))
            if isinstance(used, int) and isinstance(resets, int)
            else None
        )
    return RateLimits(observed_at=turn.timestamp, session_id=turn.session.session_id, **windows)
