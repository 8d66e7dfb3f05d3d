"""What just changed, as the two change streams say it: the fast path's `cdc:events` (each committed
batch: per session, its new events' ids, types and times) and the slow path's `cdc:derived` (after a
catch-up run committed: the sessions, UTC hours and projects whose derived rows changed). For the live
feed (api/live) and anything else that follows the system as it moves.

The decoders are plain functions over one stream entry, so a reader that follows a stream (the live
feed's relay) and one that looks back (events_recent, a snapshot) read entries the same way. An entry
that is not of the expected shape decodes to nothing: a reader never fails on one.

The change records carry no project (the fast path does no reads): a session's project is known once
the slow path derived it, so session_project_keys answers None for a session not derived yet.
"""

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import NotRequired, TypedDict

import orjson
import redis

from ..models import Session
from ..scope import refuse_if_scoped
from ..wire import CDC_STREAM

SessionKey = tuple[str, str]

# How far back a snapshot looks: at most this many entries (batches) of cdc:events, newest first. The
# stream holds up to CDC_MAXLEN events; a filter that matches nothing must not read all of them.
RECENT_MAX_ENTRIES = 2000
_PAGE_ENTRIES = 200


class ChangedEvent(TypedDict):
    """One event of a change record, as the live feed sends it (api/live/__init__.py)."""

    event_id: str
    platform: str
    session_id: str
    project: str | None  # the session's project key; None while the slow path has not derived it
    event_type: str
    timestamp: str  # the event's own, ISO 8601, as captured
    stored_at: str  # when the fast path committed it (the entry id's time), ISO 8601 UTC


class DerivedChange(TypedDict):
    """One record of cdc:derived (telemetry.processing.changes writes it)."""

    sessions: list[list[str]]  # [platform, session_id]
    hours: list[str]  # UTC hours whose rollups changed, ISO 8601
    projects: list[str]  # keys of the projects whose rows changed
    at: float  # epoch seconds of the commit
    # [user, machine] of the sessions (docs/team.md); absent when unknown (a record written before it
    # was added, or a merge with one): then the change may concern anyone.
    people: NotRequired[list[list[str]]]


def entry_time(entry_id: bytes | str) -> str:
    """The ISO 8601 UTC time of a stream entry id (its milliseconds part); "" for a malformed id."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, _ = text.partition("-")
    try:
        when = datetime.fromtimestamp(int(ms) / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return ""
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def entry_ms(entry_id: bytes | str) -> int:
    """The milliseconds part of a stream entry id (0 for a malformed one)."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    try:
        return int(text.partition("-")[0])
    except ValueError:
        return 0


def change_entry_events(entry_id: bytes | str, fields: dict) -> list[ChangedEvent]:
    """The events of one cdc:events entry, in the record's order, project None; [] when it is not of
    the fast path's shape (batching.changes_encode)."""
    raw = fields.get(b"records", fields.get("records"))
    if raw is None:
        return []
    stored_at = entry_time(entry_id)
    try:
        records = orjson.loads(raw)
        return [
            ChangedEvent(
                event_id=str(e[0]),
                platform=str(r["platform"]),
                session_id=str(r["session_id"]),
                project=None,
                event_type=str(e[1]),
                timestamp=str(e[2]),
                stored_at=stored_at,
            )
            for r in records
            for e in r["events"]
        ]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return []


def derived_entry_decode(fields: dict) -> DerivedChange | None:
    """One cdc:derived record, or None when it is not of that shape."""
    raw = fields.get(b"change", fields.get("change"))
    if raw is None:
        return None
    try:
        record = orjson.loads(raw)
        change = DerivedChange(
            sessions=[[str(p), str(s)] for p, s in record.get("sessions", [])],
            hours=[str(h) for h in record.get("hours", [])],
            projects=[str(p) for p in record.get("projects", [])],
            at=float(record.get("at", 0)),
        )
        if "people" in record:
            change["people"] = [[str(u), str(m)] for u, m in record["people"]]
        return change
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        return None


def derived_changes_merge(changes: Iterable[DerivedChange]) -> DerivedChange:
    """Several records as one (what changed in any of them), sorted, without repeats."""
    sessions: set[tuple[str, str]] = set()
    hours: set[str] = set()
    projects: set[str] = set()
    people: set[tuple[str, str]] | None = set()
    at = 0.0
    for change in changes:
        sessions.update((p, s) for p, s in change["sessions"])
        hours.update(change["hours"])
        projects.update(change["projects"])
        at = max(at, change["at"])
        if people is not None:
            people = people | {(u, m) for u, m in change["people"]} if "people" in change else None
    merged = DerivedChange(
        sessions=[list(s) for s in sorted(sessions)], hours=sorted(hours), projects=sorted(projects), at=at
    )
    if people is not None:
        merged["people"] = [list(p) for p in sorted(people)]
    return merged


def session_project_keys(*, sessions: Iterable[SessionKey]) -> dict[SessionKey, str | None]:
    """The project key of each session named; None for one not derived yet (or without a project)."""
    wanted = set(sessions)
    out: dict[SessionKey, str | None] = dict.fromkeys(wanted)
    by_platform: dict[str, list[str]] = {}
    for platform, session_id in wanted:
        by_platform.setdefault(platform, []).append(session_id)
    for platform, ids in by_platform.items():
        for i in range(0, len(ids), 500):  # under SQLite's bound-parameter limit
            rows = Session.objects.filter(platform=platform, session_id__in=ids[i : i + 500])
            for session_id, key in rows.values_list("session_id", "project__key"):
                out[(platform, session_id)] = key
    return out


def events_recent(
    *,
    client: redis.Redis,
    limit: int,
    session: str = "",
    platform: str = "",
    project_keys: frozenset[str] | None = None,
    max_entries: int = RECENT_MAX_ENTRIES,
) -> list[ChangedEvent]:
    """The newest `limit` events of cdc:events that match (session id, platform, and when project_keys
    is given, a session whose project is one of them), oldest first, each with its project. Looks at
    most `max_entries` entries back: a filter matching nothing costs a bounded read, not the stream.
    Everyone's events (Redis, not narrowed by telemetry/scope.py): refused to a person's token."""
    refuse_if_scoped("the live event stream")
    found: list[ChangedEvent] = []  # newest first
    projects: dict[SessionKey, str | None] = {}
    end = "+"
    seen = 0
    while len(found) < limit and seen < max_entries:
        page = client.xrevrange(CDC_STREAM, max=end, min="-", count=min(_PAGE_ENTRIES, max_entries - seen))
        if not page:
            break
        seen += len(page)
        last_id = page[-1][0].decode() if isinstance(page[-1][0], bytes) else page[-1][0]
        end = f"({last_id}"
        batch = []
        for entry_id, fields in page:
            events = change_entry_events(entry_id, fields)
            batch.extend(
                e
                for e in reversed(events)
                if (not session or e["session_id"] == session) and (not platform or e["platform"] == platform)
            )
        keys = {(e["platform"], e["session_id"]) for e in batch} - projects.keys()
        if keys:
            projects.update(session_project_keys(sessions=keys))
        for e in batch:
            e["project"] = projects[(e["platform"], e["session_id"])]
            if project_keys is None or e["project"] in project_keys:
                found.append(e)
        if len(page) < _PAGE_ENTRIES:
            break
    return list(reversed(found[:limit]))
