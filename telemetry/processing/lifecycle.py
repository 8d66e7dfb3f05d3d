"""Session lifecycle: closing sessions that went quiet.

Rule: a session that is still `active` and whose last event is older than the idle timeout
(BLUEPLANE_SESSION_IDLE_TIMEOUT_S, default 30 min) becomes `timed_out`, with `ended_at` set to its last
event (not to the time the rule ran) and `end_reason` "idle_timeout". Both values depend only on the
session's events and the clock, so beat on the live path and `manage.py rebuild` reach the same rows.
A later event for a timed-out session makes the catch-up mark it active again (the rule is a function
of the last event, not of history).
"""

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import F

from ..models import Session, SessionStatus

IDLE_END_REASON = "idle_timeout"


def sessions_idle_close(*, now: datetime | None = None, timeout_s: int | None = None) -> int:
    """Time out every active session idle for longer than the timeout. Returns how many were closed."""
    timeout_s = settings.BLUEPLANE_SESSION_IDLE_TIMEOUT_S if timeout_s is None else timeout_s
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=timeout_s)
    return Session.objects.filter(status=SessionStatus.ACTIVE, last_event_at__lt=cutoff).update(
        status=SessionStatus.TIMED_OUT, end_reason=IDLE_END_REASON, ended_at=F("last_event_at")
    )
