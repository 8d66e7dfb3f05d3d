"""A small hand-made store for the figures of the overview and the projects page (derived rows built as
the catch-up would, rollups refreshed), and the API's answer for the same span to compare them with."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from telemetry.models import ChangeStatus, Project, SessionProgress, ToolStatus
from tests.telemetry.processing.test_rollups import World, refresh_all

DAY = datetime(2025, 10, 20, tzinfo=UTC)
SPAN = {"period": "all", "tz": "UTC"}


def store_build() -> dict:
    """Two projects, two sessions, two models over two days, a failed tool call and two AI edits."""
    w = World()
    alpha = Project.objects.create(key="ka", name="alpha")
    beta = Project.objects.create(key="kb", name="beta")
    s1 = w.session("s1", project=alpha)
    s2 = w.session("s2", project=beta, platform="cursor")
    for s, first, last, models in ((s1, DAY, DAY + timedelta(days=1, hours=2), ["opus"]),
                                   (s2, DAY + timedelta(hours=5), DAY + timedelta(hours=6), ["sonnet"])):  # fmt: skip
        s.started_at, s.last_event_at, s.models_used = first, last, models
        s.save()
        SessionProgress.objects.create(platform=s.platform, session_id=s.session_id)
    w.turn(s1, DAY + timedelta(hours=1), model="opus", input_tokens=100, output_tokens=50,
           cache_read_tokens=1000, cost_usd=Decimal("1.25"))  # fmt: skip
    w.turn(s1, DAY + timedelta(days=1, hours=1), model="opus", input_tokens=10, cost_usd=Decimal("0.5"))
    w.turn(s2, DAY + timedelta(hours=5), model="sonnet", output_tokens=7, cache_write_tokens=70,
           cost_usd=Decimal("0.125"))  # fmt: skip
    w.turn(s1, DAY + timedelta(hours=1, minutes=1), kind="prompt")
    w.tool(s1, DAY + timedelta(hours=1), status=ToolStatus.FAILURE)
    w.tool(s1, DAY + timedelta(hours=1, minutes=2))
    w.change(s1, DAY + timedelta(hours=1), 10, 2)
    w.change(s1, DAY + timedelta(hours=1), 1, 0, status=ChangeStatus.REJECTED)
    refresh_all()
    return {"alpha": alpha, "beta": beta}


def api(client, path: str, **params) -> dict:
    answer = client.get(path, {"since": "2025-10-01", "until": "2025-10-31", "tz": "UTC", **params})
    assert answer.status_code == 200, answer.content
    return answer.json()
