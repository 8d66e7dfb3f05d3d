"""The race store/horizon.py closes, made to happen on PostgreSQL. Run in a process of its own, with
BLUEPLANE_DATABASE_URL naming a migrated PostgreSQL database (tests/test_pg_horizon.py):

    manage.py shell -c "from tests.support.pg_horizon import main; main()"

Writer A inserts a session's first event and holds its transaction open; writer B inserts the next event
and commits. A's row has the lower seq but is not visible yet. Then a catch-up runs, A commits, and a
second catch-up runs. Printed (one JSON line): whether A's seq was below B's, what the watermark-only
read (no horizon) ended with, what the real catch-up did, and what a stalled writer does to it.
"""

import json
import threading
import time

from django.db import connection, transaction
from django.test.utils import override_settings

from telemetry.ingest.batching import batch_prepare
from telemetry.models import ClaudeRawTrace, SessionProgress, ToolCall
from telemetry.processing import catchup, failures
from telemetry.store import writer
from telemetry.store.codec import CURRENT
from telemetry.store.keys import session_key
from tests.factories import entry, envelope


def _write(session_id: str, n: int) -> None:
    event = envelope(
        session_id=session_id,
        payload={"tool_name": "Bash", "tool_use_id": f"toolu_{session_id}_{n}", "tool_input": {}},
    )
    batch = batch_prepare(
        [(f"{n}-0".encode(), {k.encode(): v for k, v in entry(event).items()})],
        codec=CURRENT,
        max_bytes=1 << 20,
        arrived=0.0,
    )
    writer.batch_write(batch.units, batch.codec_id)


class HeldWrite(threading.Thread):
    """Writer A: inserts one event inside a transaction it keeps open until release()."""

    def __init__(self, session_id: str) -> None:
        super().__init__(daemon=True)
        self.session_id = session_id
        self.inserted = threading.Event()
        self._release = threading.Event()
        self.seq = None

    def run(self) -> None:
        try:
            with transaction.atomic():  # batch_write's own transaction becomes a savepoint of this one
                _write(self.session_id, 1)
                self.seq = ClaudeRawTrace.objects.get(session_key=session_key(self.session_id)).seq
                self.inserted.set()
                self._release.wait(60)
        finally:
            connection.close()

    def release(self) -> None:
        self._release.set()
        self.join(30)


def _seqs(session_id: str) -> list[int]:
    return sorted(
        ClaudeRawTrace.objects.filter(session_key=session_key(session_id)).values_list("seq", flat=True)
    )


def _state(session_id: str) -> dict:
    progress = SessionProgress.objects.filter(platform="claude_code", session_id=session_id).first()
    return {
        "watermark": progress.processed_seq if progress else 0,
        "calls": ToolCall.objects.filter(session__session_id=session_id).count(),
        "seqs": _seqs(session_id),
    }


def _waiting_on_advisory_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
        )
        return cursor.fetchone()[0] > 0


def without_horizon() -> dict:
    """The race as it happens when the slow path trusts seq order (horizon=None)."""
    a = HeldWrite("no-horizon")
    a.start()
    a.inserted.wait(30)
    _write("no-horizon", 2)
    b_seq = max(_seqs("no-horizon"))
    first = catchup.session_catch_up(platform="claude_code", session_id="no-horizon", horizon=None).applied
    a.release()
    second = catchup.session_catch_up(platform="claude_code", session_id="no-horizon", horizon=None).applied
    return {"a_seq": a.seq, "b_seq": b_seq, "applied": [first, second], **_state("no-horizon")}


def with_horizon() -> dict:
    """The same race, with the slow path as it runs (sessions_catch_up takes a horizon)."""
    a = HeldWrite("horizon")
    a.start()
    a.inserted.wait(30)
    _write("horizon", 2)
    b_seq = max(_seqs("horizon"))
    runs: list = []

    def catch_up() -> None:
        try:
            runs.append(catchup.sessions_catch_up(sessions=[("claude_code", "horizon")]).applied)
        finally:
            connection.close()

    slow = threading.Thread(target=catch_up, daemon=True)
    slow.start()
    deadline = time.monotonic() + 20
    waited = False
    while time.monotonic() < deadline and not waited:
        waited = _waiting_on_advisory_lock()
        time.sleep(0.05)
    done_before_release = not slow.is_alive()
    a.release()
    slow.join(30)
    again = catchup.sessions_catch_up(sessions=[("claude_code", "horizon")]).applied
    return {
        "a_seq": a.seq,
        "b_seq": b_seq,
        "waited_for_writer": waited,
        "done_before_release": done_before_release,
        "applied": [*runs, again],
        **_state("horizon"),
    }


def stalled_writer() -> dict:
    """A writer that never commits: the catch-up gives up after RAW_HORIZON_WAIT_MS with a fault of the
    machine (retried later), not the data's."""
    a = HeldWrite("stalled")
    a.start()
    a.inserted.wait(30)
    try:
        with override_settings(RAW_HORIZON_WAIT_MS=300):
            catchup.sessions_catch_up(sessions=[("claude_code", "stalled")])
        outcome = {"raised": None}
    except Exception as exc:
        outcome = {"raised": type(exc).__name__, "machine_fault": failures.fault_is_machine(exc)}
    finally:
        a.release()
    return outcome


def main() -> None:
    print(json.dumps({"without": without_horizon(), "with": with_horizon(), "stalled": stalled_writer()}))
