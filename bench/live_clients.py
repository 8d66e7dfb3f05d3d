"""What bench/live.py's WebSocket clients got, and what it says: which pushed event is which hook, which
pushed figure counts the hooks, and how long after its hook each was pushed. Plain functions over the
messages each client kept (tests/test_bench_live.py feeds them made-up ones)."""

import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import orjson
import websockets

# (figure kind, hook that adds one to it): tried in this order to find the counting figure.
COUNTED = (("prompts", "UserPromptSubmit"), ("tool_calls", "PreToolUse"), ("events", None))


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))], 1)


@dataclass
class BenchSession:
    session_id: str
    cwd: str
    fired: list[tuple[str, float]] = field(default_factory=list)  # (hook event, spawned at), in order
    warm: int = 0  # how many of fired were the warm-up's, before the clients measuring connected
    tool_use_id: str = ""
    prompt_id: str = ""

    def payload(self, kind: str, tpl: dict[str, dict]) -> bytes:
        p = dict(tpl[kind])
        p |= {"session_id": self.session_id, "cwd": self.cwd, "transcript_path": f"{self.cwd}/t.jsonl"}
        if kind == "UserPromptSubmit":
            self.prompt_id = str(uuid.uuid4())
            # A prompt of its own each time: a session's repeated identical prompts may be taken as one.
            p |= {"prompt_id": self.prompt_id, "prompt": f"{p.get('prompt', '')} (bench {self.prompt_id})"}
        if kind in ("PreToolUse", "PostToolUse"):
            if kind == "PreToolUse":
                self.tool_use_id = f"toolu_bench{uuid.uuid4().hex[:16]}"
            p |= {"tool_use_id": self.tool_use_id, "prompt_id": self.prompt_id}
        return orjson.dumps(p)

    def measured(self) -> list[float]:
        """Spawn times of the hooks fired after the warm-up."""
        return [t for _, t in self.fired[self.warm :]]


# --- the clients ----------------------------------------------------------------------------------


@dataclass
class Client:
    """One WebSocket connection and what it received: (arrival, message) per message."""

    url: str
    received: list[tuple[float, dict]] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)  # time.time() of each arrival, for server timestamps
    error: str = ""
    closed: int | None = None
    task: asyncio.Task | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        try:
            async with websockets.connect(self.url, max_size=None, open_timeout=60, ping_interval=None) as ws:
                async for raw in ws:
                    message = orjson.loads(raw)
                    self.received.append((time.monotonic(), message))
                    self.wall.append(time.time())
                    if message.get("type") in ("snapshot", "error"):
                        self.connected.set()
        except websockets.ConnectionClosed as exc:
            self.closed = exc.rcvd.code if exc.rcvd else None
        except Exception as exc:  # a client's failure is a figure, not the end of the bench
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.connected.set()

    def start(self) -> "Client":
        self.task = asyncio.create_task(self.run())
        return self

    def snapshots(self) -> int:
        """Snapshots after the first one: sent because the client fell behind."""
        return max(0, sum(m.get("type") == "snapshot" for _, m in self.received) - 1)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


def ws_url(base: str, path: str, **query: str) -> str:
    return f"{base.replace('http://', 'ws://')}{path}{'?' + urlencode(query) if query else ''}"


async def clients_connect(clients: list[Client], timeout_s: float = 120) -> None:
    for c in clients:
        c.start()
    await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in clients)), timeout_s)
    failed = [c for c in clients if c.error or c.closed is not None]
    if failed:
        raise SystemExit(f"{len(failed)} of {len(clients)} clients could not connect, e.g. {failed[0].url}: "
                         f"{failed[0].error or failed[0].closed} {failed[0].received[-1:]}")  # fmt: skip


# --- what the clients saw -------------------------------------------------------------------------


@dataclass
class Got:
    """An event as a client got it: when (this process's monotonic clock, and the wall clock to compare
    with the server's timestamps) and what."""

    arrived: float
    arrived_wall: float
    event: dict


def session_events(client: Client, sessions: list[BenchSession]) -> dict[str, list[Got]]:
    """Per session, each event the client got after its first snapshot, in a push or in a later
    snapshot (after falling behind), once each (an event may come again after a snapshot), in the order
    of the events' own timestamps: the order their hooks ran."""
    wanted = {s.session_id for s in sessions}
    first = next((m for _, m in client.received if m.get("type") == "snapshot"), {})
    seen = {e.get("event_id") for e in first.get("events", [])}
    out: dict[str, list[Got]] = defaultdict(list)
    for (arrived, message), wall in zip(client.received, client.wall, strict=True):
        if message is first or message.get("type") not in ("events", "snapshot"):
            continue
        for event in message.get("events", []):
            if event.get("session_id") in wanted and event.get("event_id") not in seen:
                seen.add(event.get("event_id"))
                out[event["session_id"]].append(Got(arrived, wall, event))
    for got in out.values():
        got.sort(key=lambda g: g.event.get("timestamp") or "")
    return out


def event_latencies(client: Client, sessions: list[BenchSession]) -> tuple[list[float], int]:
    """Hook -> arrival latencies of the events one /ws/events client got, and how many fired events it
    never got. A session's k-th event in timestamp order is its k-th hook (see the docstring)."""
    got = session_events(client, sessions)
    latencies, missing = [], 0
    for s in sessions:
        arrivals = [g.arrived for g in got.get(s.session_id, [])]
        fired = s.measured()
        missing += max(0, len(fired) - len(arrivals))
        latencies += [(a - f) * 1000 for a, f in zip(arrivals, fired, strict=False)]
    return latencies, missing


def epoch(iso: str | None) -> float | None:
    try:
        return datetime.fromisoformat(iso).timestamp() if iso else None
    except ValueError:
        return None


def capture_latencies(client: Client, sessions: list[BenchSession]) -> list[float]:
    """The hook's capture (the event's own timestamp, taken once its interpreter had started) -> arrival:
    the pipeline's share of an event's latency, without the hook's start-up."""
    return [
        (g.arrived_wall - t) * 1000
        for got in session_events(client, sessions).values()
        for g in got
        if (t := epoch(g.event.get("timestamp"))) is not None
    ]


def stored_times(client: Client, sessions: list[BenchSession]) -> dict[str, list[float]]:
    """Per session, when the fast path committed each of its measured events (`stored_at`, epoch s)."""
    return {
        sid: [epoch(g.event.get("stored_at")) or float("inf") for g in got]
        for sid, got in session_events(client, sessions).items()
    }


def proxy_latencies(watch: "Watch", stored: dict[str, list[float]]) -> list[float]:
    """Without a figure that counts the hooks: hook -> the first push whose `changed` names the hook's
    session and was published ("at") after the hook's event was stored. A lower bound: the run that
    published it may have taken its sessions just before the event was stored."""
    pushes = [
        (t, m["changed"].get("at"), {tuple(x) for x in m["changed"].get("sessions") or []})
        for t, m in watch.client.received
        if m.get("type") == "figures" and isinstance(m.get("changed"), dict)
    ]
    latencies = []
    for s in watch.sessions:
        for fired, stored_at in zip(s.measured(), stored.get(s.session_id, []), strict=False):
            first = next(
                (
                    t
                    for t, at, named in pushes
                    if at and at >= stored_at and ("claude_code", s.session_id) in named
                ),
                None,
            )
            if first is not None:
                latencies.append((first - fired) * 1000)
    return latencies


def numbers(value: Any, path: str = "") -> dict[str, float]:
    """Every numeric leaf of a figures object, by its dotted path."""
    out: dict[str, float] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out |= numbers(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out[path] = value
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            if value.isdigit():
                out[path] = int(value)
    return out


@dataclass
class Watch:
    """A /ws/metrics client and the sessions whose hooks its page counts (one for a session's page,
    all of them for the overview)."""

    page: str
    client: Client
    sessions: list[BenchSession]

    def figures(self) -> list[tuple[float, dict[str, float]]]:
        return [
            (t, numbers(m["figures"])) for t, m in self.client.received if isinstance(m.get("figures"), dict)
        ]

    def fired(self, hook: str | None) -> list[float]:
        """Spawn times of the hooks fired after the warm-up that add one to a figure counting `hook`."""
        return sorted(t for s in self.sessions for kind, t in s.fired[s.warm :] if hook in (None, kind))


def counting_figure(watches: list[Watch], forced: str | None) -> tuple[str, str | None] | None:
    """(path, hook counted) of the page's figure that counts the hooks fired: the numeric field that
    grew, from each client's first figures to its last, by exactly how many hooks of one kind (prompts,
    else tool calls, else any) its sessions fired."""
    spans = []
    for w in watches:
        figures = w.figures()
        if not figures:
            return None
        spans.append((w, figures[0][1], figures[-1][1]))
    candidates = (
        COUNTED if not forced else [(forced, next((h for k, h in COUNTED if k in forced.lower()), None))]
    )
    for kind, hook in candidates:
        paths = [forced] if forced else sorted((p for p in spans[0][2] if kind in p.lower()), key=len)
        for path in paths:
            if all(
                path in first and last.get(path, 0) - first[path] == len(w.fired(hook)) > 0
                for w, first, last in spans
            ):
                return path, hook
    return None


def figure_latencies(watch: Watch, path: str, hook: str | None) -> tuple[list[float], bool]:
    """Hook -> push latencies of the counted hooks as one /ws/metrics client saw them (the k-th hook
    counted is in the first push whose figure grew by k since the client's snapshot), and whether it saw
    the final count."""
    fired = watch.fired(hook)
    figures = watch.figures()
    if not figures or path not in figures[0][1]:
        return [], False
    base = figures[0][1][path]
    latencies, k = [], 0
    for arrived, values in figures[1:]:
        grown = values.get(path, base) - base
        while k < len(fired) and grown >= k + 1:
            latencies.append((arrived - fired[k]) * 1000)
            k += 1
    return latencies, k >= len(fired)


def figures_summary(
    watches: list[Watch], counted: tuple[str, str | None] | None, prefix: str, stored: dict[str, list[float]]
) -> dict:
    if not counted:
        proxy = [x for w in watches for x in proxy_latencies(w, stored)]
        sample = next((m for w in watches for _, m in reversed(w.client.received) if "figures" in m), None)
        return {f"{prefix}figure": None, f"{prefix}sample": str(sample)[:200],
                f"{prefix}proxy_p50_ms": pct(proxy, 50), f"{prefix}proxy_p95_ms": pct(proxy, 95),
                f"{prefix}proxy_measured": len(proxy)}  # fmt: skip
    latencies: list[float] = []
    complete = 0
    for w in watches:
        lat, done = figure_latencies(w, *counted)
        latencies += lat
        complete += done
    return {
        f"{prefix}figure": counted[0],
        f"{prefix}counts": counted[1] or "every hook",
        f"{prefix}p50_ms": pct(latencies, 50),
        f"{prefix}p95_ms": pct(latencies, 95),
        f"{prefix}measured": len(latencies),
        f"{prefix}clients_complete": f"{complete}/{len(watches)}",
        f"{prefix}pushes": sum(len(w.client.received) for w in watches),
    }


def watch_key(watch: Watch) -> str:
    """What a /ws/metrics client watches: its session on a session's page, everything on the overview."""
    return watch.sessions[0].session_id if watch.page == "session" else ""


def updates(watch: Watch) -> set:
    """The slow-path changes a /ws/metrics client was pushed figures for."""
    return {
        m["changed"].get("at")
        for _, m in watch.client.received
        if m.get("type") == "figures" and isinstance(m.get("changed"), dict)
    }
