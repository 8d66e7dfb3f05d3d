"""A store for the dashboard's OpenTelemetry tests: tests.factories.otel_rows() (a Claude Code session
whose API calls came from every source, with tool decisions, OTel metrics, a retry and a possibly lost
record) and, days before it in another project, a Claude Code session that only its transcript and hooks
saw (no OTel at all), so a span or a session without OTel data can be shown too.

`otel_store_build()` runs in a test's database, or in a whole install's through `python -c` (see
`build_in_install`), so the browser tests see the same rows as the in-process ones."""

import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from tests.factories import OTEL_DAY, OTEL_MODEL, OTEL_SESSION

ROOT = Path(__file__).resolve().parents[2]
PLAIN_DAY = OTEL_DAY - timedelta(days=3)
PLAIN_SESSION = "plain-session-1"  # transcript and hooks only
OTEL_SPAN = {"since": OTEL_DAY.date().isoformat(), "until": OTEL_DAY.date().isoformat(), "tz": "UTC"}
PLAIN_SPAN = {"since": PLAIN_DAY.date().isoformat(), "until": PLAIN_DAY.date().isoformat(), "tz": "UTC"}

# What otel_rows() adds up to, as the pages show it (tests/factories.py, OTEL_CALLS).
EXPECTED = {
    "calls": {"both": 1, "transcript": 1, "otel": 1, "conflict": 1},
    "cost_usd": {"both": "0.02", "transcript": "0.005", "otel": "0.0914", "conflict": "0.0046"},
    "total_cost_usd": "0.121",
    "conflict": {"request_id": "req_conflict", "transcript_output": 300, "otel_output": 301},
    "otel_active_seconds": 23.852,
    "active_seconds": 420,
}


def otel_store_build() -> dict:
    """otel_rows() and the transcript-only session; returns both sessions by id."""
    from telemetry.models import Project, Session
    from telemetry.processing import rollups
    from tests.factories import otel_rows
    from tests.telemetry.processing.test_rollups import World

    otel = otel_rows()
    w = World()
    project = Project.objects.create(key="plainprojectkey00001", name="plain-app")
    plain = w.session(PLAIN_SESSION, project=project)
    at = PLAIN_DAY.replace(hour=9)
    w.turn(plain, at, kind="user_prompt", chars=20)
    w.turn(plain, at + timedelta(minutes=1), model=OTEL_MODEL, input_tokens=5, output_tokens=50,
           cost_usd=Decimal("0.001"), request_id="req_plain", source="transcript")  # fmt: skip
    w.tool(plain, at + timedelta(minutes=2), name="Read", seen_in_hooks=True, seen_in_transcript=True)
    Session.objects.filter(pk=plain.pk).update(
        models_used=[OTEL_MODEL], started_at=at, last_event_at=at + timedelta(minutes=3), prompts=1,
        assistant_messages=1, tool_calls=1, input_tokens=5, output_tokens=50, cost_usd=Decimal("0.001"),
        active_seconds=180,
    )  # fmt: skip
    # Only the plain session's hour and project: otel_rows() wrote its own rollups by hand.
    rollups.rollups_refresh(hours={rollups.hour_floor(at)}, project_ids={project.pk}, platform="claude_code")
    return {OTEL_SESSION: otel, PLAIN_SESSION: Session.objects.get(pk=plain.pk)}


def build_in_install(env: dict[str, str]) -> None:
    """otel_store_build() in the database of the install whose environment is `env`."""
    script = (
        "import django; django.setup(); "
        "from tests.dashboard.otel_store import otel_store_build; otel_store_build()"
    )
    env = {**env, "DJANGO_SETTINGS_MODULE": "blueplane.settings", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
