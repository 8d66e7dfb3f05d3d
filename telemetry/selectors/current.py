"""What is going on now: today's figures, the current session, and the change stream that says when
either moved (for `blueplane watch` and anything else that follows the system live).

Figures come from the same selectors as the API's reports, so they agree with them. What is new comes
from Redis, never from asking the database again and again: the fast path's change records on
`cdc:events` (each committed batch: per session, its new events' ids, types and times), and the live
metrics the slow path rewrites after deriving (telemetry.processing.live), whose current values make
a signature that changes when derived figures do. A follower reads the figures once, then again only
when one of those says something changed.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TypedDict

import orjson
import redis

from ..models import Session
from ..processing import live
from ..scope import refuse_if_scoped
from ..wire import CDC_STREAM
from .activity import activity_summary
from .sessions import session_list, sessions_with_tokens
from .spans import LocalDays
from .usage import usage_report

TOKEN_KINDS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")


class DayFigures(TypedDict):
    day: date
    tz: str
    cost_usd: Decimal
    tokens: int  # input + output + cache write + cache read
    messages: int  # assistant responses
    prompts: int
    tool_calls: int
    tool_failures: int  # failed, rejected or interrupted
    api_errors: int


def day_figures(*, day: date, tz: str) -> DayFigures:
    """The local day's usage and activity, as the usage and activity reports count them."""
    days = LocalDays(day, day, tz)
    usage = usage_report(start=day, end=day, tz=tz, by="day")
    act = activity_summary(start=days.start, end=days.end)
    failed = act["tool_failures"] + act["tool_rejections"] + act["tool_interruptions"]
    return DayFigures(
        day=day,
        tz=tz,
        # A day whose responses all lack recorded tokens (Cursor) adds none here.
        cost_usd=sum((r["cost_usd"] or 0 for r in usage), Decimal(0)),
        tokens=sum(r[k] or 0 for r in usage for k in TOKEN_KINDS),
        messages=sum(r["messages"] for r in usage),
        prompts=act["prompts"],
        tool_calls=act["tool_calls"],
        tool_failures=failed,
        api_errors=act["api_errors"],
    )


def session_current() -> Session | None:
    """The session with the latest activity, with its project and token total."""
    return sessions_with_tokens(session_list()).first()


def session_named(*, platform: str, session_id: str) -> Session | None:
    return sessions_with_tokens(session_list(platform=platform)).filter(session_id=session_id).first()


@dataclass(frozen=True)
class Change:
    """One event of a change record: which session, what kind of event, when."""

    platform: str
    session_id: str
    event_type: str
    at: str  # the event's own timestamp, ISO 8601, as captured


@dataclass
class ChangeReader:
    """Follows the change stream from where it stands when created (older records are the past)."""

    client: redis.Redis
    last_id: str = "$"
    skipped: int = field(default=0)  # records that could not be read (not the fast path's shape)

    @classmethod
    def from_now(cls, client: redis.Redis) -> "ChangeReader":
        """A reader of the records added from now on (after the stream's newest entry)."""
        newest = client.xrevrange(CDC_STREAM, count=1)
        return cls(client=client, last_id=newest[0][0].decode() if newest else "0-0")

    def read(self, *, block_ms: int, count: int = 100) -> list[Change]:
        """The events of the change records after the last one read, waiting up to block_ms for one."""
        found = self.client.xread({CDC_STREAM: self.last_id}, block=block_ms, count=count)
        out: list[Change] = []
        for _, entries in found:
            for entry_id, fields in entries:
                self.last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                out.extend(self._decode(fields.get(b"records", b"")))
        return out

    def _decode(self, raw: bytes) -> list[Change]:
        try:
            records = orjson.loads(raw)
            return [
                Change(str(r["platform"]), str(r["session_id"]), str(e[1]), str(e[2]))
                for r in records
                for e in r["events"]
            ]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            self.skipped += 1
            return []


def live_signature(*, client: redis.Redis, now: datetime | None = None) -> tuple:
    """The live metrics of this UTC hour and day as they stand: different after the slow path derived
    something new for them (it rewrites them after each catch-up), the same while nothing changed."""
    refuse_if_scoped("the install's live figures")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(live.usage_key(now))
    pipe.hgetall(live.activity_key(now))
    pipe.zrange(live.tools_key(now), 0, -1, withscores=True)
    pipe.zrange(live.tool_failures_key(now), 0, -1, withscores=True)
    usage, activity, tools, failures = pipe.execute()
    return (sorted(usage.items()), sorted(activity.items()), tools, failures)
