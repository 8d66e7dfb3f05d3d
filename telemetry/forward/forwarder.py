"""The forwarder `manage.py runforward` runs: the local store's raw events, leveled, posted in batches to
the team server, the cursor moved after each 2xx (batches.py).

Per answer: 2xx moves the cursor; a 400/413 naming one envelope sets that event aside in
forward/rejected.jsonl with the server's reason and sends the rest (one bad event never blocks the
others); 401/403 stops forwarding with the state `revoked` until team.json changes (a reconnect); any
other answer, or none, is retried with exponential backoff (1 s doubling to BACKOFF_MAX_S, or the
server's Retry-After when longer). Without team.json (never connected, or disconnected) it idles.
Its state for `blueplane status` is forward/state.json.
"""

import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

import orjson
from django.conf import settings
from django.db import DatabaseError, close_old_connections

from telemetry.capture.runtime import privacy_get
from telemetry.models import RAW_TRACE_MODELS
from telemetry.store.horizon import raw_horizon
from telemetry.store.units import events_after, events_count_after

from .batches import MAX_BYTES, MAX_EVENTS, Batch, batch_build, cursor_read, cursor_write
from .client import EVENTS_PATH, ForwardError, Unreachable, message_of, request
from .levels import envelope_leveled
from .team import Team, file_write_private, forward_dir, team_read

logger = logging.getLogger(__name__)

BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 60.0
IDLE_S = 1.0  # how often an idle forwarder looks for new events or a new team.json


class Revoked(ForwardError):
    """The server refused the token: nothing is sent until the connection changes."""


class RetryLater(ForwardError):
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def state_path(home: Path) -> Path:
    return forward_dir(home) / "state.json"


def state_read(home: Path) -> dict:
    try:
        state = json.loads(state_path(home).read_text())
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def rejected_path(home: Path) -> Path:
    return forward_dir(home) / "rejected.jsonl"


def backlog(home: Path, team: Team) -> dict[str, int]:
    """Per platform, how many stored events the server has not taken yet."""
    cursor = cursor_read(home, team.url)
    return {p: events_count_after(platform=p, after_seq=cursor.get(p, 0)) for p in RAW_TRACE_MODELS}


class Forwarder:
    def __init__(self, home: Path, *, stop: threading.Event | None = None) -> None:
        self.home = Path(home)
        self.stop = stop or threading.Event()
        self.state: dict = state_read(self.home)

    def run(self) -> None:
        backoff = BACKOFF_MIN_S
        revoked_token: str | None = None
        while not self.stop.is_set():
            team = team_read(self.home)
            if team is None or team.token == revoked_token:
                if team is None and self.state.get("state") not in (None, "idle"):
                    self._state(state="idle", last_error=None)
                self.stop.wait(IDLE_S)
                continue
            revoked_token = None
            try:
                sent = self.pass_once(team)
            except Revoked as exc:
                revoked_token = team.token
                logger.warning("forward: %s; not forwarding until `blueplane connect` again", exc)
                self._state(state="revoked", last_error=str(exc))
                continue
            except (ForwardError, DatabaseError) as exc:
                # DatabaseError: the local store is busy or away (a fault of the machine): later.
                wait = max(backoff, getattr(exc, "retry_after_s", None) or 0)
                logger.warning("forward: %s; trying again in %.0f s", exc, wait)
                self._state(state="retrying", last_error=str(exc))
                self.stop.wait(min(wait, BACKOFF_MAX_S))
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            finally:
                close_old_connections()
            backoff = BACKOFF_MIN_S
            if not sent:
                self.stop.wait(IDLE_S)

    def pass_once(self, team: Team) -> int:
        """Send one batch per platform that has events waiting. Returns how many events the server
        took. Raises Revoked or RetryLater (ForwardError)."""
        privacy = privacy_get()
        local_content = bool(settings.CAPTURE_STORE_CONTENT)
        horizon = raw_horizon() or {}
        cursor = cursor_read(self.home, team.url)
        sent = 0
        for platform in RAW_TRACE_MODELS:
            if self.stop.is_set():
                break
            events = events_after(
                platform=platform,
                after_seq=cursor.get(platform, 0),
                through_seq=horizon.get(platform),
                limit=min(MAX_EVENTS, settings.FORWARD_BATCH_EVENTS),
            )
            if not events:
                continue
            leveled = [(seq, self._envelope(raw, team, privacy, local_content)) for seq, raw in events]
            batch = batch_build(platform, leveled)
            sent += self._post(team, batch)
            cursor[platform] = batch.through
            cursor_write(self.home, team.url, cursor)
            self._state(
                state="ok", last_error=None, last_ok_at=datetime.now(UTC).isoformat(timespec="seconds")
            )
        return sent

    @staticmethod
    def _envelope(raw: bytes, team: Team, privacy, local_content: bool) -> bytes:
        envelope = envelope_leveled(
            orjson.loads(raw), team.level, privacy=privacy, local_content=local_content
        )
        envelope["machine_id"] = team.machine_id
        return orjson.dumps(envelope)

    def _post(self, team: Team, batch: Batch) -> int:
        """Post until the server took the batch (less what it refused by index). Returns how many it took."""
        max_bytes = MAX_BYTES
        while batch.bodies:
            try:
                answer = request(
                    team.url, EVENTS_PATH, token=team.token, body=batch.body(), ca_file=team.ca_file
                )
            except Unreachable as exc:
                raise RetryLater(str(exc)) from None
            if 200 <= answer.status < 300:
                return len(batch.bodies)
            if answer.status in (401, 403):
                raise Revoked(f"the server refused the token ({message_of(answer)})")
            detail = answer.body.get("detail") if isinstance(answer.body, dict) else None
            index = detail.get("index") if isinstance(detail, dict) else None
            if answer.status in (400, 413) and isinstance(index, int) and 0 <= index < len(batch.bodies):
                self._set_aside(batch, index, str(detail.get("reason") or message_of(answer)))
                continue
            if answer.status == 413 and len(batch.bodies) > 1:
                # Over the server's body or count limit: send the first half, the rest next pass.
                max_bytes = max(1, min(max_bytes, batch.size) // 2)
                keep = batch_build(
                    batch.platform, list(zip(batch.seqs, batch.bodies, strict=True)), max_bytes=max_bytes
                )
                raise_if_stuck = len(keep.bodies) == len(batch.bodies)
                if raise_if_stuck:
                    raise RetryLater(message_of(answer))
                batch.through = keep.seqs[-1]
                batch.seqs[len(keep.seqs) :] = []
                batch.bodies[len(keep.bodies) :] = []
                batch.size = keep.size
                continue
            raise RetryLater(message_of(answer), answer.retry_after_s)
        return 0

    def _set_aside(self, batch: Batch, index: int, reason: str) -> None:
        seq, body = batch.drop(index)
        try:
            event_id = orjson.loads(body).get("event_id")
        except orjson.JSONDecodeError:
            event_id = None
        line = {"platform": batch.platform, "seq": seq, "event_id": event_id, "reason": reason,
                "at": datetime.now(UTC).isoformat(timespec="seconds"), "envelope": body.decode()}  # fmt: skip
        path = rejected_path(self.home)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        logger.warning(
            "forward: the server refused %s event %s (%s); set aside in %s",
            batch.platform,
            event_id,
            reason,
            path,
        )
        self.state["set_aside"] = self.state.get("set_aside", 0) + 1

    def _state(self, **changes: object) -> None:
        new = {**self.state, **changes}
        if new == self.state and state_path(self.home).exists():
            return
        self.state = new
        file_write_private(state_path(self.home), json.dumps(new).encode())
