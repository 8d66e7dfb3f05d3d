"""`watch`: a live view of the current session and today, fed from Redis.

The latest events come from the fast path's change stream (`cdc:events`) as soon as a batch commits.
Figures (today's cost, tokens, messages, tool calls and failures; the current session's) come from the
selectors the API's reports use, read at start and again only when Redis says something changed: a
change record, or the live metrics the slow path rewrites after deriving. So an idle watch reads
nothing from the database, and a busy one at most once a second (READ_EVERY_S).

On a terminal the view is redrawn in place (Rich Live); otherwise each update is printed as plain
lines (`event ...`, `today ...`, `session ...`), which is what scripts and tests read.
"""

import argparse
import sys
import time

from .options import CommandError, database_require, local_zone, positive, zone_checked

READ_EVERY_S = 1.0  # figures are read again at most this often while things change
BLOCK_MS = 250  # how long one read of the change stream waits: the view is never staler than this


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < 10**9:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0: {text!r}")
    return value


def cmd_watch(args: argparse.Namespace) -> int:
    database_require()
    import redis

    from telemetry.connections import redis_client
    from telemetry.selectors.current import ChangeReader

    zone = zone_checked(args.tz)
    client = redis_client()
    try:
        client.ping()
        reader = ChangeReader.from_now(client)
    except (redis.RedisError, OSError) as exc:
        raise CommandError(f"Redis cannot be reached, so there is nothing to watch: {exc}") from None
    view = Watch(zone=zone, tz=args.tz, events_max=args.events)
    try:
        _follow(view, reader, client, frames=args.frames, timeout_s=args.timeout)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a watch ends
    except (redis.RedisError, OSError) as exc:
        raise CommandError(f"lost Redis: {exc}") from None
    return 0


def _follow(view: "Watch", reader, client, *, frames: int | None, timeout_s: float | None) -> None:
    from telemetry.selectors.current import live_signature

    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    view.figures_read()
    signature = live_signature(client=client)
    out = Screen() if sys.stdout.isatty() else Lines()
    shown = 0
    with out:
        out.show(view)
        shown += 1
        while frames is None or shown < frames:
            if deadline is not None and time.monotonic() >= deadline:
                return
            changes = reader.read(block_ms=BLOCK_MS)
            now_signature = live_signature(client=client)
            changed = view.changes_add(changes)
            if changes or now_signature != signature or view.day_over():
                signature = now_signature
                view.stale = True
            if view.stale and time.monotonic() - view.read_at >= READ_EVERY_S:
                changed |= view.figures_read()
            if changed:
                out.show(view)
                shown += 1


class Watch:
    """What the view shows, and what changed since it was last shown."""

    def __init__(self, *, zone: object, tz: str, events_max: int) -> None:
        from collections import Counter, deque

        self.zone, self.tz = zone, tz
        self.today: dict | None = None
        self.session: dict | None = None  # the API's session record (session_data)
        self.session_key: tuple[str, str] | None = None  # (platform, session_id) followed
        self.session_events: Counter = Counter()  # event types seen for it since the watch began
        self.latest: deque = deque(maxlen=events_max)
        self.fresh: list = []  # changes not printed yet (plain-lines mode)
        self.stale = False
        self.read_at = 0.0

    def day_over(self) -> bool:
        from datetime import datetime

        return self.today is not None and datetime.now(self.zone).date() != self.today["day"]

    def changes_add(self, changes: list) -> bool:
        """Fold new events in; the newest one's session becomes the current session."""
        for change in changes:
            key = (change.platform, change.session_id)
            if key != self.session_key:
                self.session_key, self.session = key, None
                self.session_events.clear()
            self.session_events[change.event_type] += 1
            self.latest.appendleft(change)
            self.fresh.append(change)
        return bool(changes)

    def figures_read(self) -> bool:
        """Read today's and the current session's figures (a few queries). True if they changed."""
        from datetime import datetime

        from api.v1.resources.serializers import session_data
        from telemetry.selectors import current

        self.read_at, self.stale = time.monotonic(), False
        today = current.day_figures(day=datetime.now(self.zone).date(), tz=self.tz)
        if self.session_key is None:
            found = current.session_current()
            if found is not None:
                self.session_key = (found.platform, found.session_id)
        else:
            found = current.session_named(platform=self.session_key[0], session_id=self.session_key[1])
        session = session_data(found) if found is not None else None
        changed = (today, session) != (self.today, self.session)
        self.today, self.session = today, session
        return changed

    def when(self, at: str) -> str:
        from datetime import datetime

        try:
            return (
                datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(self.zone).strftime("%H:%M:%S")
            )
        except ValueError:
            return at[:19]


def _today_line(t: dict) -> str:
    return (f"today {t['day']} ({t['tz']}): {t['cost_usd']:.4f} USD, {t['tokens']:,} tokens, "
            f"{t['messages']:,} messages, {t['prompts']:,} prompts, {t['tool_calls']:,} tool calls "
            f"({t['tool_failures']:,} failed), {t['api_errors']:,} API errors")  # fmt: skip


def _session_line(view: Watch) -> str:
    s = view.session
    if view.session_key is None:
        return "session: none yet"
    platform, session_id = view.session_key
    seen = sum(view.session_events.values())
    if s is None:
        return f"session {session_id} ({platform}): not derived yet; {seen} events seen"
    tokens = s["tokens"] or 0
    return (f"session {session_id} ({platform}), {s['project'] or '-'}: {s['cost_usd'] or 0:.4f} USD, "
            f"{tokens:,} tokens, {s['assistant_messages']} messages, {s['tool_calls']} tool calls "
            f"({s['tool_failures'] + s['tool_rejections'] + s['tool_interruptions']} failed); "
            f"{seen} events seen")  # fmt: skip


class Lines:
    """Plain lines per update, for a pipe or a file: new events, then the figures when they changed."""

    def __init__(self) -> None:
        self.said: tuple = ()

    def __enter__(self) -> "Lines":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def show(self, view: Watch) -> None:
        for c in view.fresh:
            print(f"event {view.when(c.at)} {c.platform} {c.session_id} {c.event_type}")
        view.fresh.clear()
        lines = (_today_line(view.today), _session_line(view))
        if lines != self.said:
            print(*lines, sep="\n")
            self.said = lines
        sys.stdout.flush()


class Screen:
    """The view redrawn in place on a terminal."""

    def __enter__(self) -> "Screen":
        from rich.live import Live

        from .output import console

        self.live = Live(console=console(), auto_refresh=False, transient=False)
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def show(self, view: Watch) -> None:
        from rich import box
        from rich.console import Group
        from rich.table import Table

        from .output import cell

        view.fresh.clear()
        t, s = view.today, view.session or {}
        figures = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        figures.add_column("")
        figures.add_column(f"today {t['day']} ({view.tz})", justify="right")
        name = view.session_key[1][:13] if view.session_key else "none yet"
        project = f", {s['project']}" if s.get("project") else ""
        figures.add_column(f"session {name}{project}", justify="right")
        failed = sum(s.get(k) or 0 for k in ("tool_failures", "tool_rejections", "tool_interruptions"))
        rows = [("cost USD", t["cost_usd"], s.get("cost_usd"), "usd"), ("tokens", t["tokens"], s.get("tokens"), "int"),
                ("messages", t["messages"], s.get("assistant_messages"), "int"),
                ("prompts", t["prompts"], s.get("prompts"), "int"),
                ("tool calls", t["tool_calls"], s.get("tool_calls"), "int"),
                ("failed", t["tool_failures"], failed if s else None, "int"),
                ("API errors", t["api_errors"], s.get("api_errors"), "int"),
                ("events seen", None, sum(view.session_events.values()) if view.session_key else None, "int")]  # fmt: skip
        for label, today, session, kind in rows:
            figures.add_row(label, cell(today, kind), cell(session, kind))
        events = Table(title="Latest events", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for heading in (f"at ({view.tz})", "platform", "session", "event"):
            events.add_column(heading, no_wrap=True)
        for c in view.latest:
            events.add_row(view.when(c.at), c.platform, c.session_id[:13], c.event_type)
        waiting = "" if view.session is not None or not view.session_key else " (session not derived yet)"
        footer = f"[dim]Ctrl-C to stop{waiting}[/dim]"
        self.live.update(Group(figures, "", events, footer), refresh=True)


def register(sub: argparse._SubParsersAction) -> None:
    help = "a live view of the current session and today's activity (Ctrl-C to stop)"
    p = sub.add_parser("watch", help=help, description=help)
    p.add_argument(
        "--tz", default=local_zone(), help="IANA time zone of today and the times (default: this machine's)"
    )
    p.add_argument("--events", type=_events, default=10, help="latest events to show (default 10)")
    p.add_argument("--frames", type=_events, help="stop after this many updates (for scripts)")
    p.add_argument("--timeout", type=positive_float, help="stop after this many seconds")
    p.set_defaults(handler=cmd_watch)


def _events(text: str) -> int:
    value = positive(text)
    if value > 1_000_000:
        raise argparse.ArgumentTypeError(f"must be at most 1000000: {text!r}")
    return value
