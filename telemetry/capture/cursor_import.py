"""`blueplane import cursor`: one full read of Cursor's databases into the event stream, and a summary.

The read is the database monitor's (cursor_monitor.CursorMonitor) with a state kept in memory: the same
envelopes, ids and timestamps as `blueplane up` sends, so importing and then running the monitor (or
importing twice) stores everything once. Given `stored` (the raw store's lookup, passed in by the
interface: capture does not read the store), events already stored are not sent again, and the summary
says how many were new. Redis is reached only once there is something to send.
"""

import os
import sys
from collections import Counter
from collections.abc import Callable

import orjson
import redis
from tqdm import tqdm

from ..wire import EVENTS_STREAM
from .cursor_monitor import CursorMonitor
from .cursor_state import CursorState
from .importer import Stored, stored_wait
from .privacy import Privacy


class _Sender:
    """Sends envelopes not stored yet, connecting on first use; remembers the last stream id."""

    def __init__(self, connect: Callable[[], redis.Redis], stored: Stored | None) -> None:
        self.connect, self.stored = connect, stored
        self.client: redis.Redis | None = None
        self.new = self.duplicates = 0
        self.last_id: bytes | None = None

    def __call__(self, envelopes: list[bytes]) -> None:
        if self.stored is not None:
            keys = [(e["event_id"], e["timestamp"]) for e in map(orjson.loads, envelopes)]
            known = self.stored(keys)
            self.duplicates += sum(known)
            envelopes = [e for e, k in zip(envelopes, known, strict=True) if not k]
        if not envelopes:
            return
        if self.client is None:
            self.client = self.connect()
        pipe = self.client.pipeline(transaction=False)
        for envelope in envelopes:
            pipe.xadd(EVENTS_STREAM, {"event": envelope})
        self.last_id = pipe.execute()[-1]
        self.new += len(envelopes)


def summary_lines(monitor: CursorMonitor) -> list[str]:
    """What the read found, per workspace: conversations, messages, tool calls; then the rest."""
    names = {ws.id: _label(ws.roots, ws.location, ws.id) for ws in monitor.paths.workspaces}
    rows: dict[str, Counter] = {}
    other: Counter = Counter()
    for (workspace, event_type, detail), n in monitor.counts.items():
        if event_type in ("composer", "bubble"):
            row = rows.setdefault(names.get(workspace, "(no workspace)"), Counter())
            row["conversations" if event_type == "composer" else "messages"] += n
            if detail.partition(":")[2]:
                row["tool calls"] += n
        else:
            other[event_type] += n
    width = max([len(name) for name in rows] + [len("workspace")])
    lines = [f"{'workspace':<{width}}  conversations  messages  tool calls"]
    for name, row in sorted(rows.items()):
        lines.append(
            f"{name:<{width}}  {row['conversations']:>13}  {row['messages']:>8}  {row['tool calls']:>10}"
        )
    lines.append(
        f"generations: {other['generation']}; AI tracking: {other['scored_commit']} scored commits,"
        f" {other['ai_code']} AI code rows"
    )
    return lines


def _label(roots: tuple[str, ...], location: str, ws_id: str) -> str:
    """A workspace's folder name; a multi-root one's is the folder of its .code-workspace file."""
    path = os.path.dirname(location) if location.endswith(".code-workspace") else location or ""
    if not path and roots:
        path = roots[0]
    return os.path.basename(path.rstrip("/\\")) or ws_id


def cursor_import(
    *,
    home: str,
    user_dir: str | None,
    privacy: Privacy,
    connect: Callable[[], redis.Redis],
    stored: Stored | None,
    out: Callable[[str], None] = print,
) -> int:
    """Read everything once and send it. Returns an exit code: 0, or 1 when there is no Cursor data."""
    sender = _Sender(connect, stored)
    monitor = CursorMonitor(
        home=home, privacy=privacy, send=sender, state=CursorState(None), user_dir=user_dir
    )
    paths = monitor.paths
    if not (os.path.exists(paths.global_db) or paths.workspaces or os.path.exists(paths.tracking_db)):
        print(
            f"{home}: no Cursor data (looked for {paths.user_dir} and {paths.tracking_db})", file=sys.stderr
        )
        return 1
    progress = sys.stderr.isatty()
    with tqdm(total=0, unit="conversation", desc="importing", disable=not progress) as bar:
        monitor.progress = bar
        monitor.poll()
    for path, problem in monitor.troubled.items():
        print(f"{path}: not read ({problem})", file=sys.stderr)
    for line in summary_lines(monitor):
        out(line)
    read = sum(monitor.counts.values())
    checked = f"{sender.new} new, {sender.duplicates} already stored" if stored else f"{sender.new} sent"
    out(f"read {read} events; {checked}")
    if sender.new and sender.client is not None:
        if progress:
            print("waiting for Blueplane to store them ...", file=sys.stderr)
        if stored_wait(sender.client, last_id=sender.last_id):
            out(f"{sender.new} new events stored")
        else:
            out(f"{sender.new} events queued; they are stored when Blueplane runs (`blueplane up`)")
        sender.client.close()
    return 1 if monitor.troubled else 0


def import_cursor(path: str | None, *, stored: Stored | None = None) -> int:
    """`blueplane import cursor [HOME]`: Cursor's data under HOME (default: the user's home, and
    BLUEPLANE_CURSOR_USER_DIR if set). Exit code 2 for a missing folder or an unreachable Redis."""
    from django.conf import settings

    from blueplane.redis_server import RedisStartError, redis_url_ensure

    from .runtime import privacy_get

    home = os.path.expanduser(path) if path else os.path.expanduser("~")
    if not os.path.isdir(home):
        print(f"blueplane: {home}: no such folder", file=sys.stderr)
        return 2
    url = ""

    def connect() -> redis.Redis:
        nonlocal url
        url = redis_url_ensure()
        return redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=5)

    try:
        return cursor_import(
            home=home,
            user_dir=None if path else settings.CURSOR_USER_DIR,
            privacy=privacy_get(),
            connect=connect,
            stored=stored,
        )
    except RedisStartError as exc:
        print(f"blueplane: {exc}", file=sys.stderr)
    except redis.RedisError as exc:
        print(f"blueplane: Redis at {url}: {exc}", file=sys.stderr)
    return 2
